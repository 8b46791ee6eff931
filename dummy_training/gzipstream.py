"""Stream a gzip file member by member, checking every header field and trailer."""

from __future__ import annotations

import struct
import threading
import zlib
from collections import deque
from contextlib import contextmanager, suppress
from typing import Any, BinaryIO, Callable, Iterable, Iterator, NamedTuple, Tuple

from .errors import ProcessingError, ValidationError, not_an_archive

CHUNK = 1 << 20
FIRST_FEED = 1 << 10
# Inflate output is capped per call so a small, highly compressible input cannot
# balloon memory (a 1 MiB chunk of zeros inflates to about 1 GiB).
OUT_MAX = 1 << 20
# Input handed to zlib per call grows up to this. Well under OUT_MAX, so that output
# the cap cuts off rarely leaves a long unconsumed tail to copy; and small enough
# that input and output stay in the CPU cache.
FEED_MAX = 1 << 17
# The threaded reader hands over batches of about this many bytes, at most
# QUEUE_MAX of them waiting: memory stays flat however large the archive.
BATCH = 1 << 19
QUEUE_MAX = 4
# FNAME and FCOMMENT are NUL-terminated with no declared length; cap them so a
# header without a NUL cannot make us buffer the whole file.
FIELD_MAX = 1 << 16

FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT = 1, 2, 4, 8, 16

# Called with (kind, member index, bytes); kind is "header", "deflate", "trailer" or
# "padding". The concatenation of all calls is exactly the input file.
SegmentSink = Callable[[str, int, bytes], object]


class GzipHeader(NamedTuple):
    """The fields of one gzip member header (RFC 1952, section 2.3)."""

    flags: int
    mtime: int
    xfl: int
    os: int
    extra: bytes | None
    name: bytes | None
    comment: bytes | None

    def as_json(self) -> dict[str, object]:
        def text(value: bytes | None) -> str | None:
            return None if value is None else value.decode("latin-1")

        return {
            "flags": self.flags,
            "mtime": self.mtime,
            "xfl": self.xfl,
            "os": self.os,
            "extra": None if self.extra is None else self.extra.hex(),
            "name": text(self.name),
            "comment": text(self.comment),
        }


class _Reader:
    """Buffered reads that turn I/O errors into ProcessingError and count progress.

    Reads are slices of one buffer with a position, so that handing back the bytes a
    gzip member did not use costs nothing: a file of many tiny members stays linear.
    """

    def __init__(self, f: BinaryIO, path: str, on_read: Callable[[int], None] | None) -> None:
        self._f = f
        self._path = path
        self._buf = b""
        self._pos = 0
        self._on_read = on_read

    def chunk(self, size: int = CHUNK) -> bytes:
        """Up to ``size`` bytes; empty only at the end of the file."""
        if self._pos == len(self._buf):
            try:
                self._buf = self._f.read(CHUNK)
            except OSError as exc:
                raise ProcessingError(
                    f"{self._path}: read failed: {exc.strerror or exc}", "ENVIRONMENT_ERROR"
                ) from exc
            self._pos = 0
            if self._on_read is not None and self._buf:
                self._on_read(len(self._buf))
        data = self._buf[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def unread(self, n: int) -> None:
        """Give back the last ``n`` bytes of the latest chunk."""
        self._pos -= n

    def upto(self, n: int) -> bytes:
        """``n`` bytes, or fewer only at the end of the file."""
        parts = []
        need = n
        while need:
            more = self.chunk(need)
            if not more:
                break
            parts.append(more)
            need -= len(more)
        return b"".join(parts)

    def take(self, n: int, what: str) -> bytes:
        data = self.upto(n)
        if len(data) < n:
            raise ValidationError(f"{self._path}: truncated gzip {what}", "TRUNCATED")
        return data

    def until_nul(self, what: str) -> bytes:
        parts = []
        size = 0
        while size < FIELD_MAX:
            more = self.chunk(FIELD_MAX - size)
            if not more:
                raise ValidationError(f"{self._path}: truncated gzip {what}", "TRUNCATED")
            end = more.find(b"\0")
            if end >= 0:
                self.unread(len(more) - end - 1)
                parts.append(more[: end + 1])
                return b"".join(parts)
            parts.append(more)
            size += len(more)
        raise ValidationError(
            f"{self._path}: gzip {what} longer than {FIELD_MAX} bytes", "GZIP_CORRUPT"
        )


# What a model.tar.gz most often turns out to be instead, by its first bytes.
_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
)


def _not_gzip(head: bytes) -> str:
    """The cause for a file without gzip's magic: what it is, where the magic says."""
    what = next((what for magic, what in _SIGNATURES if head.startswith(magic)), None)
    if what is None and head[257:262] == b"ustar":
        what = "an uncompressed tar archive"
    if what is None:
        return "not a gzip file (bad magic bytes)"
    return f"not a gzip file: it is {what}; the step takes a tar compressed with gzip"


