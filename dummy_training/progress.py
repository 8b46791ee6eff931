"""Periodic progress lines (bytes, %, MB/s, ETA) for runs longer than ten seconds."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

INTERVAL = 10.0


def rate(nbytes: int, seconds: float) -> str:
    """Throughput as text; a zero elapsed time reads as instantaneous, not a crash."""
    if seconds <= 0:
        return "-- MB/s"
    return f"{nbytes / seconds / 1e6:.1f} MB/s"


class Progress:
    """Counts bytes done and logs a line at most every ``INTERVAL`` seconds."""

    def __init__(self, label: str, total: int) -> None:
        self._label = label
        self._total = total
        self._done = 0
        self._start = time.monotonic()
        self._next = self._start + INTERVAL

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + INTERVAL
        elapsed = now - self._start
        percent = 100.0 * self._done / self._total if self._total else 100.0
        speed = self._done / elapsed if elapsed > 0 else 0.0
        eta = (self._total - self._done) / speed if speed > 0 else 0.0
        log.info(
            "progress: %s %.1f%% (%d of %d bytes), %s, ETA %.0f s",
            self._label,
            percent,
            self._done,
            self._total,
            rate(self._done, elapsed),
            max(eta, 0.0),
        )
