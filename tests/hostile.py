"""Hostile archive shapes from the bounded-work report, each built at a chosen scale.

Every shape is a function of ``n`` (its size knob) that returns the gzip bytes of a
model archive. The fuzz campaign draws from them at random scales; the bounded-work
table in RELIABILITY.md comes from ``benchmarks/hostile.py``, which runs each shape at
the scale the report found slow and measures time and peak RSS.
"""

from __future__ import annotations

import gzip
import zlib
from typing import Callable

from differential import END, gnu_long, header, pax, record

Shape = Callable[[int], bytes]
SHAPES: dict[str, Shape] = {}


def shape(fn: Shape) -> Shape:
    SHAPES[fn.__name__.replace("_", "-")] = fn
    return fn


def _gz(tar: bytes) -> bytes:
    # Level 1: these inputs are large and compress to almost nothing at any level.
    return gzip.compress(tar, compresslevel=1, mtime=0)


def _file(name: bytes, data: bytes = b"") -> bytes:
    return record(header(name, b"0", len(data)), data)


@shape
def deep_tree(n: int) -> bytes:
    """``n`` files, each 256 directory levels deep (the depth cap)."""
    stem = b"/".join(b"d" for _ in range(254))
    members = (gnu_long(b"L", stem + b"/%d/f" % i) + _file(b"f") for i in range(n))
    return _gz(b"".join(members) + END)


@shape
def deep_unique_tree(n: int) -> bytes:
    """``n`` files 256 levels deep, each under a top directory of its own: every one
    implies 255 new directories, which the tree check must hold."""
    stem = b"/".join(b"d" for _ in range(254))
    members = (gnu_long(b"L", b"%d/" % i + stem + b"/f") + _file(b"f") for i in range(n))
    return _gz(b"".join(members) + END)


@shape
def metadata_flood(n: int) -> bytes:
    """``n`` symlinks whose names and targets are 4,000 bytes each: under each cap alone."""
    members = []
    for i in range(n):
        name = b"/".join([b"n" * 250] * 15) + b"/%0239d" % i
        members.append(pax([(b"path", name), (b"linkpath", b"t" * 4000)]))
        members.append(header(b"x", b"2", linkname=b"x"))
    return _gz(_file(b"f", b"x") + b"".join(members) + END)


@shape
def long_link_chain(n: int) -> bytes:
    """40 symlinks, each target ``n`` bytes long and naming the next link."""
    links = []
    for i in range(40):
        target = (b"./" * (n // 2))[: max(n - 4, 0)] + b"l%02d" % (i + 1)
        links.append(pax([(b"linkpath", target)]) + header(b"l%02d" % i, b"2", linkname=b"x"))
    return _gz(_file(b"l40", b"end") + b"".join(links) + END)


@shape
def many_empty_files(n: int) -> bytes:
    """``n`` empty regular files in directories of 1,000."""
    return _gz(b"".join(_file(b"d%03d/f%07d" % (i // 1000, i)) for i in range(n)) + END)


@shape
def long_names_at_caps(n: int) -> bytes:
    """``n`` empty files with 128-byte names in directories of 1,000: at 999,000 both
    the path cap (1,000,000) and the 128 MiB cap on kept name bytes are nearly full."""
    names = (b"d%03d/" % (i // 1000) + b"n" * 115 + b"%07d" % i for i in range(n))
    return _gz(b"".join(gnu_long(b"L", name) + _file(b"f") for name in names) + END)


@shape
def implied_dirs(n: int) -> bytes:
    """``n`` empty files, each in a directory that only its name implies: at 999,000
    both the member cap and the cap on implied directories are nearly full."""
    return _gz(b"".join(_file(b"d%07d/f" % i) for i in range(n)) + END)


@shape
def pax_header_flood(n: int) -> bytes:
    """``n`` pax headers of 1 MiB each in front of one member."""
    big = pax([(b"comment", b"c" * ((1 << 20) - 64))])
    return _gz(big * n + _file(b"f", b"x") + END)


@shape
def long_name_flood(n: int) -> bytes:
    """``n`` members whose GNU long names are 4,000 bytes each (in components of 250)."""
    stem = b"/".join([b"n" * 250] * 15)
    members = (gnu_long(b"L", stem + b"/%0239d" % i) + _file(b"x") for i in range(n))
    return _gz(b"".join(members) + END)


@shape
def tiny_gzip_members(n: int) -> bytes:
    """A small archive followed by ``n`` empty gzip members."""
    return _gz(_file(b"f", b"x") + END) + gzip.compress(b"", mtime=0) * n


@shape
def huge_numbers(n: int) -> bytes:
    """Sizes and times at and past every range: base-256 2**(8n), pax times of n digits."""
    big = b"\x80" + (1 << min(8 * n, 87)).to_bytes(11, "big")
    members = [
        _file(b"f", b"x"),
        header(b"size", b"0", fields={"size": big}),
        header(b"mtime", b"0", fields={"mtime": big}),
        pax([(b"mtime", b"9" * n)]) + _file(b"pax-mtime"),
        pax([(b"size", b"9" * n)]) + _file(b"pax-size"),
        header(b"neg", b"0", fields={"size": b"-0000000001"}),
    ]
    return _gz(b"".join(members) + END)


@shape
def bomb(n: int) -> bytes:
    """One file of ``n`` MiB of zeros: about 1,000 to 1 compression."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [compressor.compress(header(b"zeros", b"0", n << 20))]
    zeros = bytes(1 << 20)
    parts += [compressor.compress(zeros) for _ in range(n)]
    parts.append(compressor.compress(END) + compressor.flush())
    return b"".join(parts)