def _read_header(reader: _Reader, path: str, index: int) -> tuple[GzipHeader, bytes]:
    raw = reader.upto(10)
    if not raw.startswith(b"\x1f\x8b") and not b"\x1f\x8b".startswith(raw):
        # Checked before the header's length, so a short file that is no gzip at all
        # says so rather than "truncated".
        if index == 0:
            raise not_an_archive(path, _not_gzip(raw + reader.upto(512 - len(raw))))
        raise ValidationError(
            f"{path}: trailing garbage after gzip member {index - 1}", "GZIP_CORRUPT"
        )
    if len(raw) < 10:
        raise ValidationError(f"{path}: truncated gzip header", "TRUNCATED")
    method, flags, mtime, xfl, os_ = struct.unpack("<BBIBB", raw[2:])
    if method != 8:
        raise ValidationError(
            f"{path}: unsupported gzip compression method {method}", "GZIP_CORRUPT"
        )
    if flags & 0xE0:
        raise ValidationError(
            f"{path}: reserved gzip header flag bits set ({flags:#04x})", "GZIP_CORRUPT"
        )
    extra = name = comment = None
    if flags & FEXTRA:
        xlen = reader.take(2, "header extra field")
        extra = reader.take(struct.unpack("<H", xlen)[0], "header extra field")
        raw += xlen + extra
    if flags & FNAME:
        field = reader.until_nul("header file name")
        name, raw = field[:-1], raw + field
    if flags & FCOMMENT:
        field = reader.until_nul("header comment")
        comment, raw = field[:-1], raw + field
    if flags & FHCRC:
        stored = struct.unpack("<H", reader.take(2, "header CRC16"))[0]
        if stored != zlib.crc32(raw) & 0xFFFF:
            raise ValidationError(
                f"{path}: gzip header CRC16 mismatch in gzip member {index}", "GZIP_CORRUPT"
            )
        raw += struct.pack("<H", stored)
    return GzipHeader(flags, mtime, xfl, os_, extra, name, comment), raw


# What the reading half hands the checking half, in stream order: a header, inflated
# data, raw input bytes, a trailer. Tuples keep the hand-over cheap.
_HEADER, _DATA, _SEGMENT, _TRAILER = range(4)
Event = Tuple[Any, ...]


def inflate(
    f: BinaryIO,
    path: str,
    *,
    on_header: Callable[[int, GzipHeader], None] | None = None,
    on_segment: SegmentSink | None = None,
    on_read: Callable[[int], None] | None = None,
    on_member_end: Callable[[int, int, int], object] | None = None,
) -> Iterator[bytes]:
    """Yield the decompressed bytes of every member; raise ValidationError on any defect."""
    return _check(
        _events(f, path, on_read),
        path,
        on_header=on_header,
        on_segment=on_segment,
        on_member_end=on_member_end,
    )


def _events(f: BinaryIO, path: str, on_read: Callable[[int], None] | None) -> Iterator[Event]:
    """Read and inflate: the half that needs no CRC, so it can run apart from the rest."""
    reader = _Reader(f, path, on_read)
    index = 0
    while True:
        header, raw = _read_header(reader, path, index)
        yield _HEADER, index, header, raw
        decomp = zlib.decompressobj(-zlib.MAX_WBITS)
        # zlib copies the input it did not use when a member ends; feeding small
        # pieces first keeps that copy small when members are tiny.
        feed = FIRST_FEED
        pending = reader.chunk(feed)
        while True:
            if not pending:
                raise ValidationError(
                    f"{path}: truncated deflate data in gzip member {index}", "TRUNCATED"
                )
            try:
                out = decomp.decompress(pending, OUT_MAX)
            except zlib.error as exc:
                raise ValidationError(
                    f"{path}: corrupt deflate data in gzip member {index}: {exc}", "GZIP_CORRUPT"
                ) from exc
            if out:
                yield _DATA, out
            if decomp.eof:
                rest = decomp.unused_data
                yield _SEGMENT, "deflate", index, pending[: len(pending) - len(rest)]
                reader.unread(len(rest))
                break
            tail = decomp.unconsumed_tail
            yield _SEGMENT, "deflate", index, pending[: len(pending) - len(tail)]
            if not tail:
                feed = min(2 * feed, FEED_MAX)
            pending = tail or reader.chunk(feed)
        yield _TRAILER, index, reader.take(8, "trailer")
        index += 1
        rest = reader.chunk(2)
        if not rest:
            return
        if rest[0] == 0:
            yield from _expect_zero_padding(reader, rest, path, index)
            return
        if not b"\x1f\x8b".startswith(rest):
            raise ValidationError(
                f"{path}: trailing garbage after gzip member {index - 1}", "GZIP_CORRUPT"
            )
        reader.unread(len(rest))


