"""The long differential campaign behind ``tox -e differential``.

Generates header-level tar variants (tests/differential.py) from consecutive seeds for
a time budget, on several worker processes, and checks each with the scanner, the step
and the real readers (tests/differential_check.py). Prints how many archives were
tried, accepted, refused and accepted-but-read-differently, per family, and the rate.
Exit status 1 when any archive was accepted but read differently (or broke the step);
those archives are saved with a note on what differed, and ``--replay SEED`` checks one
seed again.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from differential import generate
from differential_check import Checker
from readers import READERS, ReaderError, interpreter, unavailable

PYTHONS = [f"python3.{minor}" for minor in range(7, 14)]

_checker: Checker | None = None


def _start_worker(scratch: str, readers: list[str], pythons: list[str | None], save: Path) -> None:
    global _checker
    _checker = Checker(Path(scratch) / str(os.getpid()), readers, pythons, save=save)


def _run_batch(first: int, count: int) -> tuple[Counter[str], list[str]]:
    assert _checker is not None
    verdicts = _checker.check([(s, generate(s)) for s in range(first, first + count)])
    tally: Counter[str] = Counter()
    for v in verdicts:
        tally[f"{v.case.family} {v.outcome}"] += 1
    return tally, [v.report() for v in verdicts if v.outcome == "diverged"]


def _pythons(all_pythons: bool) -> list[str | None]:
    if not all_pythons:
        return [None]
    found: list[str | None] = []
    for python in PYTHONS:
        try:
            found.append(interpreter(python))
        except (ReaderError, OSError) as exc:
            print(f"differential: no {python} ({str(exc).splitlines()[0]})", file=sys.stderr)
    return found


def _summary(tally: Counter[str], elapsed: float, first_seed: int) -> None:
    outcomes: Counter[str] = Counter()
    families: dict[str, Counter[str]] = {}
    for key, n in tally.items():
        family, outcome = key.split(" ")
        outcomes[outcome] += n
        families.setdefault(family, Counter())[outcome] += n
    tried = sum(outcomes.values())
    rate = tried / elapsed * 60 if elapsed else 0.0
    print(
        f"differential: {tried} archives in {elapsed:.0f} s ({rate:.0f} per minute), "
        f"seeds {first_seed} to {first_seed + tried - 1}"
    )
    print(
        f"  accepted {outcomes['accepted']}, refused {outcomes['refused']}, "
        f"accepted but read differently {outcomes['diverged']}"
    )
    for family in sorted(families):
        c = families[family]
        print(
            f"  {family:13} tried {sum(c.values()):6}  accepted {c['accepted']:6}  "
            f"refused {c['refused']:6}  diverged {c['diverged']:4}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="time budget")
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(1 << 40))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50, help="archives per reader call")
    parser.add_argument(
        "--pythons", action="store_true", help="check the tarfile of every Python 3.7-3.13"
    )
    parser.add_argument("--save", type=Path, help="where diverging archives go")
    parser.add_argument("--replay", type=int, metavar="SEED", help="check this seed only")
    args = parser.parse_args(argv)

    missing = [f"{r}: {why}" for r in READERS if (why := unavailable(r)) is not None]
    if missing:
        print("differential: " + "; ".join(missing), file=sys.stderr)
        return 2
    pythons = _pythons(args.pythons)
    save = args.save or Path(tempfile.gettempdir()) / "differential-findings"
    # Scratch space in memory where there is some: the step fsyncs every output.
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(prefix="differential-", dir=shm) as scratch:
        if args.replay is not None:
            checker = Checker(Path(scratch), list(READERS), pythons, save=save)
            [verdict] = checker.check([(args.replay, generate(args.replay))])
            print(f"{verdict.outcome}: {verdict.report()}")
            return 1 if verdict.outcome == "diverged" else 0
        return _campaign(args, scratch, pythons, save)


def _campaign(args: argparse.Namespace, scratch: str, pythons: list[str | None], save: Path) -> int:
    tally: Counter[str] = Counter()
    reports: list[str] = []
    started = time.monotonic()
    deadline = started + args.seconds
    next_seed = args.seed
    context = multiprocessing.get_context("fork" if sys.platform != "win32" else "spawn")
    with context.Pool(args.workers, _start_worker, (scratch, list(READERS), pythons, save)) as pool:
        pending = []
        while pending or time.monotonic() < deadline:
            # A few batches in flight per worker keep both cores busy to the end.
            while time.monotonic() < deadline and len(pending) < 2 * args.workers:
                pending.append(pool.apply_async(_run_batch, (next_seed, args.batch)))
                next_seed += args.batch
            done = [p for p in pending if p.ready()]
            if not done:
                time.sleep(0.02)
                continue
            for p in done:
                pending.remove(p)
                batch_tally, batch_reports = p.get()
                tally.update(batch_tally)
                reports.extend(batch_reports)
    elapsed = time.monotonic() - started
    _summary(tally, elapsed, args.seed)
    if pythons != [None]:
        print(f"  tarfile of {', '.join(p for p in pythons if p)}")
    for report in reports:
        print(report)
    if reports:
        print(f"differential: diverging archives saved in {save}")
    return 1 if reports else 0


if __name__ == "__main__":
    raise SystemExit(main())
