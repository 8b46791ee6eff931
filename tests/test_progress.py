"""Progress lines appear for long runs and carry %, MB/s and ETA."""

from __future__ import annotations

import logging

import pytest

from dummy_training import progress


def test_progress_lines_every_interval(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    caplog.set_level(logging.INFO, logger="dummy_training")
    bar = progress.Progress("scan", 100_000_000)
    bar.advance(1_000_000)
    assert caplog.messages == []  # quick runs stay quiet
    now[0] += 10.0
    bar.advance(24_000_000)
    assert caplog.messages == [
        "progress: scan 25.0% (25000000 of 100000000 bytes), 2.5 MB/s, ETA 30 s"
    ]
    now[0] += 5.0
    bar.advance(1)
    assert len(caplog.messages) == 1
    empty = progress.Progress("pack", 0)
    now[0] += 20.0
    empty.advance(0)
    assert caplog.messages[-1] == "progress: pack 100.0% (0 of 0 bytes), 0.0 MB/s, ETA 0 s"


def test_rate_never_divides_by_zero() -> None:
    assert progress.rate(10, 0.0) == "-- MB/s"
    assert progress.rate(2_000_000, 2.0) == "1.0 MB/s"
