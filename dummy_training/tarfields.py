"""Decode one 512-byte tar header block, accepting only encodings every reader agrees on."""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

from .errors import ValidationError

BLOCK = 512

POSIX_MAGIC = b"ustar\x0000"
GNU_MAGIC = b"ustar  \x00"
V7_MAGIC = bytes(8)

# Leading spaces, octal digits, then only terminators: what GNU tar, libarchive and
# tarfile all read as the same number (tarfile alone also takes "0o", "_" and signs).
_OCTAL = re.compile(rb" *([0-7]*)[ \0]*\Z")
# Base-256 is how GNU tar stores what octal cannot hold; anywhere else it is a
# reader-specific extension. Only a time may be negative (files dated before 1970).
_BASE256 = {"size": (0, 1 << 63), "uid": (0, 1 << 32), "gid": (0, 1 << 32)}
_BASE256_TIME = (-(1 << 63), 1 << 63)
_NUMBERS = (
    ("mode", 100, 108),
    ("uid", 108, 116),
    ("gid", 116, 124),
    ("size", 124, 136),
    ("mtime", 136, 148),
    ("devmajor", 329, 337),
    ("devminor", 337, 345),
)
_STRINGS = (("name", 0, 100), ("linkname", 157, 257), ("uname", 265, 297), ("gname", 297, 329))


class Header(NamedTuple):
    """The fields of one header block, as raw bytes and checked numbers."""

    flag: bytes
    magic: bytes
    name: bytes  # the name field joined with a POSIX prefix
    name_field: bytes  # the name field alone, which decides the v7 directory convention
    linkname: bytes
    uname: bytes
    gname: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int


def refuse(where: str, name: bytes | str, cause: str) -> ValidationError:
    """The one message shape for everything outside the accepted dialect."""
    shown = name if isinstance(name, str) else name.decode("utf-8", "surrogateescape")
    return ValidationError(f"{where} (tar member {shown!r}): {cause}", "REFUSED_DIALECT")


def number(raw: bytes, field: str, where: str, name: bytes) -> int:
    """A numeric header field; raise unless every reader reads the same value."""
    if raw[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(raw[1:], "big")
        if raw[:1] == b"\xff":
            value -= 1 << (8 * (len(raw) - 1))
        if value < 0 and field != "mtime":
            raise refuse(where, name, f"negative {field} (base-256 field {raw.hex()})")
        if field != "mtime" and field not in _BASE256:
            raise refuse(where, name, f"{field} field {raw.hex()} in base-256 is not accepted")
        low, high = _BASE256_TIME if field == "mtime" else _BASE256[field]
        if not low <= value < high:
            raise refuse(where, name, f"base-256 {field} {value} is out of range")
        return value
    match = _OCTAL.match(raw)
    if match is None or not (match.group(1) or _blank_is_zero(raw)):
        raise refuse(where, name, f"{field} field {raw!r} is not a plain octal number")
    return int(match.group(1) or b"0", 8)


def _blank_is_zero(raw: bytes) -> bool:
    # GNU tar skips one leading NUL, then spaces, and calls a field that is
    # blank to its end an error; the other readers read zero.
    return b"\0" in (raw[1:] if raw[:1] == b"\0" else raw)


def string(raw: bytes, field: str, where: str, name: bytes) -> bytes:
    """A NUL-terminated header string; bytes after its NUL would be read by some readers."""
    end = raw.find(b"\0")
    if end < 0:
        return raw
    if raw[end:].strip(b"\0"):
        raise refuse(where, name, f"bytes after the terminating NUL of the {field} field")
    return raw[:end]


def checksum_ok(block: bytes) -> bool:
    """Whether the stored checksum, written as a plain octal number, matches the block."""
    match = _OCTAL.match(block[148:156])
    if match is None or not match.group(1):
        return False
    stored = int(match.group(1), 8)
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored == unsigned:
        return True
    # Some old writers summed signed chars; all three readers accept both sums.
    signed: int = sum(struct.unpack("148b8x356b", block)) + 256
    return stored == signed


def parse(block: bytes, where: str) -> Header:
    """Check every field of a block whose checksum is already known to be right."""
    raw_name = block[0:100].split(b"\0", 1)[0]
    magic = block[257:265]
    if magic not in (POSIX_MAGIC, GNU_MAGIC, V7_MAGIC):
        raise refuse(where, raw_name, f"unknown magic and version {magic!r}")
    strings = {field: string(block[a:b], field, where, raw_name) for field, a, b in _STRINGS}
    numbers = {field: number(block[a:b], field, where, raw_name) for field, a, b in _NUMBERS}
    if magic == V7_MAGIC and (strings["uname"] or strings["gname"]):
        # tarfile reads user and group names from any header; GNU tar and
        # libarchive ignore them in a v7 header.
        raise refuse(where, raw_name, "user or group name in a v7 header")
    name = strings["name"]
    if magic == POSIX_MAGIC:
        prefix = string(block[345:500], "prefix", where, raw_name)
        if prefix.endswith(b"/"):
            # GNU tar and tarfile join it with a second "/"; libarchive does not.
            raise refuse(where, raw_name, "prefix field ends in '/'")
        if prefix:
            name = prefix + b"/" + name
    elif block[345:500].strip(b"\0"):
        # tarfile joins this area to the name as a prefix whatever the magic; GNU
        # tar does so only with POSIX magic (GNU headers keep times there).
        raise refuse(where, raw_name, "prefix area in use without POSIX magic")
    return Header(
        flag=block[156:157],
        magic=magic,
        name=name,
        name_field=strings["name"],
        linkname=strings["linkname"],
        uname=strings["uname"],
        gname=strings["gname"],
        mode=numbers["mode"],
        uid=numbers["uid"],
        gid=numbers["gid"],
        size=numbers["size"],
        mtime=numbers["mtime"],
    )
