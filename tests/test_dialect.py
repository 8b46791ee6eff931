"""Every rule of DIALECT.md on hand-made headers: what is refused, with which message."""

from __future__ import annotations

import pytest

from dummy_training.errors import ValidationError
from dummy_training.tarstream import iter_members
from dummy_training.tarwrite import end_of_archive, header, padding


def with_checksum(block: bytes) -> bytes:
    block = block[:148] + b" " * 8 + block[156:]
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def patch(block: bytes, offset: int, value: bytes) -> bytes:
    return with_checksum(block[:offset] + value + block[offset + len(value) :])


def plain(name: str = "f", size: int = 0, flag: bytes = b"0") -> bytes:
    block = patch(header("file", name, size=size, mode=0o644, mtime=0), 156, flag)
    return block + b"d" * size + padding(size)


def ext(flag: bytes, data: bytes, name: str = "././@LongLink") -> bytes:
    block = patch(header("file", name, size=len(data), mode=0o644, mtime=0), 156, flag)
    return block + data + padding(len(data))


def record(key: str, value: bytes) -> bytes:
    body = b" %s=%s\n" % (key.encode(), value)
    size = len(body) + len(str(len(body) + 2))
    return b"%d" % size + body


def pax(*records: bytes, flag: bytes = b"x") -> bytes:
    return ext(flag, b"".join(records), "PaxHeader/f")


def members(data: bytes) -> list:  # type: ignore[type-arg]
    chunks = [data[i : i + 300] for i in range(0, len(data), 300)]
    return list(iter_members(chunks, "m.tar.gz"))


def refusal(data: bytes) -> str:
    with pytest.raises(ValidationError) as caught:
        members(data + end_of_archive())
    return str(caught.value)


def dialect(offset: int, member: str, cause: str) -> str:
    return (
        f"m.tar.gz: tar header at offset {offset} (tar member {member!r}): {cause} "
        "(ERROR_CODE: REFUSED_DIALECT)"
    )


OCTAL_REFUSED = [
    (b"0o000644", "0o prefix: tarfile's int(x, 8) takes it"),
    (b"0000_644", "underscore: tarfile's int() takes it"),
    (b"+000644\0", "sign"),
    (b"-000001\0", "negative"),
    (b"\x000000644", "leading NUL: GNU tar skips it, tarfile reads an empty field"),
    (b"000644 7", "digit after a space: tarfile refuses, GNU tar stops at the space"),
    (b"00064\x008", "digit after a NUL"),
    (b"        ", "blank to the end: GNU tar calls it an error"),
    (b"\0       ", "NUL then blank to the end: GNU tar skips the NUL, then errs"),
    (b"0000648\0", "not an octal digit"),
    (b"\x80\x00\x00\x00\x00\x01\xa4\x00", "base-256 mode"),
]


@pytest.mark.parametrize(("raw", "why"), OCTAL_REFUSED, ids=[why for _, why in OCTAL_REFUSED])
def test_non_canonical_numbers_are_refused(raw: bytes, why: str) -> None:
    message = refusal(patch(plain(), 100, raw))
    assert message.startswith(dialect(0, "f", "")[: -len(" (ERROR_CODE: REFUSED_DIALECT)")])
    assert "mode" in message
    assert message.endswith("(ERROR_CODE: REFUSED_DIALECT)")


OCTAL_ACCEPTED = [
    (b"0000644\0", 0o644),
    (b"000644 \0", 0o644),
    (b"   644 \0", 0o644),
    (b"00000644", 0o644),
    (b"644\0    ", 0o644),
    (bytes(8), 0),
    (b"  \0     ", 0),
]


@pytest.mark.parametrize(("raw", "value"), OCTAL_ACCEPTED)
def test_canonical_numbers_every_reader_shares_are_accepted(raw: bytes, value: int) -> None:
    [member] = members(patch(plain(), 100, raw) + end_of_archive())
    assert member.mode == value


@pytest.mark.parametrize(
    ("offset", "field"), [(108, "uid"), (116, "gid"), (329, "devmajor"), (337, "devminor")]
)
def test_every_numeric_field_is_parsed_even_where_nothing_uses_it(offset: int, field: str) -> None:
    # tarfile treats garbage in devmajor as the end of the archive.
    message = refusal(patch(plain(), offset, b"garbage\0"))
    assert message == dialect(0, "f", f"{field} field b'garbage\\x00' is not a plain octal number")


