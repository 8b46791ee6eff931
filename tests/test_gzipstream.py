"""The gzip reader: header fields, members, trailers and what may follow them."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from archives import gz
from dummy_training.errors import ProcessingError, ValidationError
from dummy_training.gzipstream import FIELD_MAX, inflate


def run(data: bytes) -> tuple[bytes, list[tuple[str, int, bytes]], list]:  # type: ignore[type-arg]
    segments: list[tuple[str, int, bytes]] = []
    headers: list = []  # type: ignore[type-arg]
    out = b"".join(
        inflate(
            io.BytesIO(data),
            "m.tar.gz",
            on_header=lambda i, h: headers.append((i, h)),
            on_segment=lambda kind, i, chunk: segments.append((kind, i, chunk)),
        )
    )
    return out, segments, headers


def member(payload: bytes, flags: int = 0, fields: bytes = b"") -> bytes:
    head = b"\x1f\x8b\x08" + bytes([flags]) + b"\0\0\0\0\x02\x03" + fields
    body = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = body.compress(payload) + body.flush()
    return head + data + struct.pack("<II", zlib.crc32(payload), len(payload))


def test_segments_reassemble_the_input_exactly() -> None:
    data = member(b"a" * 5000) + member(b"b" * 10) + bytes(64)
    out, segments, headers = run(data)
    assert out == b"a" * 5000 + b"b" * 10
    assert b"".join(chunk for _, _, chunk in segments) == data
    assert [kind for kind, _, _ in segments if kind != "deflate"] == [
        "header",
        "trailer",
        "header",
        "trailer",
        "padding",
    ]
    assert [i for i, _ in headers] == [0, 1]


def test_header_fields_are_parsed_and_checked() -> None:
    fields = b"\x03\x00abc" + b"name\0" + b"comment\0"
    head = b"\x1f\x8b\x08\x1e\0\0\0\0\x02\x03" + fields
    crc16 = struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    body = member(b"x")[10:]
    _, _, headers = run(head + crc16 + body)
    parsed = headers[0][1]
    assert (parsed.extra, parsed.name, parsed.comment) == (b"abc", b"name", b"comment")
    assert parsed.as_json()["extra"] == "616263"
    with pytest.raises(ValidationError, match="header CRC16 mismatch"):
        run(head + b"\0\0" + body)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04" + bytes(20), "not a gzip file"),
        (b"\x1f\x8b\x07" + bytes(20), "compression method 7"),
        (b"\x1f\x8b\x08\x20" + bytes(20), "reserved gzip header flag"),
        (b"\x1f\x8b\x08", "truncated gzip header"),
        (b"\x1f\x8b\x08\x04" + bytes(6) + b"\x10\x00ab", "truncated gzip header extra field"),
        (b"\x1f\x8b\x08\x08" + bytes(6) + b"name", "truncated gzip header file name"),
        (b"\x1f\x8b\x08\x08" + bytes(6) + b"n" * (FIELD_MAX + 10), "longer than 65536 bytes"),
        (
            b"\x1f\x8b\x08\x10" + bytes(6) + b"c" * (FIELD_MAX - 5) + b"c" * 10 + b"\0",
            "longer than 65536",
        ),
        (member(b"abc")[:-8], "truncated gzip trailer"),
        (member(b"abc" * 1000)[:20], "truncated deflate data in gzip member 0"),
        (member(b"abc")[:10] + b"\xff" * 20, "corrupt deflate data"),
        (member(b"abc")[:-8] + struct.pack("<II", 1, 3), "CRC32 mismatch"),
        (member(b"abc")[:-4] + struct.pack("<I", 4), "length mismatch"),
        (member(b"abc") + b"garbage", "trailing garbage after gzip member 0"),
        (member(b"abc") + b"\x1f\x00", "trailing garbage after gzip member 0"),
        (member(b"abc") + bytes(10) + b"x", "trailing garbage after gzip member 0"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_defects(data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        run(data)


def test_read_errors_are_processing_errors() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError(5, "Input/output error")

    with pytest.raises(ProcessingError, match="read failed: Input/output error"):
        list(inflate(Broken(), "m.tar.gz"))


def test_inflate_output_is_bounded_per_chunk() -> None:
    chunks = list(inflate(io.BytesIO(gz(bytes(5 << 20))), "m.tar.gz"))
    assert sum(map(len, chunks)) == 5 << 20
    assert max(map(len, chunks)) <= 1 << 20
