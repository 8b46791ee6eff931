"""Writer edges found by mutation testing: XFL, when pax is needed, header bytes."""

from __future__ import annotations

import gzip
import hashlib
import io
import sys
import tarfile
from pathlib import Path

import pytest

from dummy_training import create_tarfile
from dummy_training.tarstream import iter_members
from dummy_training.tarwrite import BLOCK, end_of_archive, header


@pytest.mark.parametrize(("level", "xfl"), [(9, 2), (1, 4), (6, 0), (2, 0), (8, 0)])
def test_xfl_names_the_slowest_and_fastest_levels(tmp_path: Path, level: int, xfl: int) -> None:
    # RFC 1952: XFL 2 means maximum compression (level 9), 4 the fastest (level 1).
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "weights.bin").write_bytes(b"\x00\x01" * 600)
    out = tmp_path / f"level{level}.tar.gz"
    create_tarfile(out, tree, level)
    data = out.read_bytes()
    assert data[8] == xfl
    assert data[:8] + data[9:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\xff"
    assert b"\x00\x01" * 600 in gzip.decompress(data)


def read_back(block: bytes) -> tarfile.TarInfo:
    with tarfile.open(fileobj=io.BytesIO(block + end_of_archive())) as tf:
        [member] = tf.getmembers()
    return member


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("file", "a" * 100),  # the name field, full
        ("file", "p" * 155 + "/" + "n" * 100),  # prefix and name fields, both full
        ("file", "a/" + "b" * 100),  # a one-byte prefix
        ("dir", "p" * 120 + "/"),  # split at a directory's own trailing slash
    ],
    ids=["name-100", "prefix-155-name-100", "prefix-1", "dir-slash"],
)
def test_names_that_fit_ustar_get_no_pax_header(kind: str, name: str) -> None:
    # "pax when needed": readers that only know ustar see the whole name.
    block = header(kind, name, mode=0o755, mtime=0)
    assert len(block) == BLOCK
    assert read_back(block).name.rstrip("/") == name.rstrip("/")  # 3.8 keeps the slash


@pytest.mark.parametrize(
    "name",
    ["a" * 101, "p" * 156 + "/x", "p" * 10 + "/" + "n" * 101],
    ids=["name-101", "prefix-156", "last-part-101"],
)
def test_names_that_do_not_fit_ustar_get_a_pax_path(name: str) -> None:
    block = header("file", name, mode=0o644, mtime=0)
    assert len(block) == 3 * BLOCK  # pax header, its records, the ustar header
    assert read_back(block).name == name
    # The ustar header itself carries what fits: the first 100 bytes, and no prefix.
    ustar = block[-BLOCK:]
    assert ustar[:100] == name.encode()[:100]
    assert ustar[345:500] == bytes(155)


def test_link_targets_get_pax_only_past_100_bytes() -> None:
    assert len(header("symlink", "l", mode=0o777, mtime=0, linkname="t" * 100)) == BLOCK
    long = header("symlink", "l", mode=0o777, mtime=0, linkname="t" * 101)
    assert read_back(long).linkname == "t" * 101


def test_link_targets_that_are_not_utf8_keep_their_bytes() -> None:
    # An archive's names are bytes; one that is not UTF-8 is carried through unchanged.
    target = b"caf\xe9".decode("utf-8", "surrogateescape")
    block = header("symlink", "l", mode=0o777, mtime=0, linkname=target)
    [member] = iter_members([block + end_of_archive()], "m.tar")
    assert member.linkname == target


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("f", "45bb601b6d84a6f9942834ab51a888130b750cd98be3f4b3bae8222bab0b0e64"),
        ("ééé", "3294cc76cf6b83a283be8cb60246b16135c0236bfca86a6e9dbda6634e63f4e5"),
        ("caf\udce9", "8295ef2e7b6f63211a50026c90372c5d0ae11a418b18d8ea3e137fa6756f2dba"),
    ],
    ids=["ustar", "pax-utf8", "pax-binary"],
)
def test_header_bytes_are_pinned(name: str, digest: str) -> None:
    # The determinism rule: the same member gives the same bytes on every Python and every
    # release, so archives made once stay byte-identical. These digests were computed on
    # 3.8 and 3.11 alike; a change to any header field (the pax header's own name, mode,
    # time, the hdrcharset record of a non-UTF-8 name) shows up here.
    block = header("file", name, size=3, mode=0o644, mtime=5)
    assert hashlib.sha256(block).hexdigest() == digest
    if name == "f":
        # A plain member is what tarfile wrote on 3.8 (3.9+ leaves devmajor/devminor empty).
        assert block[329:345] == b"0000000\x000000000\x00"
        if sys.version_info < (3, 9):
            info = tarfile.TarInfo("f")
            info.size, info.mode, info.mtime = 3, 0o644, 5
            assert block == info.tobuf(tarfile.USTAR_FORMAT, "utf-8", "surrogateescape")
    if name.endswith("\udce9"):
        assert b" hdrcharset=BINARY\n" in block  # POSIX: the path is raw bytes, not UTF-8


def test_numbers_at_the_ustar_limits_need_no_pax() -> None:
    most = 8**11 - 1
    for block in (
        header("file", "f", size=most, mode=0o644, mtime=0),
        header("file", "f", size=0, mode=0o644, mtime=most),
    ):
        assert len(block) == BLOCK
    assert read_back(header("file", "f", mode=0o644, mtime=0)).mtime == 0


def test_several_pax_records_are_all_kept() -> None:
    long_name, long_target = "n" * 150, "t" * 150
    member = read_back(header("symlink", long_name, mode=0o777, mtime=-1, linkname=long_target))
    assert (member.name, member.linkname, member.mtime) == (long_name, long_target, -1)
    records = header("file", long_name, size=8**11, mode=0o644, mtime=0)[BLOCK : 2 * BLOCK]
    assert b" path=" + long_name.encode() + b"\n" in records
    assert b" size=8589934592\n" in records
