"""Parse a tar stream block by block, with bounded memory, into member records."""

from __future__ import annotations

import hashlib
import struct
from typing import Iterable, Iterator, NamedTuple

from .errors import ValidationError

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)

# Type flags mapped to the kinds the rest of the package speaks of.
KINDS = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",  # contiguous file: a regular file to every modern reader
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "chardev",
    b"4": "blockdev",
    b"5": "dir",
    b"6": "fifo",
}
# Keywords that change how a stream is read; a global header setting them would be
# interpreted differently by different readers, so it is refused.
_STRUCTURAL_PAX = ("path", "linkpath", "size")


class Limits(NamedTuple):
    """Caps that keep a hostile archive from exhausting memory."""

    max_extension_header: int = 1 << 20  # pax and GNU long names, as libarchive and Go
    max_members: int = 1_000_000
    max_name: int = 4096
    max_depth: int = 256


DEFAULT_LIMITS = Limits()


class Member(NamedTuple):
    """One archive member as a reader sees it, after pax and GNU extensions."""

    name: str
    kind: str
    size: int
    mode: int
    mtime: int
    uid: int
    gid: int
    uname: str
    gname: str
    linkname: str
    sha256: str | None
    offset: int  # of the member's own header in the tar stream

    def as_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "type": self.kind,
            "size": self.size,
            "mode": f"{self.mode:04o}",
            "mtime": self.mtime,
            "uid": self.uid,
            "gid": self.gid,
            "uname": self.uname,
            "gname": self.gname,
            "linkname": self.linkname,
            "sha256": self.sha256,
        }