def test_an_overridden_mtime_is_still_parsed() -> None:
    data = pax(record("mtime", b"1700000000")) + patch(plain(), 136, b"zzzzzzzzzzz\0")
    assert "mtime field b'zzzzzzzzzzz\\x00' is not a plain octal number" in refusal(data)


def test_base256_where_readers_agree() -> None:
    size = patch(plain(), 124, b"\x80" + (5).to_bytes(11, "big"))
    [member] = members(size + b"hello" + padding(5) + end_of_archive())
    assert member.size == 5
    before_1970 = patch(plain(), 136, b"\xff" * 8 + (-86400 % 2**32).to_bytes(4, "big"))
    [member] = members(before_1970 + end_of_archive())
    assert member.mtime == -86400


@pytest.mark.parametrize(
    ("offset", "raw", "cause"),
    [
        (124, b"\xff" * 12, "negative size (base-256 field " + "ff" * 12 + ")"),
        (108, b"\xff" * 8, "negative uid (base-256 field " + "ff" * 8 + ")"),
        (124, b"\x80" + (2**63).to_bytes(11, "big"), f"base-256 size {2**63} is out of range"),
        (136, b"\x80" + (2**63).to_bytes(11, "big"), f"base-256 mtime {2**63} is out of range"),
        (329, b"\x80" + bytes(7), "devmajor field 8000000000000000 in base-256 is not accepted"),
    ],
)
def test_base256_where_readers_disagree(offset: int, raw: bytes, cause: str) -> None:
    assert refusal(patch(plain(), offset, raw)) == dialect(0, "f", cause)


@pytest.mark.parametrize(
    ("magic", "accepted"),
    [
        (b"ustar\x0000", True),
        (b"ustar  \x00", True),
        (bytes(8), True),
        (b"ustar\x00  ", False),
        (b"ustar \x000", False),
        (b"USTAR\x0000", False),
    ],
)
def test_magic_and_version(magic: bytes, accepted: bool) -> None:
    block = patch(plain(), 257, magic)
    if magic == bytes(8):
        block = patch(block, 265, bytes(64))  # v7 has no owner names
    if accepted:
        assert [m.name for m in members(block + end_of_archive())] == ["f"]
    else:
        assert refusal(block) == dialect(0, "f", f"unknown magic and version {magic!r}")


def test_owner_names_in_a_v7_header_are_refused() -> None:
    block = patch(patch(plain(), 257, bytes(8)), 265, b"root\0")
    assert refusal(block) == dialect(0, "f", "user or group name in a v7 header")


@pytest.mark.parametrize("magic", [b"ustar  \x00", bytes(8)])
def test_a_prefix_without_posix_magic_is_refused(magic: bytes) -> None:
    # tarfile joins any prefix to the name ("../../x.bin"); GNU tar ignores it here.
    block = patch(patch(plain("x.bin"), 257, magic + bytes(64)), 345, b"../..")
    assert refusal(block) == dialect(0, "x.bin", "prefix area in use without POSIX magic")


def test_a_prefix_with_posix_magic_is_part_of_the_name() -> None:
    [member] = members(patch(plain("x.bin"), 345, b"deep/dir") + end_of_archive())
    assert member.name == "deep/dir/x.bin"
    # libarchive adds no second "/" after a prefix that ends in one; the others do.
    block = patch(plain("x.bin"), 345, b"deep/")
    assert refusal(block) == dialect(0, "x.bin", "prefix field ends in '/'")


@pytest.mark.parametrize(
    ("offset", "field"),
    [(0, "name"), (157, "linkname"), (265, "uname"), (297, "gname"), (345, "prefix")],
)
def test_bytes_after_a_string_fields_nul_are_refused(offset: int, field: str) -> None:
    block = patch(plain(), offset + 10, b"hidden")
    if field == "name":
        block = patch(block, 0, b"f\0")
    cause = f"bytes after the terminating NUL of the {field} field"
    assert refusal(block) == dialect(0, "f", cause)


@pytest.mark.parametrize("flag", [b"S", b"V", b"M", b"N", b"A", b"D", b"X", b"I", b"8"])
def test_unknown_and_sparse_types_are_refused(flag: bytes) -> None:
    assert "unsupported tar member" in refusal(plain(flag=flag))


