"""Progress lines come early, then regularly; sizes, rates and phases read as people read them."""

from __future__ import annotations

import logging

import pytest

from dummy_training import progress


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    return now


def test_first_line_after_two_seconds_then_every_interval(
    clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    bar = progress.Progress("scan", 100_000_000, "of gzip data")
    clock[0] += 1.9
    bar.advance(1_000_000)
    assert caplog.messages == []  # quick runs stay quiet
    clock[0] += 0.1
    bar.advance(4_000_000)
    assert caplog.messages == [
        "progress: scan 5.0% of 100.0 MB of gzip data (5.0 MB done), 2.5 MB/s, ETA 38 s"
    ]
    clock[0] += progress.INTERVAL - 0.5
    bar.advance(1)
    assert len(caplog.messages) == 1
    clock[0] += 0.5
    bar.advance(20_000_000 - 1)
    assert len(caplog.messages) == 2
    assert caplog.messages[-1].startswith("progress: scan 25.0% of 100.0 MB")


def test_the_rate_is_on_the_tar_data_when_the_work_is_compressed_bytes(
    clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    bar = progress.Progress("scan", 1_000_000_000, "of gzip data", compressed=True)
    clock[0] += 4.0
    bar.data(8_000_000_000)
    bar.advance(500_000_000)
    assert caplog.messages == [
        "progress: scan 50.0% of 1.0 GB of gzip data (500.0 MB done), "
        "8.0 GB of tar data at 2000.0 MB/s, ETA 4 s"
    ]
    plain = progress.Progress("pack", 10)
    plain.data(5)  # counted only where the work is compressed bytes
    clock[0] += 2.0
    plain.advance(10)
    assert (
        caplog.messages[-1]
        == "progress: pack 100.0% of 10 bytes (10 bytes done), 0.0 MB/s, ETA 0 s"
    )


def test_an_empty_total_is_complete(clock: list[float], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    empty = progress.Progress("pack", 0)
    clock[0] += 20.0
    empty.advance(0)
    assert caplog.messages == ["progress: pack 100.0% of 0 bytes (0 bytes done), 0.0 MB/s, ETA 0 s"]


@pytest.mark.parametrize(
    ("nbytes", "human", "size"),
    [
        (0, "0 bytes", "0 bytes"),
        (1, "1 byte", "1 byte"),
        (999, "999 bytes", "999 bytes"),
        (1000, "1.0 kB", "1000 bytes (1.0 kB)"),
        (2354, "2.4 kB", "2354 bytes (2.4 kB)"),
        (999_949, "999.9 kB", "999949 bytes (999.9 kB)"),
        (999_950, "1.0 MB", "999950 bytes (1.0 MB)"),  # never "1000.0 kB"
        (9_600_000_000, "9.6 GB", "9600000000 bytes (9.6 GB)"),
        (10**22, "10000.0 EB", "10000000000000000000000 bytes (10000.0 EB)"),
    ],
)
def test_sizes_are_exact_bytes_with_si_units_beside(nbytes: int, human: str, size: str) -> None:
    assert progress.human(nbytes) == human
    assert progress.size(nbytes) == size


def test_rate_never_divides_by_zero() -> None:
    assert progress.rate(10, 0.0) == "-- MB/s"
    assert progress.rate(2_000_000, 2.0) == "1.0 MB/s"


def test_phases_add_up_in_the_order_they_began(clock: list[float]) -> None:
    phases = progress.Phases()
    with phases.timed("scan"):
        clock[0] += 1.25
    phases.add("fsync", 0.5)
    with pytest.raises(KeyError), phases.timed("pack"):
        clock[0] += 2.0
        raise KeyError("a failed phase still counts its time")
    phases.add("scan", 0.25)
    assert phases.describe() == "scan 1.50 s, fsync 0.50 s, pack 2.00 s"
    assert progress.Phases().describe() == ""


def test_the_phases_of_one_run_share_one_schedule(
    clock: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    with progress.one_schedule():
        scan = progress.Progress("scan", 100)
        clock[0] += 1.5
        scan.advance(100)  # a quick scan: quiet
        extract = progress.Progress("extract", 100)
        clock[0] += 0.5
        extract.advance(10)  # two seconds into the run, half a second into the phase
        assert [m.split(" ")[1] for m in caplog.messages] == ["extract"]
        pack = progress.Progress("pack", 100)
        clock[0] += progress.INTERVAL - 1.0
        pack.advance(10)  # a new phase does not start the interval afresh
        assert len(caplog.messages) == 1
        clock[0] += 1.0
        pack.advance(10)
        assert [m.split(" ")[1] for m in caplog.messages] == ["extract", "pack"]
    # Outside a run every Progress keeps its own schedule again.
    alone = progress.Progress("pack", 100)
    clock[0] += 1.0
    alone.advance(1)
    assert len(caplog.messages) == 2
    clock[0] += 1.0
    alone.advance(1)
    assert len(caplog.messages) == 3


def test_a_nested_schedule_is_the_outer_one(clock: list[float]) -> None:
    with progress.one_schedule():
        outer = progress.Progress("scan", 1)
        with progress.one_schedule():
            inner = progress.Progress("pack", 1)
        assert inner._schedule is outer._schedule
