"""The report: per-class Markdown tables, the targets table and the JSON dump."""

from __future__ import annotations

import datetime
import os
import statistics
import sys
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from .builders import Archive
from .common import (
    MB,
    MIB,
    RSS_TOLERANCE,
    TARGET_FLOOR_RATIO,
    TARGET_MIN_MB,
    TARGET_SPEEDUP,
)
from .subjects import Subject, by_key
from .timing import Run, Timings

# The README's tables write ratios with a multiplication sign (escaped here: ruff flags
# the literal as a look-alike of "x").
TIMES = "\u00d7"
# Rows printed in bold: the headline subject of the README table.
BOLD_KEYS = ("auto",)


def best(runs: Sequence[Run]) -> Run:
    """The fastest run: on a shared machine, noise only ever adds time."""
    return min(runs, key=lambda r: r.seconds)


def median(runs: Sequence[Run]) -> float:
    """The median wall time (kept in the JSON; the tables show the best run)."""
    return statistics.median(r.seconds for r in runs)


def peak_mib(runs: Sequence[Run]) -> float:
    """The largest peak RSS of all runs, in MiB."""
    return max(r.maxrss_kib for r in runs) / 1024


def header(repeat: int, floor: str, when: datetime.datetime) -> str:
    """The line that dates a report and says what machine and method made it."""
    return (
        f"## dummy_training benchmark, {when:%Y-%m-%d %H:%M} UTC: {os.cpu_count()} cores "
        f"(os.cpu_count()), Python {sys.version.split()[0]}, best of {repeat} interleaved "
        f"runs, floor = {floor}"
    )


def describe(archive: Archive) -> str:
    """One line on an archive: files, tar size, gzip size and ratio."""
    return (
        f"{len(archive.files)} files, {archive.uncompressed / MIB:.1f} MiB "
        f"({archive.uncompressed / MB:.1f} MB) of tar, gzip -6 to "
        f"{archive.compressed / MIB:.1f} MiB "
        f"({100 * archive.compressed / archive.uncompressed:.1f}%)"
    )


