"""Parse a tar stream block by block, with bounded memory, into member records."""

from __future__ import annotations

import functools
import hashlib
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple

from . import pax, tarfields
from .errors import ValidationError, not_an_archive
from .tarfields import BLOCK, checksum_ok, refuse

if TYPE_CHECKING:
    from typing import Protocol
else:  # typing.Protocol is new in 3.8; at run time the protocols here only document
    Protocol = object

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


class Limits(NamedTuple):
    """Caps that keep a hostile archive from exhausting memory."""

    max_extension_header: int = 1 << 20  # pax and GNU long names, as libarchive and Go
    max_members: int = 1_000_000
    max_name: int = 4096
    max_depth: int = 256
    max_link: int = 4096  # link targets, capped like names: resolving them walks each one
    # The manifest and the tree check keep every name and link target: the sum of
    # their bytes bounds the memory that grows with the archive.
    max_metadata: int = 128 << 20


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


class Witness(Protocol):
    """A second reader, shown what the scan read; see ``crosscheck``."""

    def member(self, start: int, headers: bytes, member: Member) -> None: ...

    def end(self, start: int, headers: bytes) -> None: ...


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


@functools.lru_cache(maxsize=64)
def _owner(raw: bytes) -> str:
    # A manifest of a million members holds a handful of owner names: share them.
    return _text(raw)


class _Chain:
    """The extension headers read so far for the next member, and their raw bytes."""

    def __init__(self, offset: int) -> None:
        self.start = offset  # where a reader starts reading this member
        self.member_offset = offset  # tarfile's TarInfo.offset: after any global headers
        self.raw: list[bytes] = []
        self.pax: pax.Records = {}
        self.long: dict[bytes, bytes] = {}  # b"L" or b"K" -> the name, without its NUL

        self.has_pax = False

    @property
    def pending(self) -> bool:
        return self.has_pax or bool(self.long)


def iter_members(
    chunks: Iterable[bytes],
    path: str,
    *,
    limits: Limits = DEFAULT_LIMITS,
    hash_data: bool = False,
    witness: Witness | None = None,
) -> Iterator[Member]:
    """Yield every member of the tar stream; raise ValidationError on any defect.

    ``witness``, when given, is shown each member with the raw header bytes it was
    read from, and the end of the archive, so that a second reader can check it.
    """
    stream = _Stream(chunks)
    count = retained = 0
    while True:
        chain = _Chain(stream.offset)
        while True:
            offset = stream.offset
            where = f"{path}: tar header at offset {offset}"
            block = stream.read(BLOCK)
            if not block.strip(b"\0"):
                if chain.raw:
                    raise ValidationError(
                        f"{where}: extension header without a tar member", "TAR_CORRUPT"
                    )
                if offset == 0 and not block:
                    raise not_an_archive(path, "not a tar archive (empty tar stream)")
                if len(block) == BLOCK or not block:
                    _expect_end(stream, path, offset, bool(block))
                    if witness is not None:
                        witness.end(chain.start, b"".join(chain.raw) + block)
                    return
            if len(block) < BLOCK:
                if offset == 0:
                    raise not_an_archive(path, "not a tar archive (stream shorter than a block)")
                raise ValidationError(f"{where}: truncated tar header", "TRUNCATED")
            if not checksum_ok(block):
                if offset == 0:
                    raise not_an_archive(path, "not a tar archive (first header checksum invalid)")
                raise ValidationError(f"{where}: bad tar header checksum", "TAR_CORRUPT")
            header = tarfields.parse(block, where)
            chain.raw.append(block)
            if header.flag not in _EXTENSIONS:
                break
            _extension(stream, chain, header, where, limits)
        member = _member(chain, header, offset, where, limits)
        count += 1
        if count > limits.max_members:
            raise ValidationError(
                f"{path}: more than {limits.max_members} tar members "
                f"(cap: --max-members {limits.max_members})",
                "CAP_EXCEEDED",
            )
        retained += _check_name(member.name, member.linkname, where, limits)
        if retained > limits.max_metadata:
            raise ValidationError(
                f"{where}: tar member names and link targets total more than "
                f"{limits.max_metadata} bytes (cap: --max-metadata-bytes {limits.max_metadata})",
                "CAP_EXCEEDED",
            )
        digest = None
        if member.kind == "file":
            digest = _skip_data(stream, member.size, where, member.name, hash_data)
            if digest is not None:
                member = member._replace(sha256=digest)
        if witness is not None:
            witness.member(chain.start, b"".join(chain.raw), member)
        yield member


