"""Write tar headers and gzip streams byte-for-byte the same on every Python version."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Protocol
else:  # typing.Protocol is new in 3.8; at run time the protocols here only document
    Protocol = object

BLOCK = 512
USTAR_MAX_OCTAL = 8**11 - 1
TYPEFLAGS = {"file": b"0", "hardlink": b"1", "symlink": b"2", "dir": b"5"}
# tarfile writes devmajor/devminor differently on 3.8 and 3.9+, and puts the time
# and file name in the gzip header; both are written by hand here instead.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _split_ustar(name: bytes) -> tuple[bytes, bytes] | None:
    """Fit a name into ustar's prefix (155) and name (100) fields, if it can be done."""
    if len(name) <= 100:
        return b"", name
    # The last '/' that leaves at most 155 bytes before it and 100 after it.
    cut = name.rfind(b"/", max(1, len(name) - 101), 156)
    if cut < 0:
        return None
    return name[:cut], name[cut + 1 :]


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode("ascii") + b"=" + value + b"\n"
    # The length prefix counts its own digits, so grow it until it is stable.
    length = len(body) + 1
    while len(b"%d" % length) + len(body) != length:
        length = len(b"%d" % length) + len(body)
    return b"%d" % length + body


def _ustar(name: bytes, flag: bytes, size: int, mode: int, mtime: int, link: bytes) -> bytes:
    # A name that does not fit lives in the pax header; the cut one left here must
    # still not end in '/' unless it is a directory's, or readers (and the scan) take
    # the entry for a directory.
    split = _split_ustar(name) or (b"", name[:100] if flag == b"5" else name[:100].rstrip(b"/"))
    header = b"".join(
        (
            split[1].ljust(100, b"\0"),
            _octal(mode, 8),
            _octal(0, 8),
            _octal(0, 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b" " * 8,
            flag,
            link[:100].ljust(100, b"\0"),
            b"ustar\x0000",
            bytes(32),
            bytes(32),
            _octal(0, 8),
            _octal(0, 8),
            split[0].ljust(155, b"\0"),
            bytes(12),
        )
    )
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def header(
    kind: str, name: str, *, size: int = 0, mode: int, mtime: int, linkname: str = ""
) -> bytes:
    """The header block(s) of one member: owner 0/0, no user or group names, pax when needed."""
    raw_name = name.encode("utf-8", "surrogateescape")
    raw_link = linkname.encode("utf-8", "surrogateescape")
    records = b""
    if _split_ustar(raw_name) is None or not name.isascii():
        records += _pax_record("path", raw_name)
    if len(raw_link) > 100 or not linkname.isascii():
        records += _pax_record("linkpath", raw_link)
    if size > USTAR_MAX_OCTAL:
        records += _pax_record("size", b"%d" % size)
    if mtime > USTAR_MAX_OCTAL or mtime < 0:
        records += _pax_record("mtime", b"%d" % mtime)
    flag = TYPEFLAGS[kind]
    main = _ustar(
        raw_name,
        flag,
        min(size, USTAR_MAX_OCTAL),
        mode,
        min(max(mtime, 0), USTAR_MAX_OCTAL),
        raw_link,
    )
    if not records:
        return main
    try:
        records.decode("utf-8")
    except UnicodeDecodeError:
        # Names that are not UTF-8 are carried as raw bytes, as POSIX allows.
        records = _pax_record("hdrcharset", b"BINARY") + records
    pax = _ustar(b"././@PaxHeader", b"x", len(records), 0o644, 0, b"")
    return pax + records + padding(len(records)) + main


def padding(size: int) -> bytes:
    """Zero bytes that round ``size`` up to a whole block."""
    return bytes(-size % BLOCK)


def end_of_archive() -> bytes:
    """Two zero blocks, as POSIX requires."""
    return bytes(2 * BLOCK)


def xfl(level: int) -> int:
    """The gzip XFL byte for a compression level (RFC 1952)."""
    return 2 if level == 9 else 4 if level == 1 else 0


class Writable(Protocol):
    """Anything bytes can be written to: a file, or the hashing writer of ``atomic``."""

    def write(self, __data: bytes) -> int: ...


class GzipWriter:
    """A single gzip member with no name and no time, written straight to ``out``."""

    def __init__(self, out: Writable, level: int) -> None:
        self._out = out
        self._deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
        self._crc = 0
        self._size = 0
        out.write(GZIP_HEADER[:8] + bytes([xfl(level)]) + GZIP_HEADER[9:])

    def write(self, data: bytes) -> None:
        self._crc = zlib.crc32(data, self._crc)
        self._size += len(data)
        self._out.write(self._deflate.compress(data))

    def close(self) -> None:
        self._out.write(self._deflate.flush())
        self._out.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