def class_table(archive: Archive, subjects: list[Subject], timings: Timings) -> list[str]:
    """One class's table: seconds, ratio to the floor, tar MiB/s, CPU s and peak RSS."""
    floor_s = best(timings["floor"][archive.name]).seconds
    lines = [
        f"### {archive.name}: {archive.description}",
        "",
        describe(archive),
        "",
        f"| subject | best s | {TIMES} floor | tar MiB/s | CPU s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for subject in subjects:
        runs = timings[subject.key][archive.name]
        run = best(runs)
        cells = [
            subject.name,
            f"{run.seconds:.3f}",
            f"{run.seconds / floor_s:.2f}",
            # The rate on the uncompressed (tar) bytes: what the job processes, and
            # comparable across classes that gzip squeezes differently.
            f"{archive.uncompressed / MIB / run.seconds:.0f}",
            f"{run.user + run.system:.2f}",
            f"{peak_mib(runs):.1f}",
        ]
        if subject.key in BOLD_KEYS:
            cells[:3] = [f"**{cell}**" for cell in cells[:3]]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def summary_table(archives: list[Archive], subjects: list[Subject], timings: Timings) -> list[str]:
    """All classes in one table: the figures the README's targets quote."""
    have = {s.key for s in subjects}
    lines = [
        "### all classes",
        "",
        f"| class | tar MiB | gzip % | floor s | auto {TIMES} floor | fallback {TIMES} floor "
        "| auto tar MiB/s | spec-literal ÷ auto |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for archive in archives:

        def seconds(key: str, archive: Archive = archive) -> float:
            return best(timings[key][archive.name]).seconds

        floor_s, auto_s = seconds("floor"), seconds("auto")
        fallback = f"{seconds('fallback') / floor_s:.2f}" if "fallback" in have else "-"
        speedup = f"{seconds('spec-literal') / auto_s:.1f}" if "spec-literal" in have else "-"
        lines.append(
            f"| {archive.name} | {archive.uncompressed / MIB:.1f} | "
            f"{100 * archive.compressed / archive.uncompressed:.1f} | {floor_s:.3f} | "
            f"**{auto_s / floor_s:.2f}** | {fallback} | "
            f"{archive.uncompressed / MIB / auto_s:.0f} | {speedup} |"
        )
    return [*lines, ""]


@dataclass
class Target:
    """One target on one class: what was measured and whether it was met."""

    target: str
    scope: str  # the class (archive) it was checked on
    value: str  # what was measured, formatted
    met: bool | None  # None: not judged (a class below the size) or not run
    info: str = ""
    unjudged: str = "not judged"  # what the table says when met is None


def targets(archives: list[Archive], subjects: list[Subject], timings: Timings) -> list[Target]:
    """The speed targets on every class, side by side; small classes are shown, not judged."""
    result: list[Target] = []
    startup = timings.get("startup", {})
    for archive in archives:
        floor_s = best(timings["floor"][archive.name]).seconds
        judged = archive.uncompressed >= TARGET_MIN_MB * MB
        scope = f"{archive.name} ({archive.uncompressed / MB:.0f} MB)"
        for key in ("auto", "fallback"):
            subject = by_key(subjects, key)
            if subject is None:
                continue
            seconds = best(timings[key][archive.name]).seconds
            ratio = seconds / floor_s
            info = ""
            if archive.name in startup:
                rest = (seconds - best(startup[archive.name]).seconds) / floor_s
                info = f"{rest:.2f}x without Python start-up"
            if not judged:
                info += f"; below {TARGET_MIN_MB:.0f} MB"
            result.append(
                Target(
                    f"`{key}` <= {TARGET_FLOOR_RATIO}x the floor",
                    scope,
                    f"{ratio:.2f}x",
                    (ratio <= TARGET_FLOOR_RATIO) if judged else None,
                    info.lstrip("; "),
                )
            )
        # The speed-up over the original script: on the README's default archive (fp32)
        # as before, and on every class large enough for the floor targets.
        if (archive.kind == "fp32" or judged) and by_key(subjects, "spec-literal"):
            speedup = (
                best(timings["spec-literal"][archive.name]).seconds
                / best(timings["auto"][archive.name]).seconds
            )
            result.append(
                Target(
                    f"`auto` >= {TARGET_SPEEDUP:g}x faster than spec-literal",
                    scope,
                    f"{speedup:.2f}x",
                    speedup >= TARGET_SPEEDUP,
                )
            )
    return result


def rss_target(peaks: list[float] | None) -> Target:
    """Peak RSS flat between the small and the large --rss-check archive (or not run)."""
    name = f"`auto` peak RSS flat (±{100 * RSS_TOLERANCE:.0f}%), 256 MiB vs 2 GiB"
    if peaks is None:
        return Target(name, "--rss-check", "-", None, "use --full or --rss-check", "not run")
    growth = peaks[1] / peaks[0] - 1
    return Target(
        name,
        "--rss-check",
        f"{peaks[0]:.1f} -> {peaks[1]:.1f} MiB ({100 * growth:+.1f}%)",
        abs(growth) <= RSS_TOLERANCE,
    )


def targets_table(results: list[Target]) -> list[str]:
    """The targets as a Markdown table: met, missed, or not judged."""
    lines = [
        "### targets",
        "",
        "| target | class | measured | met | note |",
        "|---|---|---:|---|---|",
    ]
    for t in results:
        met = t.unjudged if t.met is None else "met" if t.met else "**MISSED**"
        lines.append(f"| {t.target} | {t.scope} | {t.value} | {met} | {t.info} |")
    return [*lines, ""]


def missed(results: list[Target]) -> bool:
    """Whether any judged target was missed (what --strict turns into exit status 1)."""
    return any(t.met is False for t in results)


def rss_table(archives: list[Archive], runs: Timings, repeat: int) -> tuple[list[str], list[float]]:
    """The --rss-check table and each archive's peak RSS in MiB."""
    auto = runs["auto"]
    peaks = [peak_mib(auto[a.name]) for a in archives]
    lines = [
        f"### peak RSS of `auto` (max of {repeat} runs)",
        "",
        "| archive | tar MiB | gzip MiB | best s | tar MiB/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for archive, peak in zip(archives, peaks):
        seconds = best(auto[archive.name]).seconds
        lines.append(
            f"| {archive.name} | {archive.uncompressed / MIB:.0f} | "
            f"{archive.compressed / MIB:.0f} | {seconds:.2f} | "
            f"{archive.uncompressed / MIB / seconds:.0f} | {peak:.1f} |"
        )
    return [*lines, ""], peaks


def archives_json(archives: list[Archive]) -> list[dict[str, Any]]:
    """The archives as the JSON dump lists them."""
    return [
        {
            "name": a.name,
            "class": a.kind,
            "description": a.description,
            "files": len(a.files),
            "uncompressed_bytes": a.uncompressed,
            "compressed_bytes": a.compressed,
            "compressed_ratio": round(a.compressed / a.uncompressed, 4),
        }
        for a in archives
    ]


def subjects_json(subjects: list[Subject], timings: Timings) -> list[dict[str, Any]]:
    """Every subject's raw runs, with the best and the median per archive."""
    return [
        {
            "key": s.key,
            "name": s.name,
            "note": s.note,
            "runs": {k: [asdict(r) for r in v] for k, v in timings.get(s.key, {}).items()},
            "best_seconds": {k: best(v).seconds for k, v in timings.get(s.key, {}).items()},
            "median_seconds": {k: median(v) for k, v in timings.get(s.key, {}).items()},
        }
        for s in subjects
        if s.key in timings
    ]


def targets_json(results: list[Target]) -> list[dict[str, Any]]:
    """The targets as plain dicts."""
    return [asdict(t) for t in results]