_EXTENSIONS = (b"x", b"g", b"L", b"K")
_LONG_KINDS = {b"L": "GNU long name", b"K": "GNU long link name"}


def _extension(
    stream: _Stream, chain: _Chain, header: tarfields.Header, where: str, limits: Limits
) -> None:
    """Read one extension header's data into ``chain``, refusing what readers read apart."""
    size = header.size
    if size > limits.max_extension_header:
        raise ValidationError(
            f"{where}: extension header of {size} bytes exceeds "
            f"--max-header-bytes {limits.max_extension_header}",
            "CAP_EXCEEDED",
        )
    data, pad = _read_data(stream, size, where, "extension header")
    chain.raw += (data, pad)
    if pad.strip(b"\0"):
        # tarfile reads pax records and long names on into the padding.
        raise refuse(where, header.name, "non-zero padding after extension header data")
    flag = header.flag
    if flag == b"g":
        if chain.pending:
            raise refuse(where, header.name, "global pax header inside an extension header chain")
        chain.member_offset = stream.offset
        bad = sorted(key for key in pax.parse(data, where, header.name) if key != "comment")
        if bad:
            raise refuse(where, header.name, f"global pax header sets {', '.join(bad)}")
        return
    if flag == b"x":
        if chain.has_pax:
            raise refuse(where, header.name, "a second pax header for one tar member")
        chain.pax = pax.parse(data, where, header.name)
        chain.has_pax = True
        return
    what = _LONG_KINDS[flag]
    if flag in chain.long:
        raise refuse(where, header.name, f"a second {what} for one tar member")
    # The name and exactly one NUL, its last byte: readers that stop at the first
    # NUL and readers that use the declared size then agree.
    if size < 2 or data[-1:] != b"\0" or b"\0" in data[:-1]:
        raise refuse(where, header.name, f"{what} is not one name ending in a single NUL")
    chain.long[flag] = data[:-1]


def _member(
    chain: _Chain, header: tarfields.Header, offset: int, where: str, limits: Limits
) -> Member:
    """Resolve the member from its header and extensions; refuse ambiguous sources."""
    flag, records = header.flag, chain.pax
    shown = chain.long.get(b"L") or records.get("path") or header.name
    kind = KINDS.get(flag)
    if kind is None:
        what = "sparse file" if flag == b"S" else f"type {flag!r}"
        raise ValidationError(f"{where}: unsupported tar member ({what})", "UNSAFE_MEMBER")
    name = _one_of(records.get("path"), chain.long.get(b"L"), "name", where, shown)
    link = _one_of(records.get("linkpath"), chain.long.get(b"K"), "link target", where, shown)
    if flag == b"\0" and header.name_field.endswith(b"/"):
        # The v7 way to mark a directory, read alike by every reader, but only
        # from the header's own name field.
        if name is not None:
            raise refuse(where, shown, "v7 directory name with a long name")
        kind = "dir"
    if name is None:
        name = header.name
    if not name:
        raise refuse(where, shown, "empty name")
    if kind != "dir" and (name.endswith(b"/") or header.name_field.endswith(b"/")):
        # GNU tar and bsdtar make such a member a directory and read its data as
        # further headers.
        raise refuse(where, shown, f"{kind} name ends in '/'")
    if link is None:
        link = header.linkname
    if link and kind not in ("symlink", "hardlink"):
        raise refuse(where, shown, f"{kind} tar member has a link target")
    size = pax.integer(records, "size")
    if size is None:
        size = header.size
    if kind != "file" and (size or header.size):
        raise ValidationError(
            f"{where}: {kind} tar member {_text(name)!r} declares {size} data bytes",
            "REFUSED_DIALECT",
        )
    mtime = pax.seconds(records, "mtime")
    uid, gid = pax.integer(records, "uid"), pax.integer(records, "gid")
    uname, gname = records.get("uname"), records.get("gname")
    return Member(
        name=_text(name),
        kind=kind,
        size=size,
        mode=header.mode & 0o7777,
        mtime=header.mtime if mtime is None else mtime,
        uid=header.uid if uid is None else uid,
        gid=header.gid if gid is None else gid,
        uname=_owner(header.uname if uname is None else uname),
        gname=_owner(header.gname if gname is None else gname),
        linkname=_text(link),
        sha256=None,
        offset=chain.member_offset,
    )


