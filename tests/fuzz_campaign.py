"""The long fuzzing campaign behind ``tox -e fuzz``: random archives for a time budget.

Runs the same strategies and invariants as tests/test_properties.py, in batches with
fresh seeds until the budget is spent, and prints how many inputs were tried and how
many failed. Exit status 1 when any input broke an invariant.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from invariants import check_run
from strategies import archives, mutated_archives

BATCH = 100


def batch(number: int, workspace: Path, tally: Counter[str]) -> None:
    """One batch of ``BATCH`` inputs; raises the first broken invariant, shrunk."""

    @seed(number)
    @settings(
        max_examples=BATCH,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.sampled_from(["valid", "mutated"]), st.data(), st.sampled_from(["auto", "repack"]))
    def one(kind: str, data: st.DataObject, strategy: str) -> None:
        archive = data.draw(archives() if kind == "valid" else mutated_archives())
        code, log = check_run(archive, workspace, strategy)
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
    started = time.monotonic()
    number = args.seed
    with tempfile.TemporaryDirectory() as scratch:
        while time.monotonic() - started < args.seconds:
            try:
                batch(number, Path(scratch) / "job", tally)
            except Exception as exc:  # a broken invariant: keep it and go on
                failures.append(f"seed {number}: {exc!r}"[:2000])
            number += 1
    elapsed = time.monotonic() - started
    tried = sum(tally.values())
    print(f"fuzz: {tried} inputs tried in {elapsed:.0f} s (first seed {args.seed})")
    for key in sorted(tally):
        print(f"  {key}: {tally[key]}")
    print(f"fuzz: {len(failures)} failed")
    for failure in failures:
        print(f"  {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
