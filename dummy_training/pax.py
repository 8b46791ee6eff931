"""Parse pax extended header records, accepting only what every reader reads alike."""

from __future__ import annotations

import math
import re
from typing import Dict

from .tarfields import refuse

Records = Dict[str, bytes]

# Keys whose meaning no reader changes the tree by, as real writers emit them:
# GNU tar (times, SELinux), libarchive (file flags, creation time, inode data)
# and both (xattrs, ACLs). Anything else, sparse markers above all, is refused.
_KEYS = frozenset(
    {
        "path",
        "linkpath",
        "size",
        "uid",
        "gid",
        "uname",
        "gname",
        "mtime",
        "atime",
        "ctime",
        "hdrcharset",
        "comment",
        "SCHILY.dev",
        "SCHILY.ino",
        "SCHILY.nlink",
        "SCHILY.fflags",
        "LIBARCHIVE.creationtime",
        "RHT.security.selinux",
    }
)
_XATTRS = ("SCHILY.xattr.", "LIBARCHIVE.xattr.")
_FAMILIES = (*_XATTRS, "SCHILY.acl.")
# "key=" means "unset key" to some readers and "empty value" to others. Extended
# attribute values are binary (GNU tar and libarchive write them raw, NULs and all)
# and no reader lets them change the tree.
_MAY_BE_EMPTY = ("comment", *_FAMILIES)
_HDRCHARSETS = (b"BINARY", b"ISO-IR 10646 2000 UTF-8")
_DIGITS = re.compile(rb"[0-9]+\Z")
_TIME = re.compile(rb"(-?[0-9]+)(?:\.[0-9]+)?\Z")
_INTEGER_LIMITS = {"size": 1 << 63, "uid": 1 << 32, "gid": 1 << 32}
_TIME_LIMIT = 1 << 63
# Seconds that a float holds exactly; beyond them a pax time means another second to
# tarfile than to GNU tar and libarchive.
_FLOAT_EXACT = 1 << 53
_NAME_KEYS = ("path", "linkpath", "uname", "gname")


def parse(data: bytes, where: str, name: bytes) -> Records:
    """The records of one pax header, framed exactly inside ``data``."""
    records: Records = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 21)
        digits = data[pos:space] if space > pos else b""
        # No sign, no leading zero, no spaces: readers parse lengths differently.
        if not _DIGITS.match(digits) or digits[:1] == b"0":
            raise refuse(where, name, f"pax record at byte {pos} has a malformed length")
        end = pos + int(digits)
        if end > len(data):
            raise refuse(where, name, f"pax record at byte {pos} runs past the header's size")
        if data[end - 1 : end] != b"\n":
            raise refuse(where, name, f"pax record at byte {pos} does not end in a newline")
        key_bytes, equals, value = data[space + 1 : end - 1].partition(b"=")
        if not equals or not key_bytes:
            raise refuse(where, name, f"pax record at byte {pos} has no key")
        try:
            key = key_bytes.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse(where, name, f"pax key at byte {pos} is not UTF-8") from None
        if "\0" in key or (b"\0" in value and not key.startswith(_XATTRS)):
            raise refuse(where, name, f"pax record at byte {pos} holds a NUL byte")
        _check_record(key, value, where, name)
        if key in records:
            raise refuse(where, name, f"pax key {key!r} given twice")
        records[key] = value
        pos = end
    binary = records.get("hdrcharset") == b"BINARY"
    for key, value in records.items():
        if (binary and key in _NAME_KEYS) or key.startswith(_XATTRS):
            continue
        try:
            value.decode("utf-8")
        except UnicodeDecodeError:
            raise refuse(
                where, name, f"pax {key} is not UTF-8 (and no hdrcharset=BINARY)"
            ) from None
    return records


def _check_record(key: str, value: bytes, where: str, name: bytes) -> None:
    if key not in _KEYS and not key.startswith(_FAMILIES):
        raise refuse(where, name, f"pax key {key!r} is not accepted")
    if not value and not key.startswith(_MAY_BE_EMPTY):
        raise refuse(where, name, f"pax {key} is empty")
    if key in _INTEGER_LIMITS:
        if not _DIGITS.match(value) or int(value) >= _INTEGER_LIMITS[key]:
            raise refuse(where, name, f"pax {key} {value!r} is not a plain decimal number")
    elif key in ("mtime", "atime", "ctime"):
        match = _TIME.match(value)
        if match is None or abs(int(match.group(1))) >= _TIME_LIMIT:
            raise refuse(where, name, f"pax {key} {value!r} is not a plain decimal time")
        if abs(int(match.group(1))) >= _FLOAT_EXACT or _rounds_to_another_second(value):
            # tarfile reads pax times as floats, GNU tar and libarchive exactly: they
            # must agree on the second (near 2**63 the float is no time_t at all).
            raise refuse(where, name, f"pax {key} {value!r} is not exact as a float")
    elif key == "hdrcharset" and value not in _HDRCHARSETS:
        raise refuse(where, name, f"pax hdrcharset {value!r} is not accepted")


def _rounds_to_another_second(value: bytes) -> bool:
    # Imported here: fractions (and decimal, which it imports) cost a few milliseconds
    # of start-up that archives without pax times never need.
    from fractions import Fraction

    exact = Fraction(value.decode("ascii"))
    return math.floor(float(exact)) != math.floor(exact)


def integer(records: Records, key: str) -> int | None:
    value = records.get(key)
    return None if value is None else int(value)


def seconds(records: Records, key: str) -> int | None:
    """A pax time in whole seconds, truncated toward zero as tarfile's int() does."""
    value = records.get(key)
    return None if value is None else int(value.split(b".", 1)[0])