@pytest.mark.parametrize(
    "data",
    [
        plain("cache/", 0, b"0"),
        plain("cache/", 0, b"7"),
        plain("cache/", 0, b"2"),
        pax(record("path", b"cache/")) + plain("cache"),
        ext(b"L", b"cache/\0") + plain("cache"),
        pax(record("path", b"cache")) + plain("cache/"),
    ],
    ids=["type-0", "type-7", "symlink", "pax-path", "gnu-long-name", "header-name"],
)
def test_a_non_directory_named_like_a_directory_is_refused(data: bytes) -> None:
    # GNU tar and bsdtar make such a member a directory and read its data as headers.
    assert "name ends in '/'" in refusal(data)


def test_the_v7_directory_convention_is_accepted_from_the_header_name_only() -> None:
    [member] = members(plain("olddir/", 0, b"\0") + end_of_archive())
    assert (member.name, member.kind) == ("olddir/", "dir")
    long_name = ext(b"L", b"olddir/\0") + plain("olddir/", 0, b"\0")
    assert refusal(long_name) == dialect(1024, "olddir/", "v7 directory name with a long name")


@pytest.mark.parametrize(
    ("chain", "cause"),
    [
        (pax(record("size", b"1024")) + pax(record("path", b"g")), "a second pax header"),
        (ext(b"L", b"a\0") + ext(b"L", b"b\0"), "a second GNU long name"),
        (ext(b"K", b"a\0") + ext(b"K", b"b\0"), "a second GNU long link name"),
    ],
    ids=["x-x", "L-L", "K-K"],
)
def test_one_extension_header_of_each_kind_per_member(chain: bytes, cause: str) -> None:
    assert f"{cause} for one tar member" in refusal(chain + plain())


def test_pax_and_gnu_names_must_agree() -> None:
    name = ext(b"L", b"a\0") + pax(record("path", b"b")) + plain()
    assert "pax header and GNU header give different names" in refusal(name)
    agreeing = ext(b"L", b"same\0") + pax(record("path", b"same")) + plain()
    assert [m.name for m in members(agreeing + end_of_archive())] == ["same"]
    link = ext(b"K", b"a\0") + pax(record("linkpath", b"b")) + plain("l", flag=b"2")
    assert "pax header and GNU header give different link targets" in refusal(link)


