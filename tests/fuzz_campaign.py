"""The long fuzzing campaign behind ``tox -e fuzz``: random archives for a time budget.

Runs the same strategies and invariants as tests/test_properties.py, in batches with
fresh seeds until the budget is spent, and prints how many inputs were tried and how
many failed. A third of the inputs are hostile shapes (tests/hostile.py: deep trees,
long links, header floods, tiny gzip members, huge numbers, bombs) at random scales;
the slowest input and the campaign's peak RSS are printed too. Exit status 1 when any
input broke an invariant.
"""

from __future__ import annotations

import argparse
import random
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from hostile import SHAPES
from invariants import check_run
from strategies import archives, mutated_archives

BATCH = 100
# The largest scale drawn for each hostile shape: big enough to show a quadratic
# path, small enough for a few hundred of them in a campaign.
HOSTILE_SCALES = {
    "deep-tree": 2000,
    "deep-unique-tree": 2000,
    "metadata-flood": 2000,
    "long-names-at-caps": 20_000,
    "implied-dirs": 20_000,
    "long-link-chain": 8000,
    "many-empty-files": 20_000,
    "pax-header-flood": 8,
    "long-name-flood": 2000,
    "tiny-gzip-members": 20_000,
    "huge-numbers": 24,
    "bomb": 64,
}


def hostile(data: st.DataObject) -> tuple[str, bytes]:
    name = data.draw(st.sampled_from(sorted(SHAPES)))
    n = data.draw(st.integers(1, HOSTILE_SCALES[name]))
    return f"{name}({n})", SHAPES[name](n)


def batch(
    number: int, workspace: Path, tally: Counter[str], slowest: list[tuple[float, str]]
) -> None:
    """One batch of ``BATCH`` inputs; raises the first broken invariant, shrunk."""

    @seed(number)
    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        st.sampled_from(["valid", "mutated", "hostile"]),
        st.data(),
        st.sampled_from(["auto", "repack"]),
    )
    def one(kind: str, data: st.DataObject, strategy: str) -> None:
        if kind == "hostile":
            what, archive = hostile(data)
        else:
            what = kind
            archive = data.draw(archives() if kind == "valid" else mutated_archives())
        started = time.monotonic()
        code, log = check_run(archive, workspace, strategy)
        slowest.append((time.monotonic() - started, f"{what}, {strategy}, exit {code}"))
        slowest.sort(reverse=True)
        del slowest[1:]
        if kind == "valid":
            assert code == 0, log
        tally[f"{kind} exit {code}"] += 1

    one()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget")
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 30))
    args = parser.parse_args(argv)
    tally: Counter[str] = Counter()
    failures: list[str] = []
    slowest: list[tuple[float, str]] = []
    started = time.monotonic()
    number = args.seed
    with tempfile.TemporaryDirectory() as scratch:
        while time.monotonic() - started < args.seconds:
            try:
                batch(number, Path(scratch) / "job", tally, slowest)
            except Exception as exc:  # a broken invariant: keep it and go on
                failures.append(f"seed {number}: {exc!r}"[:2000])
            number += 1
    elapsed = time.monotonic() - started
    tried = sum(tally.values())
    print(f"fuzz: {tried} inputs tried in {elapsed:.0f} s (first seed {args.seed})")
    for key in sorted(tally):
        print(f"  {key}: {tally[key]}")
    for seconds, what in slowest:
        print(f"fuzz: slowest input {what}: {seconds:.2f} s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fuzz: peak RSS of the campaign process {peak:.0f} MiB")
    print(f"fuzz: {len(failures)} failed")
    for failure in failures:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
