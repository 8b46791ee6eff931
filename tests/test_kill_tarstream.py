"""Tar parser edges found by mutation testing: pax values, global headers, truncation, trailers."""

from __future__ import annotations

import pytest

from dummy_training.errors import ValidationError
from dummy_training.tarstream import iter_members
from dummy_training.tarwrite import BLOCK, end_of_archive, header, padding


def members(data: bytes) -> list:  # type: ignore[type-arg]
    chunks = [data[i : i + 700] for i in range(0, len(data), 700)]
    return list(iter_members(chunks, "m.tar.gz"))


def refused(data: bytes) -> str:
    with pytest.raises(ValidationError) as refusal:
        members(data)
    return str(refusal.value)


def with_checksum(block: bytes) -> bytes:
    block = block[:148] + b" " * 8 + block[156:]
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def pax_block(records: bytes, flag: bytes = b"x") -> bytes:
    block = header("file", "././@PaxHeader", size=len(records), mode=0o644, mtime=0)
    block = with_checksum(block[:156] + flag + block[157:])
    return block + records + padding(len(records))


def record(key: str, value: str) -> bytes:
    body = f" {key}={value}\n".encode()
    size = len(body) + len(str(len(body) + 2))
    return str(size).encode() + body


def plain(name: str = "f") -> bytes:
    return header("file", name, mode=0o644, mtime=0)


def test_a_pax_value_may_contain_equals_signs() -> None:
    # Only the first "=" separates keyword from value: "lr=0.1" is a fine directory name.
    data = pax_block(record("path", "lr=0.1/weights.bin")) + plain() + end_of_archive()
    assert [m.name for m in members(data)] == ["lr=0.1/weights.bin"]


def test_a_negative_record_length_is_refused_where_it_starts() -> None:
    data = pax_block(b"-8 a=b\n8 x=y12\n") + plain() + end_of_archive()
    cause = "pax record at byte 0 has a malformed length"
    assert refused(data) == dialect(0, "././@PaxHeader", cause)


@pytest.mark.parametrize("flag", [b"g", b"x"])
@pytest.mark.parametrize("key", ["GNU.sparse.size", "GNU.sparse.map", "SUN.holesdata"])
def test_no_header_may_declare_sparse_files(key: str, flag: bytes) -> None:
    data = pax_block(record(key, "1"), flag) + plain() + end_of_archive()
    assert refused(data) == dialect(0, "././@PaxHeader", f"pax key {key!r} is not accepted")


def test_an_extension_header_with_truncated_padding_is_truncated() -> None:
    records = record("path", "renamed")
    assert len(records) < 100
    data = pax_block(records)[: 512 + len(records) + 100]  # stream ends inside the padding
    message = refused(data)
    assert message.startswith("m.tar.gz: tar header at offset 0: truncated extension header")


@pytest.mark.parametrize("after", [b"X", b"\0" * 700 + b"X"])
def test_non_zero_bytes_after_the_end_marker_are_refused(after: bytes) -> None:
    message = refused(plain() + end_of_archive() + after)
    assert (
        message == "m.tar.gz: data after the tar end-of-archive marker at offset 512 "
        "(ERROR_CODE: TAR_CORRUPT)"
    )


def test_blank_numeric_fields_read_as_zero() -> None:
    # Some writers leave uid/gid all NUL or spaces ended by a NUL: that is 0 to
    # every reader, not an error.
    block = plain()
    block = with_checksum(block[:108] + bytes(8) + b" " * 7 + b"\0" + block[124:])
    [member] = members(block + end_of_archive())
    assert (member.uid, member.gid) == (0, 0)


@pytest.mark.parametrize("blank", [b" " * 8, b"\0" + b" " * 7])
def test_numeric_fields_blank_to_their_end_are_refused(blank: bytes) -> None:
    # GNU tar calls these an error ("blanks in header") where tarfile reads 0.
    block = with_checksum(plain()[:108] + blank + plain()[116:])
    assert refused(block + end_of_archive()) == dialect(
        0, "f", f"uid field {blank!r} is not a plain octal number"
    )


def test_numeric_fields_with_stray_characters_are_invalid() -> None:
    block = plain()
    block = with_checksum(block[:100] + b"000644X\0" + block[108:])
    assert refused(block + end_of_archive()) == dialect(
        0, "f", "mode field b'000644X\\x00' is not a plain octal number"
    )