def test_a_link_target_belongs_to_links_only() -> None:
    assert "file tar member has a link target" in refusal(patch(plain(), 157, b"/etc"))
    data = pax(record("linkpath", b"/etc")) + plain()
    assert "file tar member has a link target" in refusal(data)


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (ext(b"L", b"name"), "is not one name ending in a single NUL"),
        (ext(b"L", b"na\0me\0"), "is not one name ending in a single NUL"),
        (ext(b"L", b"\0"), "is not one name ending in a single NUL"),
        (ext(b"L", b"name\0")[:-1] + b"X", "non-zero padding after extension header data"),
        (pax(b"+13 path=abc\n"), "has a malformed length"),
        (pax(b"013 path=abc\n"), "has a malformed length"),
        (pax(b" 13 path=abc\n"), "has a malformed length"),
        (pax(b"14 path=abc\n"), "runs past the header's size"),
        (pax(b"11 path=abc\n"), "does not end in a newline"),
        (pax(record("path", b"a\0b")), "holds a NUL byte"),
        (pax(record("path", b"")), "pax path is empty"),
        (pax(record("size", b"")), "pax size is empty"),
        (pax(record("path", b"a"), record("path", b"a")), "pax key 'path' given twice"),
        (pax(record("path", b"\xe9")), "pax path is not UTF-8"),
        (pax(b"6 \xff=x\n"), "pax key at byte 0 is not UTF-8"),
        (pax(record("hdrcharset", b"ISO-8859-1")), "pax hdrcharset b'ISO-8859-1'"),
        (pax(record("GNU.sparse.major", b"1")), "pax key 'GNU.sparse.major' is not accepted"),
        (pax(record("SCHILY.realsize", b"1")), "pax key 'SCHILY.realsize' is not accepted"),
        (pax(record("charset", b"x")), "pax key 'charset' is not accepted"),
        (pax(record("size", b"2048.5")), "pax size b'2048.5' is not a plain decimal number"),
        (pax(record("size", b"+5")), "pax size b'+5' is not a plain decimal number"),
        (pax(record("size", b"1_0")), "pax size b'1_0' is not a plain decimal number"),
        (pax(record("size", b" 5")), "pax size b' 5' is not a plain decimal number"),
        (pax(record("uid", b"4294967296")), "pax uid b'4294967296' is not a plain decimal"),
        (pax(record("mtime", b"1e9")), "pax mtime b'1e9' is not a plain decimal time"),
        (pax(record("mtime", b"+1")), "pax mtime b'+1' is not a plain decimal time"),
        (pax(record("mtime", b"1.")), "pax mtime b'1.' is not a plain decimal time"),
        (
            pax(record("mtime", b"9223372036854775807")),
            "pax mtime b'9223372036854775807' is not exact as a float",
        ),
        (
            pax(record("mtime", b"9007199254740992")),
            "pax mtime b'9007199254740992' is not exact as a float",
        ),
        (
            pax(record("atime", b"-9007199254740992.5")),
            "pax atime b'-9007199254740992.5' is not exact as a float",
        ),
        (
            pax(record("mtime", b"1700000000.99999999999")),
            "pax mtime b'1700000000.99999999999' is not exact as a float",
        ),
        (
            pax(record("ctime", b"-5.0000000000000001")),
            "pax ctime b'-5.0000000000000001' is not exact as a float",
        ),
        (
            pax(record("comment", b"x"), flag=b"g") + pax(record("path", b"y"), flag=b"g"),
            "sets path",
        ),
        (
            pax(record("path", b"a")) + pax(record("comment", b"x"), flag=b"g"),
            "global pax header inside",
        ),
    ],
)
def test_badly_framed_or_ambiguous_extension_data_is_refused(data: bytes, cause: str) -> None:
    message = refusal(data + plain())
    assert cause in message
    assert message.endswith("(ERROR_CODE: REFUSED_DIALECT)")


def test_a_global_path_hidden_in_the_padding_is_refused() -> None:
    records = record("comment", b"x")
    hidden = ext(b"g", records, "PaxHeader/g")
    start = 512 + len(records)
    hidden = hidden[:start] + record("path", b"evil") + hidden[start + 13 :]
    assert "non-zero padding after extension header data" in refusal(hidden + plain())


def test_a_global_header_needs_a_member_after_it() -> None:
    data = plain() + pax(record("comment", b"x"), flag=b"g")
    assert "extension header without a tar member" in refusal(data)


def test_accepted_pax_records_from_real_writers() -> None:
    records = (
        record("path", b"caf\xc3\xa9.bin"),
        record("mtime", b"-315619200.5"),
        record("atime", b"1700000000.123456789"),
        record("ctime", b"9007199254740991"),
        record("SCHILY.xattr.user.k", b""),
        record("SCHILY.xattr.com.apple.provenance", b"\x01\x02\x00\xff"),
        record("LIBARCHIVE.xattr.com.apple.quarantine", b"MDA4MQ"),
        record("SCHILY.dev", b"2049"),
        record("uid", b"4294967295"),
    )
    [member] = members(pax(*records) + plain() + end_of_archive())
    assert (member.name, member.mtime, member.uid) == ("caf\xe9.bin", -315619200, 2**32 - 1)
    binary = pax(record("hdrcharset", b"BINARY"), record("path", b"caf\xe9.bin")) + plain()
    [member] = members(binary + end_of_archive())
    assert member.name.encode("utf-8", "surrogateescape") == b"caf\xe9.bin"
    git_archive = pax(record("comment", b"0123abcd"), flag=b"g") + plain()
    assert [m.offset for m in members(git_archive + end_of_archive())] == [1024]


@pytest.mark.parametrize("flag", [b"5", b"2", b"1"])
def test_non_files_declare_no_data_in_any_field(flag: bytes) -> None:
    link = b"f" if flag != b"5" else b""
    block = patch(patch(plain("n", flag=flag), 157, link), 124, b"%011o\0" % 0)
    data = pax(record("size", b"10")) + block
    assert "declares 10 data bytes" in refusal(plain() + data)


def test_an_empty_name_is_refused() -> None:
    block = patch(plain(), 0, b"\0")
    assert refusal(block) == dialect(0, "", "empty name")
