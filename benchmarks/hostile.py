"""Time each hostile shape at full size: the bounded-work table of RELIABILITY.md.

Run from a clone with no install (``tox -e hostile`` does the same)::

    python benchmarks/hostile.py [--only NAME,...] [--scale NAME=N ...] [--repack]

Each shape (tests/hostile.py) is built once at the scale that the bounded-work report
found slow, then ``python -m dummy_training`` runs on it in its own process, forked by
a small launcher that takes wall time, peak RSS and the exit code from ``os.wait4``.
The output is a Markdown table to paste into RELIABILITY.md. With ``--repack`` each
run is given a hyperparameters file and ``--strategy repack``: the extraction and the
packing of the shape's tree are timed too.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from hostile import SHAPES  # noqa: E402 (tests/ is put on the path just above)

# The scales of the bounded-work report, and the cap-sized variants of the shapes
# that a cap now refuses early.
SCALES = {
    "deep-tree": 40_000,
    "deep-unique-tree": 40_000,
    "metadata-flood": 40_000,
    "long-link-chain": 1 << 20,
    "many-empty-files": 400_000,
    "long-names-at-caps": 100_000,
    "implied-dirs": 100_000,
    "pax-header-flood": 300,
    "long-name-flood": 100_000,
    "tiny-gzip-members": 200_000,
    "huge-numbers": 20,
    "bomb": 1024,
}
EXTRA = [
    ("long-link-chain", 4000),
    ("many-empty-files", 999_000),  # with their 999 directories: the path cap, full
    ("long-names-at-caps", 999_000),
    ("implied-dirs", 999_000),
]

LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)
print(time.perf_counter() - start, usage.ru_maxrss, code)
"""


def run(model: Path, out: Path, repack: bool = False) -> tuple[float, int, int]:
    argv = [sys.executable, "-m", "dummy_training", "--model", str(model)]
    argv += ["--output-dir", str(out), "--message-file", os.devnull, "-q"]
    if repack:
        hyperparameters = model.with_name("hyperparameters.json")
        hyperparameters.write_bytes(b"{}")
        argv += ["--hyperparameters", str(hyperparameters), "--strategy", "repack"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        check=True,
        text=True,
    )
    seconds, rss_kib, code = done.stdout.split()
    return float(seconds), int(rss_kib), int(code)


def human(size: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    raise AssertionError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated shape names")
    parser.add_argument("--scale", action="append", default=[], metavar="NAME=N")
    parser.add_argument("--repack", action="store_true", help="add hyperparameters; repack")
    ns = parser.parse_args(argv)
    scales = dict(SCALES)
    scales.update((k, int(v)) for k, v in (item.split("=", 1) for item in ns.scale))
    runs = [(name, n) for name, n in scales.items()] + ([] if ns.scale else EXTRA)
    if ns.only:
        runs = [(name, n) for name, n in runs if name in ns.only.split(",")]
    print("| input shape | n | gzip size | time s | peak RSS MiB | exit |")
    print("|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="dummy-training-hostile-") as tmp:
        for name, n in runs:
            model = Path(tmp) / "model.tar.gz"
            model.write_bytes(SHAPES[name](n))
            seconds, rss_kib, code = run(model, Path(tmp) / "out", ns.repack)
            size = human(model.stat().st_size)
            print(f"| {name} | {n:,} | {size} | {seconds:.2f} | {rss_kib / 1024:.0f} | {code} |")
            sys.stdout.flush()
            model.unlink()
    mode = "--strategy repack" if ns.repack else "default strategy"
    when = time.strftime("%Y-%m-%d")
    print(f"\n{when}, {os.cpu_count()} cores, Python {sys.version.split()[0]}, {mode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
