"""The tar parser on hand-made streams: every defect is refused with its own message."""

from __future__ import annotations

import tarfile

import pytest

from archives import tar_bytes
from dummy_training.errors import ValidationError
from dummy_training.tarstream import Limits, iter_members
from dummy_training.tarwrite import end_of_archive, header, padding


def members(data: bytes, **kwargs: object) -> list:  # type: ignore[type-arg]
    chunks = [data[i : i + 700] for i in range(0, len(data), 700)]
    return list(iter_members(chunks, "m.tar.gz", **kwargs))  # type: ignore[arg-type]


def refuse(data: bytes, message: str, **kwargs: object) -> None:
    with pytest.raises(ValidationError, match=message):
        members(data, **kwargs)


def with_checksum(block: bytes) -> bytes:
    block = block[:148] + b" " * 8 + block[156:]
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def patch(block: bytes, offset: int, value: bytes) -> bytes:
    return with_checksum(block[:offset] + value + block[offset + len(value) :])


def test_reads_names_types_and_hashes() -> None:
    data = tar_bytes([("d", "dir", ""), ("d/f", "file", b"abc"), ("l", "symlink", "d/f")])
    found = members(data, hash_data=True)
    assert [(m.name, m.kind, m.size, m.linkname) for m in found] == [
        ("d/", "dir", 0, ""),
        ("d/f", "file", 3, ""),
        ("l", "symlink", 0, "d/f"),
    ]
    assert found[1].sha256 == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert found[0].sha256 is None and members(data)[1].sha256 is None


def test_gnu_long_names_and_long_link_targets() -> None:
    long = "x" * 150
    data = tar_bytes([(long, "file", b"1"), ("l", "symlink", long)], fmt=tarfile.GNU_FORMAT)
    assert [(m.name, m.linkname) for m in members(data)] == [(long, ""), ("l", long)]


def test_ustar_prefix_and_v7_directory_convention() -> None:
    name = "p" * 120 + "/file"
    data = tar_bytes([(name, "file", b"")], fmt=tarfile.USTAR_FORMAT)
    assert members(data)[0].name == name
    v7 = patch(header("file", "olddir/", mode=0o755, mtime=0), 156, b"\0")
    assert members(v7 + end_of_archive())[0].kind == "dir"


def test_base256_size_and_pax_numbers() -> None:
    block = patch(
        header("file", "f", size=0, mode=0o644, mtime=0), 124, b"\x80" + (5).to_bytes(11, "big")
    )
    assert members(block + b"hello" + padding(5) + end_of_archive())[0].size == 5
    negative = patch(block, 124, b"\xff" * 12)
    refuse(negative + end_of_archive(), "negative size")
    records = b"30 mtime=1700000000.123456789\n10 uid=42\n10 gid=43\n"
    pax = header("file", "././@PaxHeader", size=len(records), mode=0o644, mtime=0)
    pax = patch(pax, 156, b"x")
    found = members(
        pax
        + records
        + padding(len(records))
        + header("file", "f", mode=0o644, mtime=0)
        + end_of_archive()
    )
    assert (found[0].mtime, found[0].uid, found[0].gid) == (1700000000, 42, 43)


def pax_block(records: bytes, flag: bytes = b"x") -> bytes:
    block = patch(
        header("file", "././@PaxHeader", size=len(records), mode=0o644, mtime=0), 156, flag
    )
    return block + records + padding(len(records))


def plain(name: str = "f") -> bytes:
    return header("file", name, mode=0o644, mtime=0)


def record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    size = len(body) + len(str(len(body) + 2))
    return str(size).encode() + body


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (b"5 a=b\n", "does not end in a newline"),
        (b"x a=b\n", "has a malformed length"),
        (b"7 ab c\n", "has no key"),
        (record("mtime", "z"), "pax mtime b'z' is not a plain decimal time"),
        (record("GNU.sparse.realsize", "99"), "pax key 'GNU.sparse.realsize' is not accepted"),
    ],
    ids=["short-length", "bad-length", "no-equals", "bad-number", "sparse"],
)
def test_bad_pax_records(records: bytes, message: str) -> None:
    refuse(pax_block(records) + plain() + end_of_archive(), message)


