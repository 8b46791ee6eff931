"""Progress edge cases found by mutation testing: sub-second rates, SI units, slow ETAs."""

from __future__ import annotations

import logging

import pytest

from dummy_training import progress


def test_a_sub_second_run_still_has_a_rate() -> None:
    # Only a zero (or negative) elapsed time reads as "--"; half a second is a rate.
    assert progress.rate(1_500_000, 0.5) == "3.0 MB/s"
    assert progress.rate(0, 0.25) == "0.0 MB/s"


def test_rates_are_in_si_megabytes() -> None:
    # 1 MB = 10**6 bytes, not 2**20: a terabyte a second is a million MB/s exactly.
    assert progress.rate(10**12, 1.0) == "1000000.0 MB/s"


def test_a_crawling_run_still_gets_an_eta(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Under one byte a second the ETA is long, not zero.
    now = [0.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: now[0])
    caplog.set_level(logging.INFO, logger="dummy_training")
    bar = progress.Progress("scan", 105)
    now[0] = 10.0
    bar.advance(5)
    assert caplog.messages == [
        "progress: scan 4.8% of 105 bytes (5 bytes done), 0.0 MB/s, ETA 200 s"
    ]
