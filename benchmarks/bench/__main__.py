"""Command line: parse the flags, generate the archives, time the subjects, print the report."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any, Sequence

from . import helpers, report
from .builders import Archive, generate
from .common import (
    ARCHIVES,
    DEFAULT_REPEAT,
    DEFAULT_SEED,
    DEFAULT_SIZE_MIB,
    DEFAULT_WEIGHTS_MB,
    HYPERPARAMETERS,
    LEVEL,
    MB,
    MIB,
    REPO_ROOT,
    RSS_LEVEL,
    RSS_SIZES_MIB,
    TARGET_MIN_MB,
    WEIGHTS_MB_RANGE,
    BenchError,
    log,
)
from .subjects import Subject, by_key
from .subjects import build as build_subjects
from .timing import Timings, measure

PROG = "python -m benchmarks.bench"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The flags; the archive list comes back in ARCHIVES order."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Time dummy_training against cp, pigz -t, the original script and GNU "
        "tar on generated model archives, and check the targets (issue 13).",
    )
    parser.add_argument(
        "--size",
        type=float,
        default=DEFAULT_SIZE_MIB,
        metavar="MIB",
        help="uncompressed MiB of the fp32, fp16 and small-files archives together "
        f"(default {DEFAULT_SIZE_MIB:g}; split 60/20/20)",
    )
    parser.add_argument(
        "--weights-size",
        type=float,
        default=DEFAULT_WEIGHTS_MB,
        metavar="MB",
        help="uncompressed MB (10^6 bytes) of the fp32-weights archive, meant to be "
        f"{WEIGHTS_MB_RANGE[0]:g}-{WEIGHTS_MB_RANGE[1]:g} (default {DEFAULT_WEIGHTS_MB:g}; "
        f"the floor targets judge classes from {TARGET_MIN_MB:g} MB)",
    )
    parser.add_argument(
        "--repeat",
        "--best-of",
        type=int,
        default=DEFAULT_REPEAT,
        metavar="N",
        help="interleaved timed runs per subject and archive; tables show the best "
        f"(default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--archives",
        type=lambda text: text.split(","),
        default=list(ARCHIVES),
        metavar="A,B",
        help=f"which archive classes to run (default {','.join(ARCHIVES)})",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all raw timings here")
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="generate archives into DIR, keep them and reuse them next time",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--rss-check",
        action="store_true",
        help="only check auto's peak RSS on 256 MiB vs 2 GiB archives (about 5 minutes)",
    )
    mode.add_argument(
        "--full",
        action="store_true",
        help="time the classes and run the RSS check too, so that every target is checked "
        "in one run",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    ns = parser.parse_args(argv)
    if ns.size <= 0 or ns.weights_size <= 0 or ns.repeat < 1:
        parser.error("--size and --weights-size must be positive and --repeat at least 1")
    unknown = [name for name in ns.archives if name not in ARCHIVES]
    if unknown or not ns.archives:
        parser.error(f"--archives takes names from {', '.join(ARCHIVES)}")
    ns.archives = [name for name in ARCHIVES if name in ns.archives]
    return ns


def tool_version(argv: list[str]) -> str:
    """The first line of ``argv``'s output, or "missing"."""
    try:
        result = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
    except OSError:
        return "missing"
    return result.stdout.decode(errors="replace").strip().splitlines()[0]


def environment(notes: dict[str, Any]) -> dict[str, Any]:
    """What the numbers depend on besides the code: recorded in the JSON and the log."""
    return {
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
        "pigz": tool_version(["pigz", "--version"]) if shutil.which("pigz") else "missing",
        "tar": tool_version(["tar", "--version"]) if shutil.which("tar") else "missing",
        **notes,
    }


def class_archives(ns: argparse.Namespace, data_dir: Path) -> list[Archive]:
    """Generate (or reuse) the archives of the classes asked for."""
    archives = []
    for name in ns.archives:
        spec = ARCHIVES[name]
        # A share of --size, or the class's own size (the weights class stays large
        # when --size is turned down for a quick run).
        nbytes = int(ns.size * MIB * spec.share) if spec.share else int(ns.weights_size * MB)
        seed = ns.seed + spec.seed_offset
        archives.append(generate(data_dir, name, name, spec.description, seed, nbytes, LEVEL))
    return archives


def rss_archives(ns: argparse.Namespace, data_dir: Path) -> list[Archive]:
    """The float32 archives of the RSS check: 256 MiB and 2 GiB of tar, gzip level 1."""
    return [
        generate(
            data_dir,
            f"fp32-{mib}MiB",
            "fp32",
            f"float32, {mib} MiB, gzip level {RSS_LEVEL}",
            ns.seed,
            mib * MIB,
            RSS_LEVEL,
        )
        for mib in RSS_SIZES_MIB
    ]