def test_base256_fields_use_every_byte() -> None:
    # GNU base-256: 0x80, then a big-endian number in the rest of the field.
    block = plain()
    block = with_checksum(block[:108] + b"\x80" + (2**31 + 7).to_bytes(7, "big") + block[116:])
    [member] = members(block + end_of_archive())
    assert member.uid == 2**31 + 7
    # GNU tar refuses a uid its uid_t cannot hold; so do we.
    block = with_checksum(block[:108] + b"\x80" + (2**32).to_bytes(7, "big") + block[116:])
    assert refused(block + end_of_archive()) == dialect(
        0, "f", f"base-256 uid {2**32} is out of range"
    )


def at(offset: int, message: str, code: str) -> str:
    return f"m.tar.gz: tar header at offset {offset}: {message} (ERROR_CODE: {code})"


def dialect(offset: int, member: str, cause: str) -> str:
    return (
        f"m.tar.gz: tar header at offset {offset} (tar member {member!r}): {cause} "
        "(ERROR_CODE: REFUSED_DIALECT)"
    )


def set_field(block: bytes, offset: int, value: bytes) -> bytes:
    return with_checksum(block[:offset] + value + block[offset + len(value) :])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            set_field(plain(), 124, b"12345z78901\0"),
            dialect(0, "f", "size field b'12345z78901\\x00' is not a plain octal number"),
        ),
        (
            pax_block(record("size", "big")) + plain() + end_of_archive(),
            dialect(0, "././@PaxHeader", "pax size b'big' is not a plain decimal number"),
        ),
        (
            pax_block(b"5 a=b\n") + plain() + end_of_archive(),
            dialect(0, "././@PaxHeader", "pax record at byte 0 does not end in a newline"),
        ),
        (
            pax_block(b"13 path=evil\n", b"g") + plain() + end_of_archive(),
            dialect(0, "././@PaxHeader", "global pax header sets path"),
        ),
        (
            pax_block(record("path", "p") + record("size", "1"), b"g") + plain(),
            dialect(0, "././@PaxHeader", "global pax header sets path, size"),
        ),
        (
            set_field(plain(), 156, b"V"),
            at(0, "unsupported tar member (type b'V')", "UNSAFE_MEMBER"),
        ),
        (
            set_field(plain(), 156, b"S"),
            at(0, "unsupported tar member (sparse file)", "UNSAFE_MEMBER"),
        ),
        (
            plain() + pax_block(b"11 path=a\n")[:600],
            at(512, "truncated extension header (10 of 10 bytes)", "TRUNCATED"),
        ),
    ],
    ids=["size", "pax-size", "pax-record", "global", "global-two", "type", "sparse", "truncated"],
)
def test_messages_give_the_header_offset_and_the_cause(data: bytes, message: str) -> None:
    assert refused(data) == message


def test_name_length_cap_message_gives_the_offset() -> None:
    from dummy_training.tarstream import Limits

    data = plain("a" * 50) + end_of_archive()
    with pytest.raises(ValidationError) as refusal:
        list(iter_members([data], "m.tar.gz", limits=Limits(max_name=10)))
    assert str(refusal.value) == at(
        0, "tar member name of 50 bytes exceeds --max-name-bytes 10", "CAP_EXCEEDED"
    )


@pytest.mark.parametrize("flag", [b"L", b"K"])
def test_a_gnu_long_name_or_link_without_a_member_is_refused(flag: bytes) -> None:
    assert refused(pax_block(b"long\0", flag) + end_of_archive()) == at(
        1024, "extension header without a tar member", "TAR_CORRUPT"
    )


def test_a_header_of_non_zero_bytes_is_not_an_end_marker() -> None:
    block = b"X" * 148 + bytes(8) + b"X" * 356  # only X and NUL bytes, checksum field empty
    assert refused(block) == (
        "File is not a valid tar archive: m.tar.gz: not a tar archive "
        "(first header checksum invalid) (ERROR_CODE: INVALID_ARCHIVE)"
    )


def test_full_width_name_and_link_fields_are_read_to_their_end() -> None:
    # 100-byte names and link targets fill their fields with no NUL after them.
    block = header("symlink", "n" * 100, mode=0o777, mtime=0, linkname="t" * 100)
    [member] = members(block + end_of_archive())
    assert (member.name, member.linkname) == ("n" * 100, "t" * 100)


def test_a_v7_regular_file_is_a_file() -> None:
    # Type NUL is a regular file, unless its name ends in "/" (then a directory).
    [member] = members(set_field(plain("f"), 156, b"\0") + end_of_archive())
    assert member.kind == "file"