def test_global_pax_headers() -> None:
    comment = b"15 comment=abc\n"
    assert [m.name for m in members(pax_block(comment, b"g") + plain() + end_of_archive())] == ["f"]
    refuse(
        pax_block(b"13 path=evil\n", b"g") + plain() + end_of_archive(),
        "global pax header sets path",
    )


def test_pax_path_and_size_override_the_header() -> None:
    data = pax_block(record("path", "renamed") + record("size", "3")) + plain("original")
    found = members(data + b"abc" + padding(3) + end_of_archive())
    assert [(m.name, m.size) for m in found] == [("renamed", 3)]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty tar stream"),
        (b"abc", "shorter than a block"),
        (plain() + b"x" * 100, "truncated tar header"),
        (plain()[:100] + b"9" + plain()[101:], "not a tar archive"),
        (
            plain()
            + patch(plain("g"), 0, b"h")[:148]
            + b"1234567\0"
            + patch(plain("g"), 0, b"h")[156:],
            "bad tar header checksum",
        ),
        (plain() + plain()[:148] + b"zz      " + plain()[156:], "bad tar header checksum"),
        (patch(plain(), 156, b"S"), "sparse file"),
        (patch(plain(), 156, b"V"), "unsupported tar member"),
        (
            patch(header("dir", "d/", mode=0o755, mtime=0), 124, b"%011o\0" % 512),
            "declares 512 data bytes",
        ),
        (pax_block(b"10 path=a\n"), "extension header without a tar member"),
        (pax_block(b"10 path=a\n") + end_of_archive(), "extension header without a tar member"),
        (header("file", "f", size=10, mode=0o644, mtime=0) + b"12345", "truncated tar member data"),
        (header("file", "f", size=10, mode=0o644, mtime=0) + b"1234567890", "truncated padding"),
        (
            plain() + end_of_archive() + b"\0" * 100 + b"hidden",
            "after the tar end-of-archive marker",
        ),
        (
            patch(plain(), 156, b"L")[:124] + b"%011o\0" % 2000 + patch(plain(), 156, b"L")[136:],
            "truncated extension header",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_defects(data: bytes, message: str) -> None:
    if message == "truncated extension header":
        data = with_checksum(data[:512]) + b"x" * 100
    refuse(data, message)


def test_stream_without_end_marker_is_accepted_but_not_a_partial_block() -> None:
    assert [m.name for m in members(plain())] == ["f"]
    refuse(plain() + bytes(100), "truncated tar header")


def test_signed_checksums_are_accepted() -> None:
    block = plain("ab")
    block = block[:1] + b"\xe9" + block[2:]  # a high byte, which signed sums count negative
    signed = sum(b - 256 if b > 127 else b for b in block[:148] + b" " * 8 + block[156:])
    block = block[:148] + b"%06o\0 " % signed + block[156:]
    assert len(members(block + end_of_archive())) == 1


def test_limits() -> None:
    big = b"%d path=%s\n" % (1_000_000 + 15, b"a" * 1_000_000)
    refuse(
        pax_block(big) + plain() + end_of_archive(),
        "1000014 bytes exceeds --max-header-bytes 1000",
        limits=Limits(max_extension_header=1000),
    )
    refuse(
        plain("a") + plain("b") + end_of_archive(),
        "more than 1 tar members",
        limits=Limits(max_members=1),
    )
    refuse(
        plain("a" * 50) + end_of_archive(),
        "exceeds --max-name-bytes 10",
        limits=Limits(max_name=10),
    )
    refuse(
        plain("a/b/c/d") + end_of_archive(),
        "depth 4 exceeds --max-depth 3",
        limits=Limits(max_depth=3),
    )
