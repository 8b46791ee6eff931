"""gzip reader edges found by mutation testing: short reads, field-length bounds, padding."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from dummy_training.errors import ValidationError
from dummy_training.gzipstream import FCOMMENT, FEXTRA, FHCRC, FIELD_MAX, FNAME, inflate


class ShortReads(io.RawIOBase):
    """A pipe-like source: every read returns at most ``step`` bytes."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


def member(payload: bytes, flags: int = 0, fields: bytes = b"") -> bytes:
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\x02\x03" + fields
    if flags & FHCRC:
        head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = body.compress(payload) + body.flush()
    return head + data + struct.pack("<II", zlib.crc32(payload), len(payload))


def run(source: io.RawIOBase | io.BytesIO) -> tuple[bytes, list, list]:  # type: ignore[type-arg]
    segments: list = []  # type: ignore[type-arg]
    headers: list = []  # type: ignore[type-arg]
    out = b"".join(
        inflate(
            source,  # type: ignore[arg-type]
            "m.tar.gz",
            on_header=lambda i, h: headers.append(h),
            on_segment=lambda kind, i, chunk: segments.append((kind, i, chunk)),
        )
    )
    return out, segments, headers


def test_short_reads_give_the_same_result_as_whole_reads() -> None:
    # Every header field, a second member and padding, each split over many reads.
    every_field = FEXTRA | FNAME | FCOMMENT | FHCRC
    fields = b"\x04\x00ab\0c" + b"model.tar\0" + b"a comment\0"
    data = member(b"tar data " * 300, every_field, fields) + member(b"more") + bytes(20)
    whole = run(io.BytesIO(data))
    for step in (1, 3, 7):
        out, segments, headers = run(ShortReads(data, step))
        assert out == whole[0] == b"tar data " * 300 + b"more"
        assert b"".join(chunk for _, _, chunk in segments) == data
        assert headers == whole[2]
        assert (headers[0].extra, headers[0].name, headers[0].comment) == (
            b"ab\0c",
            b"model.tar",
            b"a comment",
        )


def test_an_empty_file_name_is_a_field_of_one_nul() -> None:
    _, _, headers = run(io.BytesIO(member(b"x", FNAME, b"\0")))
    assert headers[0].name == b""
    assert headers[0].as_json()["name"] == ""


def test_name_and_comment_are_shown_as_latin1_text() -> None:
    # RFC 1952: FNAME and FCOMMENT are ISO 8859-1.
    data = member(b"x", FNAME | FCOMMENT, b"mod\xe8le\0r\xe9sum\xe9\0")
    _, _, headers = run(io.BytesIO(data))
    shown = headers[0].as_json()
    assert (shown["name"], shown["comment"]) == ("modèle", "résumé")


def test_field_length_cap_counts_the_nul() -> None:
    # FIELD_MAX bytes including the terminating NUL pass; one more is refused.
    longest = b"n" * (FIELD_MAX - 1) + b"\0"
    _, _, headers = run(io.BytesIO(member(b"x", FNAME, longest)))
    assert len(headers[0].name) == FIELD_MAX - 1
    with pytest.raises(ValidationError, match="gzip header file name longer than 65536 bytes"):
        run(io.BytesIO(member(b"x", FNAME, b"n" + longest)))


@pytest.mark.parametrize("step", [1 << 20, 4])
def test_garbage_after_zero_padding_is_refused(step: int) -> None:
    # Zero padding may follow the last member, but nothing else may follow the padding,
    # however the reads split it.
    good = member(b"abc") + bytes(30)
    assert run(ShortReads(good, step))[0] == b"abc"
    for tail in (b"X", b"XX", b"\0X"):
        with pytest.raises(ValidationError) as refused:
            run(ShortReads(good + tail, step))
        assert (
            str(refused.value)
            == "m.tar.gz: trailing garbage after gzip member 0 (ERROR_CODE: GZIP_CORRUPT)"
        )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x1f\x8b\x08\x04" + bytes(6) + b"\x10", "truncated gzip header extra field"),
        (b"\x1f\x8b\x08\x10" + bytes(6) + b"no end", "truncated gzip header comment"),
        (b"\x1f\x8b\x08\x02" + bytes(6) + b"\x00", "truncated gzip header CRC16"),
    ],
    ids=["extra-length", "comment", "crc16"],
)
def test_truncated_header_fields_are_named(data: bytes, message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        run(io.BytesIO(data))
    assert str(refused.value) == f"m.tar.gz: {message} (ERROR_CODE: TRUNCATED)"


def test_ftext_is_a_permitted_flag_and_extra_fields_may_be_long() -> None:
    # FTEXT (bit 0) is informational; XLEN is unsigned, so 40000 bytes of extra are fine.
    extra = b"ab" * 20000
    data = member(b"x", 1 | FEXTRA, struct.pack("<H", len(extra)) + extra)
    _, _, headers = run(io.BytesIO(data))
    assert (headers[0].flags, headers[0].extra) == (1 | FEXTRA, extra)


def test_members_are_numbered_in_order() -> None:
    data = member(b"a") + member(b"b") + member(b"c")
    _, segments, _ = run(io.BytesIO(data))
    assert [i for kind, i, _ in segments if kind == "header"] == [0, 1, 2]
    with pytest.raises(ValidationError) as refused:
        run(io.BytesIO(data + b"junk"))
    assert (
        str(refused.value)
        == "m.tar.gz: trailing garbage after gzip member 2 (ERROR_CODE: GZIP_CORRUPT)"
    )


def test_garbage_that_starts_like_a_member_names_the_member_before_it() -> None:
    # Read byte by byte, "\x1f" alone could start a member; the next byte shows it does not.
    data = member(b"a") + member(b"b") + b"\x1fXXXXXXXXXXXX"
    with pytest.raises(ValidationError) as refused:
        run(ShortReads(data, 1))
    assert (
        str(refused.value)
        == "m.tar.gz: trailing garbage after gzip member 1 (ERROR_CODE: GZIP_CORRUPT)"
    )


def test_a_single_zero_byte_of_padding_is_accepted() -> None:
    assert run(io.BytesIO(member(b"abc") + b"\0"))[0] == b"abc"