def test_checksums_of_six_significant_digits_are_read_whole() -> None:
    # Many high bytes (a long non-ASCII name) push the checksum past 0o77777.
    name = "é" * 70 + "/" + "é" * 45
    block = header("file", name, mode=0o644, mtime=0)
    assert block[-BLOCK + 148 : -BLOCK + 149] != b"0"
    [member] = members(block + end_of_archive())
    assert member.name == name


def test_an_extension_header_exactly_at_the_cap_is_accepted() -> None:
    from dummy_training.tarstream import Limits

    records = record("path", "renamed")
    data = pax_block(records) + plain() + end_of_archive()
    chunks = [data]
    found = list(iter_members(chunks, "m.tar.gz", limits=Limits(max_extension_header=len(records))))
    assert [m.name for m in found] == ["renamed"]


def test_reading_a_member_reads_only_as_far_as_it() -> None:
    # A stream in 100-byte chunks: the first member comes after a few chunks, not all.
    data = b"".join(plain(f"f{i}") for i in range(200)) + end_of_archive()
    taken = []

    def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(data), 100):
            taken.append(i)
            yield data[i : i + 100]

    first = next(iter_members(chunks(), "m.tar.gz"))
    assert first.name == "f0"
    assert len(taken) <= 11


NUMERIC_FIELDS = [("mode", 100, 8), ("uid", 108, 8), ("gid", 116, 8), ("mtime", 136, 12)]


@pytest.mark.parametrize(("what", "start", "width"), NUMERIC_FIELDS)
def test_invalid_numeric_fields_are_named(what: str, start: int, width: int) -> None:
    bad = b"9" * (width - 1) + b"\0"
    message = refused(set_field(plain(), start, bad) + end_of_archive())
    assert message == dialect(0, "f", f"{what} field {bad!r} is not a plain octal number")


@pytest.mark.parametrize("what", ["uid", "gid", "mtime", "size"])
def test_invalid_pax_numbers_are_named(what: str) -> None:
    data = pax_block(record(what, "x1")) + plain() + end_of_archive()
    kind = "time" if what == "mtime" else "number"
    expected = dialect(0, "././@PaxHeader", f"pax {what} b'x1' is not a plain decimal {kind}")
    assert refused(data) == expected


def test_numeric_fields_may_fill_their_whole_width() -> None:
    # Some writers use every byte of a field for digits, leaving no NUL or space.
    block = plain()
    for start, digits in ((100, b"00000644"), (108, b"12345670"), (116, b"76543210")):
        block = set_field(block, start, digits)
    block = set_field(block, 136, b"%012o" % 1_700_000_000)
    [member] = members(block + end_of_archive())
    assert (member.mode, member.uid, member.gid) == (0o644, 0o12345670, 0o76543210)
    assert member.mtime == 1_700_000_000


def test_owner_names_fill_their_fields_or_come_from_pax() -> None:
    block = set_field(set_field(plain(), 265, b"u" * 32), 297, b"g" * 32)
    [member] = members(block + end_of_archive())
    assert (member.uname, member.gname) == ("u" * 32, "g" * 32)
    records = record("uname", "alice") + record("gname", "staff")
    [member] = members(pax_block(records) + plain() + end_of_archive())
    assert (member.uname, member.gname) == ("alice", "staff")


def test_more_messages_give_the_header_offset() -> None:
    bad_checksum = plain()[:148] + b"zz      " + plain()[156:]
    assert refused(plain() + bad_checksum) == at(512, "bad tar header checksum", "TAR_CORRUPT")
    bad_global = pax_block(b"5 a=b\n", b"g") + plain() + end_of_archive()
    assert refused(bad_global) == dialect(
        0, "././@PaxHeader", "pax record at byte 0 does not end in a newline"
    )


def test_members_record_where_their_headers_start() -> None:
    first = header("file", "a", size=10, mode=0o644, mtime=0) + b"x" * 10 + padding(10)
    found = members(first + pax_block(record("path", "c")) + plain("b") + end_of_archive())
    # The offset is where a reader starts reading the member: its first extension
    # header, as tarfile's TarInfo.offset.
    assert [(m.name, m.offset) for m in found] == [("a", 0), ("c", 1024)]


def test_a_checksum_of_seven_digits_and_a_space_is_accepted() -> None:
    # POSIX writes six digits, NUL, space; some old writers used seven digits and a space.
    block = plain("f")
    block = block[:148] + b" " * 8 + block[156:]
    block = block[:148] + b"%07o " % sum(block) + block[156:]
    [member] = members(block + end_of_archive())
    assert member.name == "f"