def _check(
    events: Iterable[Event],
    path: str,
    *,
    on_header: Callable[[int, GzipHeader], None] | None,
    on_segment: SegmentSink | None,
    on_member_end: Callable[[int, int, int], object] | None,
) -> Iterator[bytes]:
    """The other half: CRC and length checks, the callbacks, and the inflated data."""
    emit: SegmentSink = on_segment or (lambda kind, index, data: None)
    crc = size = 0
    for event in events:
        what = event[0]
        if what == _DATA:
            out = event[1]
            crc = zlib.crc32(out, crc)
            size += len(out)
            yield out
        elif what == _SEGMENT:
            emit(event[1], event[2], event[3])
        elif what == _HEADER:
            _, index, header, raw = event
            if on_header is not None:
                on_header(index, header)
            emit("header", index, raw)
            crc = size = 0
        else:
            _, index, trailer = event
            want_crc, want_size = struct.unpack("<II", trailer)
            if want_crc != crc:
                raise ValidationError(
                    f"{path}: gzip CRC32 mismatch in gzip member {index} "
                    f"(trailer {want_crc:08x}, data {crc:08x})",
                    "GZIP_CORRUPT",
                )
            if want_size != size & 0xFFFFFFFF:
                raise ValidationError(
                    f"{path}: gzip length mismatch in gzip member {index} "
                    f"(trailer {want_size}, data {size & 0xFFFFFFFF})",
                    "GZIP_CORRUPT",
                )
            if on_member_end is not None:
                on_member_end(index, crc, size)
            emit("trailer", index, trailer)


def _expect_zero_padding(reader: _Reader, data: bytes, path: str, index: int) -> Iterator[Event]:
    # GNU gzip accepts zero padding after the last member (tape blocking); anything
    # else after it would be data no reader sees, so it is refused.
    data += reader.chunk()
    while data:
        if data.strip(b"\0"):
            raise ValidationError(
                f"{path}: trailing garbage after gzip member {index - 1}", "GZIP_CORRUPT"
            )
        yield _SEGMENT, "padding", index, data
        data = reader.chunk()


class _Closed(Exception):
    """The checking half has stopped: the reading half stops too."""


class _Handoff:
    """A bounded queue of event batches that either side can close."""

    def __init__(self, limit: int) -> None:
        self._items: deque[list[Event]] = deque()
        self._limit = limit
        self._ready = threading.Condition()
        self._closed = False
        self.peak = 0  # the most batches ever waiting, for the tests

    def put(self, batch: list[Event]) -> None:
        with self._ready:
            while len(self._items) >= self._limit and not self._closed:
                self._ready.wait()
            if self._closed:
                raise _Closed
            self._items.append(batch)
            self.peak = max(self.peak, len(self._items))
            self._ready.notify_all()

    def get(self) -> list[Event]:
        with self._ready:
            while not self._items:
                self._ready.wait()
            self._ready.notify_all()
            return self._items.popleft()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._items.clear()
            self._ready.notify_all()


# The last event of the last batch: the end of the input, or the error that ended it.
_END, _FAILED = "end", "failed"


def _produce(events: Iterator[Event], handoff: _Handoff) -> None:
    """The reading thread: batch the events up; an error travels as the last one."""
    batch: list[Event] = []
    held = 0
    try:
        for event in events:
            batch.append(event)
            held += len(event[-1])  # every event ends with its bytes
            if held >= BATCH:
                handoff.put(batch)
                batch, held = [], 0
        batch.append((_END,))
    except _Closed:
        return
    except BaseException as exc:  # re-raised by the checking thread, in its place
        batch.append((_FAILED, exc))
    with suppress(_Closed):
        handoff.put(batch)


def _received(handoff: _Handoff) -> Iterator[Event]:
    while True:
        for event in handoff.get():
            if event[0] == _END:
                return
            if event[0] == _FAILED:
                raise event[1]
            yield event


@contextmanager
def inflating(
    f: BinaryIO,
    path: str,
    *,
    on_header: Callable[[int, GzipHeader], None] | None = None,
    on_segment: SegmentSink | None = None,
    on_read: Callable[[int], None] | None = None,
    on_member_end: Callable[[int, int, int], object] | None = None,
    queue_max: int = QUEUE_MAX,
) -> Iterator[Iterator[bytes]]:
    """``inflate`` with reading and inflating in a second thread, on a second core.

    zlib, file reads, CRC32, hashing and writes all release the GIL, so the inflating
    here overlaps the checking and writing in the caller's thread. Everything the
    caller sees (data, callbacks but ``on_read``, errors) comes in the caller's
    thread in the same order as from ``inflate``; an error in the reading thread
    is raised where ``inflate`` would have raised it. On leaving the block the
    reading thread has ended, whatever happened.
    """
    handoff = _Handoff(queue_max)
    thread = threading.Thread(
        target=_produce,
        args=(_events(f, path, on_read), handoff),
        name="dummy-training-inflate",
        daemon=True,  # never keeps an interrupted process alive
    )
    thread.start()
    try:
        yield _check(
            _received(handoff),
            path,
            on_header=on_header,
            on_segment=on_segment,
            on_member_end=on_member_end,
        )
    finally:
        handoff.close()
        thread.join()