def _one_of(
    from_pax: bytes | None, from_gnu: bytes | None, what: str, where: str, shown: bytes
) -> bytes | None:
    """A pax value and a GNU long name for one attribute must agree byte for byte."""
    if from_pax is not None and from_gnu is not None and from_pax != from_gnu:
        raise refuse(where, shown, f"pax header and GNU header give different {what}s")
    return from_pax if from_pax is not None else from_gnu


def _check_name(name: str, linkname: str, where: str, limits: Limits) -> int:
    """Refuse a name or link target over its caps; return their bytes, which are kept."""
    encoded = name.encode("utf-8", "surrogateescape")
    if len(encoded) > limits.max_name:
        raise ValidationError(
            f"{where}: tar member name of {len(encoded)} bytes exceeds "
            f"--max-name-bytes {limits.max_name}",
            "CAP_EXCEEDED",
        )
    link = len(linkname.encode("utf-8", "surrogateescape"))
    if link > limits.max_link:
        raise ValidationError(
            f"{where}: link target of {link} bytes exceeds --max-link-bytes {limits.max_link}",
            "CAP_EXCEEDED",
        )
    depth = name.count("/") + 1
    if depth > limits.max_depth:
        raise ValidationError(
            f"{where}: tar member path depth {depth} exceeds --max-depth {limits.max_depth}",
            "CAP_EXCEEDED",
        )
    return len(encoded) + link


def _read_data(stream: _Stream, size: int, where: str, what: str) -> tuple[bytes, bytes]:
    data = stream.read(size)
    padding = stream.read(-size % BLOCK)
    if len(data) < size or len(padding) < -size % BLOCK:
        raise ValidationError(
            f"{where}: truncated {what} ({len(data)} of {size} bytes)", "TRUNCATED"
        )
    return data, padding


def _skip_data(stream: _Stream, size: int, where: str, name: str, hash_data: bool) -> str | None:
    digest = hashlib.sha256() if hash_data else None
    done = 0
    for piece in stream.pieces(size):
        if digest is not None:
            digest.update(piece)
        done += len(piece)
    if done < size:
        raise ValidationError(
            f"{where}: truncated tar member data for {name!r} ({done} of {size} bytes)", "TRUNCATED"
        )
    if len(stream.read(-size % BLOCK)) < -size % BLOCK:
        raise ValidationError(
            f"{where}: truncated padding after tar member data for {name!r}", "TRUNCATED"
        )
    return None if digest is None else digest.hexdigest()


def _expect_end(stream: _Stream, path: str, offset: int, marker: bool) -> None:
    # Readers stop at the first zero block, so non-zero bytes after it would be
    # content that some tools see and others do not.
    if not marker:
        return
    for data in stream.rest():
        if data.strip(b"\0"):
            raise ValidationError(
                f"{path}: data after the tar end-of-archive marker at offset {offset}",
                "TAR_CORRUPT",
            )
