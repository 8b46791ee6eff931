"""The two-thread scan: the same bytes, calls and errors as one thread; bounded; no leftovers."""

from __future__ import annotations

import gzip
import io
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from archives import SMALL, gz, tar_bytes, write_model
from dummy_training import main, scan, splice
from dummy_training.errors import DummyTrainingError, ProcessingError
from dummy_training.gzipstream import BATCH, inflate, inflating
from dummy_training.tarstream import iter_members

gzipstream = sys.modules["dummy_training.gzipstream"]
MiB = 1 << 20


def _random(n: int) -> bytes:
    # Seeded, so that every run of the suite reads the same archive.
    return random.Random(n).getrandbits(8 * n).to_bytes(n, "little")


# Barely compressible, so that reading runs well ahead of a slow checker.
BIG = [("model/weights.bin", "file", _random(6 * MiB)), ("model/config.json", "file", b"{}")]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return gz(tar_bytes(BIG))


def _inflaters() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dummy-training-inflate"]


class Trace:
    """Everything one pass reports, in order, and how it ended."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.pieces: list[bytes] = []
        self.error: tuple[type, str] | None = None
        self.read = 0

    def header(self, index: int, header: object) -> None:
        self.calls.append(("header", index, header))

    def segment(self, kind: str, index: int, chunk: bytes) -> None:
        self.calls.append(("segment", kind, index, len(chunk)))

    def member_end(self, index: int, crc: int, size: int) -> None:
        self.calls.append(("end", index, crc, size))

    @property
    def data(self) -> bytes:
        return b"".join(self.pieces)

    def on_read(self, n: int) -> None:
        self.read += n

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_header": self.header,
            "on_segment": self.segment,
            "on_member_end": self.member_end,
            "on_read": self.on_read,
        }

    def segments(self) -> list[tuple[Any, ...]]:
        """The segment calls merged per kind and member: only their bytes must agree."""
        merged: list[tuple[Any, ...]] = []
        for call in self.calls:
            if merged and call[0] == "segment" and merged[-1][:3] == call[:3]:
                merged[-1] = (*call[:3], merged[-1][3] + call[3])
            else:
                merged.append(call)
        return merged


def _through_tar(chunks: Iterator[bytes], trace: Trace) -> None:
    def kept() -> Iterator[bytes]:
        for chunk in chunks:
            trace.pieces.append(chunk)
            yield chunk

    for _ in iter_members(kept(), "m.tar.gz"):
        pass


def serial(data: bytes, wrap: Callable[[Trace], None] = lambda t: None) -> Trace:
    trace = Trace()
    wrap(trace)
    try:
        _through_tar(inflate(io.BytesIO(data), "m.tar.gz", **trace.callbacks()), trace)
    except DummyTrainingError as exc:
        trace.error = (type(exc), str(exc))
    return trace


def threaded(data: bytes, wrap: Callable[[Trace], None] = lambda t: None, **kw: Any) -> Trace:
    trace = Trace()
    wrap(trace)
    try:
        with inflating(io.BytesIO(data), "m.tar.gz", **trace.callbacks(), **kw) as chunks:
            _through_tar(chunks, trace)
    except DummyTrainingError as exc:
        trace.error = (type(exc), str(exc))
    assert _inflaters() == []
    return trace


def same(first: Trace, second: Trace) -> None:
    assert first.segments() == second.segments()
    assert first.data == second.data
    assert first.error == second.error


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "valid": lambda d: d,
    "deflate corrupt late": lambda d: _flip(d, len(d) - 2000),
    "crc mismatch": lambda d: _flip(d, len(d) - 8),
    "length mismatch": lambda d: _flip(d, len(d) - 1),
    "truncated": lambda d: d[: len(d) - 5000],
    "trailing garbage": lambda d: d + b"garbage",
    "garbage after padding": lambda d: d + bytes(5000) + b"x",
    "second member": lambda d: d + gzip.compress(b"", mtime=0) + bytes(100),
    "tar header early, gzip late": lambda d: _flip(gz(_flip(gzip.decompress(d), 10)), -2000),
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_the_reading_thread_changes_nothing_a_caller_sees(big: bytes, how: str) -> None:
    data = CORRUPTIONS[how](big)
    one = serial(data)
    assert (one.error is None) == (how in ("valid", "second member"))
    same(threaded(data), one)
    same(threaded(data, queue_max=1), one)


def test_every_byte_of_the_input_is_a_segment_once(big: bytes) -> None:
    data = big + gzip.compress(b"tail", mtime=0) + bytes(10)
    seen: list[bytes] = []
    with inflating(
        io.BytesIO(data), "m.tar.gz", on_segment=lambda k, i, c: seen.append(c)
    ) as chunks:
        assert b"".join(chunks) == gzip.decompress(data)
    assert b"".join(seen) == data


def test_a_read_error_surfaces_where_one_thread_raises_it(big: bytes) -> None:
    class Failing(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > len(big) // 2:
                raise OSError(5, "Input/output error")
            return super().read(size)

    trace = Trace()
    with pytest.raises(ProcessingError) as failed, inflating(
        Failing(big), "m.tar.gz", **trace.callbacks()
    ) as chunks:
        _through_tar(chunks, trace)
    assert str(failed.value) == (
        "m.tar.gz: read failed: Input/output error (ERROR_CODE: ENVIRONMENT_ERROR)"
    )
    assert len(trace.data) > len(big) // 4  # the data before the failure was all checked
    assert _inflaters() == []


class Stop(Exception):
    """A failure in the checking thread."""


@pytest.mark.parametrize("error", [Stop, KeyboardInterrupt])
def test_a_failing_checker_stops_the_reader(big: bytes, error: type[BaseException]) -> None:
    trace = Trace()

    def segment(kind: str, index: int, chunk: bytes) -> None:
        if kind == "deflate":
            raise error("stop")

    callbacks = {**trace.callbacks(), "on_segment": segment}
    with pytest.raises(error, match="stop"), inflating(
        io.BytesIO(big), "m.tar.gz", **callbacks
    ) as chunks:
        _through_tar(chunks, trace)
    assert _inflaters() == []  # joined, not left reading
    assert trace.read < len(big)  # stopped well before the end


def test_the_queue_bound_holds_while_the_checker_is_slow(
    big: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    handoffs: list[Any] = []

    class Recorded(gzipstream._Handoff):  # type: ignore[name-defined,misc]
        def __init__(self, limit: int) -> None:
            super().__init__(limit)
            handoffs.append(self)

    monkeypatch.setattr(gzipstream, "_Handoff", Recorded)
    monkeypatch.setattr(gzipstream, "BATCH", 1 << 16)
    trace = Trace()
    with inflating(io.BytesIO(big), "m.tar.gz", **trace.callbacks(), queue_max=2) as chunks:
        first = next(chunks)
        time.sleep(0.3)  # the reader fills the queue, then waits
        read_meanwhile = trace.read
        rest = b"".join(chunks)
    assert first + rest == gzip.decompress(big)
    assert handoffs[0].peak == 2
    # Two batches waiting, one being built, one being checked: each at most a batch
    # plus its last event; plus what the reader buffers.
    assert read_meanwhile <= 4 * ((1 << 16) + gzipstream.OUT_MAX) + gzipstream.CHUNK
    assert read_meanwhile < len(big)


def test_a_closed_handoff_ends_the_reader_quietly() -> None:
    handoff = gzipstream._Handoff(1)
    handoff.close()
    # Closed before the first full batch, and before the last one.
    gzipstream._produce(iter([(gzipstream._DATA, bytes(BATCH))]), handoff)
    gzipstream._produce(iter([(gzipstream._DATA, b"x")]), handoff)
    with pytest.raises(gzipstream._Closed):
        handoff.put([])


def test_the_checker_waits_for_the_reader() -> None:
    handoff = gzipstream._Handoff(1)
    batch = [(gzipstream._DATA, b"late")]
    later = threading.Timer(0.05, handoff.put, [batch])
    later.start()
    assert handoff.get() is batch
    later.join()


@pytest.mark.parametrize("where", ["checker", "reader"])
def test_a_failed_run_leaves_no_output_and_no_thread(
    where: str, big: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = write_model(tmp_path, SMALL)
    model.write_bytes(_flip(big, len(big) - 2000) if where == "reader" else big)
    if where == "checker":

        def full(self: Any, kind: str, index: int, chunk: bytes) -> None:
            if kind == "deflate":
                raise OSError(28, "No space left on device")

        monkeypatch.setattr(splice.Splicer, "segment", full)
    code = main(["--root", str(tmp_path), "-q"])
    assert code == (3 if where == "checker" else 2)
    assert os.listdir(tmp_path / "output" / "model") == []
    assert _inflaters() == []


def test_scan_errors_are_those_of_one_thread(big: bytes, tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(CORRUPTIONS["tar header early, gzip late"](big))
    expected = serial(model.read_bytes()).error
    assert expected is not None
    with pytest.raises(expected[0]) as raised:
        scan(model)
    assert str(raised.value) == expected[1].replace("m.tar.gz", str(model))
    assert _inflaters() == []