class _Stream:
    """Exact-size reads over an iterator of byte chunks, without quadratic copying."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = b""
        self._pos = 0
        self.offset = 0

    def read(self, n: int) -> bytes:
        end = self._pos + n
        if end <= len(self._buf):
            data = self._buf[self._pos : end]
            self._pos = end
        else:
            parts = [self._buf[self._pos :]]
            have = len(parts[0])
            while have < n:
                more = next(self._chunks, b"")
                if not more:
                    break
                parts.append(more)
                have += len(more)
            self._buf = b"".join(parts)
            data = self._buf[:n]
            self._pos = len(data)
        self.offset += len(data)
        return data

    def pieces(self, n: int) -> Iterator[memoryview]:
        """Up to ``n`` bytes as zero-copy views; fewer only where the stream ends."""
        while n:
            if self._pos == len(self._buf):
                self._buf, self._pos = next(self._chunks, b""), 0
                if not self._buf:
                    return
            view = memoryview(self._buf)[self._pos : self._pos + n]
            self._pos += len(view)
            self.offset += len(view)
            n -= len(view)
            yield view

    def rest(self) -> Iterator[bytes]:
        yield self._buf[self._pos :]
        yield from self._chunks


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _field(raw: bytes) -> bytes:
    return raw.split(b"\0", 1)[0]


def _number(raw: bytes, what: str, where: str) -> int:
    if raw[:1] == b"\x80":  # GNU base-256, used for sizes of 8 GiB and more
        return int.from_bytes(raw[1:], "big")
    if raw[:1] == b"\xff":
        raise ValidationError(f"{where}: negative {what}")
    digits = _field(raw).strip(b" ")
    try:
        return int(digits, 8) if digits else 0
    except ValueError:
        raise ValidationError(f"{where}: invalid {what} field {raw!r}") from None


def _checksum_ok(block: bytes, stored: int) -> bool:
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored == unsigned:
        return True
    # Some old writers summed signed chars; tarfile and GNU tar accept both.
    signed: int = sum(struct.unpack("148b8x356b", block)) + 256
    return stored == signed


def _pax_records(data: bytes, where: str) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            length = 0
        record = data[pos : pos + length]
        if space < 0 or length <= space - pos or not record.endswith(b"\n") or b"=" not in record:
            raise ValidationError(f"{where}: malformed pax record at byte {pos}")
        key, _, value = record[space - pos + 1 : -1].partition(b"=")
        records[_text(key)] = _text(value)
        pos += length
    return records


def iter_members(
    chunks: Iterable[bytes],
    path: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    hash_data: bool = False,
) -> Iterator[Member]:
    """Yield every member of the tar stream; raise ValidationError on any defect."""
    stream = _Stream(chunks)
    pax: dict[str, str] = {}
    long_name: str | None = None
    long_link: str | None = None
    count = 0
    while True:
        offset = stream.offset
        where = f"{path}: tar header at offset {offset}"
        block = stream.read(BLOCK)
        if not block.strip(b"\0"):
            if pax or long_name is not None or long_link is not None:
                raise ValidationError(f"{where}: extension header without a member")
            if offset == 0 and not block:
                raise ValidationError(f"{path}: not a tar archive (empty tar stream)")
            if len(block) == BLOCK or not block:
                _expect_end(stream, path, offset, bool(block))
                return
        if len(block) < BLOCK:
            if offset == 0:
                raise ValidationError(f"{path}: not a tar archive (stream shorter than a block)")
            raise ValidationError(f"{where}: truncated tar header")
        stored = _number(block[148:156], "checksum", where)
        if not _checksum_ok(block, stored):
            if offset == 0:
                raise ValidationError(f"{path}: not a tar archive (first header checksum invalid)")
            raise ValidationError(f"{where}: bad tar header checksum")
        flag = block[156:157]
        size = _number(block[124:136], "size", where)
        if flag in (b"x", b"g", b"L", b"K"):
            if size > limits.max_extension_header:
                raise ValidationError(
                    f"{where}: extension header of {size} bytes exceeds the "
                    f"{limits.max_extension_header}-byte cap"
                )
            data = _read_data(stream, size, where, "extension header")
            if flag == b"x":
                pax.update(_pax_records(data, where))
            elif flag == b"g":
                bad = sorted(k for k in _pax_records(data, where) if _structural(k))
                if bad:
                    raise ValidationError(f"{where}: global pax header sets {', '.join(bad)}")
            elif flag == b"L":
                long_name = _text(_field(data))
            else:
                long_link = _text(_field(data))
            continue
        kind = KINDS.get(flag)
        if kind is None or any(k.startswith("GNU.sparse.") for k in pax):
            what = "sparse file" if flag == b"S" or kind else f"type {flag!r}"
            raise ValidationError(f"{where}: unsupported member ({what})")
        magic = block[257:263]
        name = _field(block[0:100])
        if flag == b"\0" and name.endswith(b"/"):
            kind = "dir"  # the pre-POSIX way to mark a directory, as tarfile reads it
        prefix = _field(block[345:500])
        if magic == b"ustar\0" and prefix:
            name = prefix + b"/" + name
        member_name = pax.get("path", long_name if long_name is not None else _text(name))
        linkname = pax.get(
            "linkpath",
            long_link if long_link is not None else _text(_field(block[157:257])),
        )
        if "size" in pax:
            size = _pax_int(pax["size"], "size", where)
        if kind != "file" and size:
            raise ValidationError(
                f"{where}: {kind} member {member_name!r} declares {size} data bytes"
            )
        count += 1
        if count > limits.max_members:
            raise ValidationError(f"{path}: more than {limits.max_members} members (cap)")
        _check_name(member_name, where, limits)
        digest = _skip_data(stream, size, where, member_name, hash_data) if kind == "file" else None
        yield Member(
            name=member_name,
            kind=kind,
            size=size,
            mode=_number(block[100:108], "mode", where) & 0o7777,
            mtime=_pax_int(pax["mtime"], "mtime", where)
            if "mtime" in pax
            else _number(block[136:148], "mtime", where),
            uid=_pax_int(pax["uid"], "uid", where)
            if "uid" in pax
            else _number(block[108:116], "uid", where),
            gid=_pax_int(pax["gid"], "gid", where)
            if "gid" in pax
            else _number(block[116:124], "gid", where),
            uname=pax.get("uname", _text(_field(block[265:297]))),
            gname=pax.get("gname", _text(_field(block[297:329]))),
            linkname=linkname,
            sha256=digest,
            offset=offset,
        )
        pax, long_name, long_link = {}, None, None


def _structural(key: str) -> bool:
    return key in _STRUCTURAL_PAX or key.startswith("GNU.sparse.")


def _pax_int(value: str, what: str, where: str) -> int:
    try:
        # pax times may carry a fraction; manifests keep whole seconds.
        return int(value.split(".", 1)[0])
    except ValueError:
        raise ValidationError(f"{where}: invalid pax {what} {value!r}") from None


def _check_name(name: str, where: str, limits: Limits) -> None:
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > limits.max_name:
        raise ValidationError(
            f"{where}: member name of {len(encoded)} bytes exceeds the {limits.max_name}-byte cap"
        )
    depth = name.count("/") + 1
    if depth > limits.max_depth:
        raise ValidationError(
            f"{where}: member path depth {depth} exceeds the cap of {limits.max_depth}"
        )


def _read_data(stream: _Stream, size: int, where: str, what: str) -> bytes:
    data = stream.read(size)
    padding = stream.read(-size % BLOCK)
    if len(data) < size or len(padding) < -size % BLOCK:
        raise ValidationError(f"{where}: truncated {what} ({len(data)} of {size} bytes)")
    return data


def _skip_data(stream: _Stream, size: int, where: str, name: str, hash_data: bool) -> str | None:
    digest = hashlib.sha256() if hash_data else None
    done = 0
    for piece in stream.pieces(size):
        if digest is not None:
            digest.update(piece)
        done += len(piece)
    if done < size:
        raise ValidationError(
            f"{where}: truncated member data for {name!r} ({done} of {size} bytes)"
        )
    if len(stream.read(-size % BLOCK)) < -size % BLOCK:
        raise ValidationError(f"{where}: truncated padding after member data for {name!r}")
    return None if digest is None else digest.hexdigest()


def _expect_end(stream: _Stream, path: str, offset: int, marker: bool) -> None:
    # Readers stop at the first zero block, so non-zero bytes after it would be
    # content that some tools see and others do not.
    if not marker:
        return
    for data in stream.rest():
        if data.strip(b"\0"):
            raise ValidationError(
                f"{path}: data after the tar end-of-archive marker at offset {offset}"
            )
