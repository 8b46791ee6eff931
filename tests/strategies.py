"""Hypothesis strategies: random valid model archives, and archives broken on purpose."""

from __future__ import annotations

import io
import os
import struct
import tarfile
import zlib

from hypothesis import strategies as st

NAMES = st.text(alphabet=st.sampled_from("abcxyz019-_.é語"), min_size=1, max_size=12).filter(
    lambda n: n not in (".", "..", "hyperparameters.json")
)


@st.composite
def tar_streams(draw: st.DrawFn) -> bytes:
    """Random valid tar streams: names (non-ASCII too), types, sizes, modes, formats."""
    fmt = draw(st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]))
    buf = io.BytesIO()
    files: list[str] = []
    used: set[str] = set()
    leaves: set[str] = set()  # files and links: nothing may be nested under them
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for _ in range(draw(st.integers(1, 8))):
            parts = draw(st.lists(NAMES, min_size=1, max_size=3))
            if fmt == tarfile.USTAR_FORMAT:
                parts = [p.encode("ascii", "ignore").decode().strip(".") or "n" for p in parts]
            name = "/".join(parts)
            prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
            if name in used or prefixes & leaves or any(u.startswith(name + "/") for u in used):
                continue
            kind = draw(st.sampled_from(["file", "file", "dir", "symlink", "hardlink"]))
            info = tarfile.TarInfo(name)
            info.mtime = draw(st.integers(0, 2_000_000_000))
            info.mode = draw(st.sampled_from([0o644, 0o600, 0o755, 0o700, 0o777]))
            payload = b""
            if kind == "dir":
                info.type = tarfile.DIRTYPE
            elif kind == "symlink" and files:
                info.type, info.linkname = (
                    tarfile.SYMTYPE,
                    os.path.relpath(draw(st.sampled_from(files)), os.path.dirname(name) or "."),
                )
            elif kind == "hardlink" and files:
                info.type, info.linkname = tarfile.LNKTYPE, draw(st.sampled_from(files))
            else:
                payload = draw(st.binary(max_size=3000))
                info.size = len(payload)
                files.append(name)
            used.add(name)
            if not info.isdir():
                leaves.add(name)
            tf.addfile(info, io.BytesIO(payload) if info.isreg() else None)
        if not files:
            info = tarfile.TarInfo("weights.bin")
            tf.addfile(info, io.BytesIO(b""))
    return buf.getvalue()


@st.composite
def gzipped(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` as gzip: random header fields, levels, member splits and zero padding."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    flags = draw(st.integers(0, 15)) << 1  # FHCRC, FEXTRA, FNAME, FCOMMENT
    members = []
    for start, end in zip([0, *cuts], [*cuts, len(data)]):
        members.append(gzip_member(data[start:end], flags, draw(st.integers(0, 9))))
    padding = bytes(draw(st.sampled_from([0, 0, 7, 512])))
    return b"".join(members) + padding


def gzip_member(payload: bytes, flags: int, level: int) -> bytes:
    head = b"\x1f\x8b\x08" + bytes([flags]) + struct.pack("<I", 1_700_000_000) + b"\x00\x03"
    if flags & 4:
        head += struct.pack("<H", 4) + b"ab\x00\x00"
    if flags & 8:
        head += "modèl.tar".encode("latin-1") + b"\0"
    if flags & 16:
        head += b"a comment\0"
    if flags & 2:
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    body = zlib.compressobj(level, zlib.DEFLATED, -15)
    deflated = body.compress(payload) + body.flush()
    return head + deflated + struct.pack("<II", zlib.crc32(payload), len(payload))


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    """Random valid model archives."""
    return draw(gzipped(draw(tar_streams())))


TAR_FIELDS = {"size": (124, 12), "checksum": (148, 8), "type": (156, 1), "linkname": (157, 100)}


@st.composite
def mutated_archives(draw: st.DrawFn) -> bytes:
    """Valid archives broken at the byte level, or in one tar header field, or the trailer."""
    tar = draw(tar_streams())
    how = draw(st.sampled_from(["flip", "truncate", "insert", "tar-field", "trailer"]))
    if how == "tar-field":
        headers = [i for i in range(0, len(tar), 512) if tar[i : i + 512].strip(b"\0")]
        at = draw(st.sampled_from(headers))
        offset, width = TAR_FIELDS[draw(st.sampled_from(sorted(TAR_FIELDS)))]
        value = draw(st.binary(min_size=width, max_size=width))
        tar = tar[: at + offset] + value + tar[at + offset + width :]
        if draw(st.booleans()) and offset != 148:
            # Also fix the checksum, so the edit reaches the parser's other checks.
            block = tar[at : at + 512]
            block = block[:148] + b" " * 8 + block[156:]
            tar = tar[: at + 148] + b"%06o\0 " % sum(block) + tar[at + 156 :]
        return draw(gzipped(tar))
    data = draw(gzipped(tar))
    if how == "trailer":
        at = len(data.rstrip(b"\0")) - draw(st.integers(1, 8))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    at = draw(st.integers(0, len(data) - 1))
    if how == "flip":
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if how == "truncate":
        return data[:at]
    return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]
