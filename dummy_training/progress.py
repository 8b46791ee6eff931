"""How the log shows sizes, rates and phase times, and the progress lines of long runs."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger(__name__)

# The first line comes early, so a slow run is not mistaken for a hung one; later
# lines are sparse enough for CloudWatch.
FIRST = 2.0
INTERVAL = 10.0

_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB")


def human(nbytes: int) -> str:
    """A size in SI units (as the rates), e.g. ``9.6 GB``; under a kilobyte, bytes."""
    if abs(nbytes) < 1000:
        return "1 byte" if nbytes == 1 else f"{nbytes} bytes"
    value, index = nbytes / 1000.0, 0
    # What would print as 1000.0 moves up a unit.
    while abs(value) >= 999.95 and index < len(_UNITS) - 1:
        value, index = value / 1000.0, index + 1
    return f"{value:.1f} {_UNITS[index]}"


def size(nbytes: int) -> str:
    """Exact bytes for scripts, with the human size beside them for people."""
    if abs(nbytes) < 1000:
        return human(nbytes)
    return f"{nbytes} bytes ({human(nbytes)})"


def rate(nbytes: int, seconds: float) -> str:
    """Throughput as text; a zero elapsed time reads as instantaneous, not a crash."""
    if seconds <= 0:
        return "-- MB/s"
    return f"{nbytes / seconds / 1e6:.1f} MB/s"


class Phases:
    """Wall-clock time per named phase of a run, in the order the phases began."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def add_write(self, name: str, started: float, synced_in: float) -> None:
        """Time since ``started`` as ``name``, less the fsync at its end, which is
        a phase of its own."""
        self.add(name, time.monotonic() - started - synced_in)
        self.add("fsync", synced_in)

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)

    def describe(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.seconds.items())


class _Schedule:
    """When the next progress line is due: ``FIRST`` seconds in, then every ``INTERVAL``."""

    def __init__(self, start: float) -> None:
        self._next = start + FIRST

    def due(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + INTERVAL
        return True


_shared: _Schedule | None = None


@contextmanager
def one_schedule() -> Iterator[None]:
    """Within, every Progress keeps one schedule, begun on entry.

    A run has several phases (scan, extract, pack), each with its own Progress; on
    one schedule the first line still comes two seconds into the run and the lines
    stay evenly spaced across the phases, instead of each phase starting afresh.
    """
    global _shared
    outer = _shared
    _shared = _Schedule(time.monotonic()) if outer is None else outer
    try:
        yield
    finally:
        _shared = outer


class Progress:
    """Counts work done and logs a line after ``FIRST`` seconds, then every ``INTERVAL``.

    ``total`` and ``advance`` measure the work (for the percentage and the ETA), in
    bytes ``unit``. With ``compressed`` they count compressed bytes, and the rate is
    given on the tar data that ``data`` counts instead.
    """

    def __init__(self, label: str, total: int, unit: str = "", *, compressed: bool = False) -> None:
        self._label = label
        self._total = total
        self._unit = unit
        self._done = 0
        self._data: int | None = 0 if compressed else None
        self._start = time.monotonic()
        self._schedule = _Schedule(self._start) if _shared is None else _shared

    def data(self, nbytes: int) -> None:
        if self._data is not None:
            self._data += nbytes

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
        now = time.monotonic()
        if not self._schedule.due(now):
            return
        elapsed = now - self._start
        percent = 100.0 * self._done / self._total if self._total else 100.0
        speed = self._done / elapsed if elapsed > 0 else 0.0
        eta = (self._total - self._done) / speed if speed > 0 else 0.0
        if self._data is None:
            speed_text = rate(self._done, elapsed)
        else:
            speed_text = f"{human(self._data)} of tar data at {rate(self._data, elapsed)}"
        log.info(
            "progress: %s %.1f%% of %s%s (%s done), %s, ETA %.0f s",
            self._label,
            percent,
            human(self._total),
            f" {self._unit}" if self._unit else "",
            human(self._done),
            speed_text,
            max(eta, 0.0),
        )