def run_benchmark(ns: argparse.Namespace, scratch: Path, data_dir: Path) -> int:
    """Generate, measure, report; the exit status."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    hp = (json.dumps(HYPERPARAMETERS, indent=2) + "\n").encode()
    hp_path = scratch / "hyperparameters.json"
    hp_path.write_bytes(hp)
    subjects, notes = build_subjects(env, hp_path)
    meta = environment(notes)
    log("environment: " + json.dumps(meta))
    when = datetime.datetime.now(datetime.timezone.utc)

    started = time.perf_counter()
    archives: list[Archive] = []
    timings: Timings = {}
    if not ns.rss_check:
        archives = class_archives(ns, data_dir)
    generated = time.perf_counter()
    if archives:
        measure(archives, subjects, ns.repeat, env, scratch, hp, timings)
    measured = time.perf_counter()

    rss_lines: list[str] = []
    peaks: list[float] | None = None
    rss_runs: Timings = {}
    rss_inputs: list[Archive] = []
    if ns.rss_check or ns.full:
        auto = by_key(subjects, "auto")
        assert auto is not None  # build() always has an auto (or its stand-in)
        rss_inputs = rss_archives(ns, data_dir)
        measure(rss_inputs, [auto], ns.repeat, env, scratch, hp, rss_runs)
        rss_lines, peaks = report.rss_table(rss_inputs, rss_runs, ns.repeat)
    finished = time.perf_counter()

    results = report.targets(archives, subjects, timings) if archives else []
    results.append(report.rss_target(peaks))
    print(report.header(ns.repeat, meta["floor"], when) + "\n")
    if archives:
        print("\n".join(report.summary_table(archives, subjects, timings)))
        for archive in archives:
            print("\n".join(report.class_table(archive, subjects, timings)))
    if rss_lines:
        print("\n".join(rss_lines))
    print("\n".join(report.targets_table(results)))
    for subject in subjects:
        if subject.note and (archives or subject.key == "auto"):
            print(f"note: {subject.name}: {subject.note}")
    if "gnu_tar" in notes:
        print(f"note: GNU tar: {notes['gnu_tar']}")
    spent = []  # with --rss-check alone, the RSS check is all the time spent
    if archives:
        spent += [f"generation {generated - started:.1f} s"]
        spent += [f"measurement {measured - generated:.1f} s"]
    if rss_lines:
        spent.append(f"RSS check (generation included) {finished - measured:.1f} s")
    print("\n" + ", ".join(spent))
    if ns.json:
        write_json(ns, meta, when, archives, subjects, timings, results, rss_inputs, rss_runs)
    return 1 if ns.strict and report.missed(results) else 0


def write_json(
    ns: argparse.Namespace,
    meta: dict[str, Any],
    when: datetime.datetime,
    archives: list[Archive],
    subjects: list[Subject],
    timings: Timings,
    results: list[report.Target],
    rss_inputs: list[Archive],
    rss_runs: Timings,
) -> None:
    """Everything measured, raw: every run, and each subject's best and median."""
    dump: dict[str, Any] = {
        "date": when.isoformat(timespec="seconds"),
        "environment": meta,
        "repeat": ns.repeat,
        "size_mib": ns.size,
        "weights_size_mb": ns.weights_size,
        "seed": ns.seed,
        "archives": report.archives_json(archives),
        "subjects": report.subjects_json(subjects, timings),
        "targets": report.targets_json(results),
    }
    if rss_inputs:
        dump["rss_check"] = {
            "archives": report.archives_json(rss_inputs),
            "subjects": report.subjects_json(subjects, rss_runs),
            "peak_rss_mib": [report.peak_mib(rss_runs["auto"][a.name]) for a in rss_inputs],
        }
    ns.json.write_text(json.dumps(dump, indent=2) + "\n")
    log(f"wrote {ns.json}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or, with a leading ``_inflate`` etc., one helper subject)."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["_inflate"], ["_spec_literal"], ["_no_crosscheck"]):
        return helpers.main(args)  # the old bench.py entry points, still accepted
    ns = parse_args(args)
    if not hasattr(os, "wait4"):
        print(f"{PROG} needs os.wait4 (Unix)", file=sys.stderr)
        return 2
    try:
        with tempfile.TemporaryDirectory(prefix="dummy-training-bench-") as tmp:
            scratch = Path(tmp)
            data_dir = ns.keep if ns.keep else scratch / "archives"
            data_dir.mkdir(parents=True, exist_ok=True)
            return run_benchmark(ns, scratch, data_dir)
    except BenchError as exc:
        print(f"{PROG}: FAILED: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
