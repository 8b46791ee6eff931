"""The timing loop: every subject in its own process, best-of-N interleaved runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence

from .builders import Archive
from .common import BenchError, log
from .subjects import Subject, verify


@dataclass
class Run:
    """One timed process."""

    seconds: float
    user: float
    system: float
    maxrss_kib: int


# subject key -> archive name -> runs, in the order they ran
Timings = Dict[str, Dict[str, List[Run]]]


# The launcher forks and execs the subject and reports its rusage. It exists because
# ru_maxrss counts the memory a child had before exec: a child forked (or vforked) from
# this process would start from our own RSS, tens of MiB after generating. Forked from a
# bare ``python -S`` instead, a subject's floor is the launcher's ~5 MiB. Timing in the
# launcher leaves its own start-up out of the wall time.
LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    except OSError as exc:
        sys.stderr.write("%s: %s\\n" % (sys.argv[2], exc))
        sys.stderr.flush()
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
with open(sys.argv[1], "w") as f:
    f.write("%d %r %r %r %d" % (code, seconds, usage.ru_utime, usage.ru_stime, usage.ru_maxrss))
"""


def run_timed(argv: Sequence[str], env: dict[str, str], log_dir: Path) -> Run:
    """Run ``argv`` to completion; its wall time, CPU time and peak RSS (with children)."""
    out_path, err_path, result_path = (log_dir / n for n in ("stdout", "stderr", "rusage"))
    launcher = [sys.executable, "-S", "-E", "-c", LAUNCHER, str(result_path), *argv]
    if result_path.exists():
        result_path.unlink()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        returncode = subprocess.run(
            launcher, stdout=out, stderr=err, env=env, check=False
        ).returncode
    try:
        fields = result_path.read_text().split()
    except OSError:
        fields = []
    if returncode != 0 or len(fields) != 5 or fields[0] != "0":
        tail = err_path.read_text(errors="replace")[-2000:]
        what = f"exit status {fields[0]}" if returncode == 0 else f"launcher exit {returncode}"
        raise BenchError(f"{what} from {' '.join(argv)}\n{tail}")
    rss = int(fields[4])
    if sys.platform == "darwin":  # bytes there, KiB on Linux
        rss //= 1024
    return Run(float(fields[1]), float(fields[2]), float(fields[3]), rss)


def measure(
    archives: list[Archive],
    subjects: list[Subject],
    repeat: int,
    env: dict[str, str],
    scratch: Path,
    hp: bytes,
    timings: Timings,
) -> None:
    """Time every subject on every archive ``repeat`` times into ``timings``.

    Runs are interleaved: each round runs every subject once, so slow drift of a shared
    machine (another job starting, the CPU throttling) spreads over all of them instead
    of landing on one; the report then takes each subject's best run. One archive at a
    time, so that it stays in the page cache for all its rounds. The first run of every
    subject is checked before its time counts; a wrong output aborts the benchmark.
    """
    for archive in archives:
        for rep in range(repeat):
            for index, subject in enumerate(subjects):
                base = scratch / f"run-{index}"
                out_dir, work_dir = base / "out", base / "work"
                shutil.rmtree(base, ignore_errors=True)
                out_dir.mkdir(parents=True)
                work_dir.mkdir()
                run = run_timed(subject.argv(archive, out_dir, work_dir), env, base)
                if rep == 0:
                    verify(subject, archive, out_dir, hp)
                timings.setdefault(subject.key, {}).setdefault(archive.name, []).append(run)
                shutil.rmtree(base)
                log(
                    f"[{archive.name}] {subject.name} {rep + 1}/{repeat}: "
                    f"{run.seconds:.2f} s, {run.maxrss_kib / 1024:.0f} MiB"
                )
