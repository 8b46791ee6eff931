"""Subjects: the commands timed on every archive, and the check of each one's output."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, List

from .builders import Archive
from .common import HYPERPARAMETERS_NAME, MIB, BenchError

HELPERS = Path(__file__).resolve().parent / "helpers.py"
OUTPUT_NAME = "model.tar.gz"

# (archive, out_dir, work_dir) -> argv
Argv = Callable[[Archive, Path, Path], List[str]]


@dataclass
class Subject:
    """One way of doing (part of) the job; ``argv`` builds its command for an archive."""

    key: str  # stable id: JSON, targets and code refer to subjects by it
    name: str  # as the tables show it
    argv: Argv
    check: str  # "copy" (byte-identical to the input), "output" (input + hp) or "none"
    note: str = ""


def _normal(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name


def _same_bytes(a: Path, b: Path) -> bool:
    with open(a, "rb") as x, open(b, "rb") as y:
        while True:
            p, q = x.read(MIB), y.read(MIB)
            if p != q:
                return False
            if not p:
                return True


def verify(subject: Subject, archive: Archive, out_dir: Path, hp: bytes) -> None:
    """Fail unless the subject's output is right: a copy, or input files + hyperparameters."""
    if subject.check == "none":
        return
    out = out_dir / OUTPUT_NAME
    if not out.is_file():
        raise BenchError(f"{subject.name}: wrote no {out}")
    if subject.check == "copy":
        if not _same_bytes(archive.path, out):
            raise BenchError(f"{subject.name}: {out} differs from {archive.path}")
        return
    found: bytes | None = None
    names = []
    try:
        with tarfile.open(out, "r:gz") as tar:
            for member in tar:
                name = _normal(member.name)
                if member.isfile():
                    names.append(name)
                if name == HYPERPARAMETERS_NAME:
                    stream = tar.extractfile(member)
                    found = stream.read() if stream else None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise BenchError(f"{subject.name}: {out} does not read as tar.gz: {exc}") from exc
    if found != hp:
        raise BenchError(f"{subject.name}: {out} has no {HYPERPARAMETERS_NAME} with our bytes")
    expected = sorted([*archive.files, HYPERPARAMETERS_NAME])
    if sorted(names) != expected:
        missing = sorted(set(expected) - set(names))[:5]
        extra = sorted(set(names) - set(expected))[:5]
        raise BenchError(
            f"{subject.name}: {out} has the wrong files; missing {missing}, extra {extra}"
        )


def cli_flags(env: dict[str, str]) -> str:
    """``python -m dummy_training --help``: which flags this checkout's CLI has.

    Only the help text is read, never the log lines of a run (their wording may change).
    """
    result = subprocess.run(
        [sys.executable, "-m", "dummy_training", "--help"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        check=False,
    )
    text = result.stdout.decode(errors="replace")
    if result.returncode != 0:
        raise BenchError(f"python -m dummy_training --help failed:\n{text}")
    return text


def gnu_tar() -> str | None:
    """The path of GNU tar (``tar`` or ``gtar``), or None."""
    for name in ("tar", "gtar"):
        path = shutil.which(name)
        if path:
            result = subprocess.run([path, "--version"], stdout=subprocess.PIPE, check=False)
            if b"GNU tar" in result.stdout:
                return path
    return None


def build(env: dict[str, str], hp_path: Path) -> tuple[list[Subject], dict[str, Any]]:
    """The subjects this machine can run, in table order, and notes on what was chosen."""
    py = sys.executable
    helpers = str(HELPERS)
    flags = cli_flags(env)
    has_strategy = "--strategy" in flags
    has_message_file = "--message-file" in flags
    has_root = "--root" in flags
    notes: dict[str, Any] = {"strategy_flag": has_strategy}
    result: list[Subject] = []

    cp = shutil.which("cp")
    if cp:
        result.append(
            Subject("cp", "cp", lambda a, o, w: [cp, str(a.path), str(o / OUTPUT_NAME)], "copy")
        )
    else:
        copy = "import shutil,sys; shutil.copyfile(sys.argv[1], sys.argv[2])"
        result.append(
            Subject(
                "cp",
                "cp (Python)",
                lambda a, o, w: [py, "-c", copy, str(a.path), str(o / OUTPUT_NAME)],
                "copy",
            )
        )

    pigz = shutil.which("pigz")
    inflate = Subject(
        "inflate",
        "zlib inflate (Python)",
        lambda a, o, w: [py, helpers, "_inflate", str(a.path)],
        "none",
    )
    if pigz:
        result.append(
            Subject("floor", "floor: `pigz -t`", lambda a, o, w: [pigz, "-t", str(a.path)], "none")
        )
        result.append(inflate)
        notes["floor"] = "pigz -t"
    else:
        # No pigz: the Python inflate is the floor (it checks the CRC-32 and ISIZE too).
        inflate.key, inflate.name = "floor", "floor: zlib inflate (Python)"
        result.append(inflate)
        notes["floor"] = "zlib inflate (python); pigz not on PATH"

    result.append(
        Subject(
            "startup",
            "Python start-up and import alone",
            lambda a, o, w: [py, "-m", "dummy_training", "--version"],
            "none",
            note="`python -m dummy_training --version`: interpreter and package import, "
            "the fixed cost inside every dummy_training row",
        )
    )

    def dummy(strategy: str | None, hyperparameters: bool = True) -> Argv:
        def argv(a: Archive, o: Path, w: Path) -> list[str]:
            cmd = [py, "-m", "dummy_training", "--model", str(a.path)]
            if hyperparameters:
                cmd += ["--hyperparameters", str(hp_path)]
            elif has_root:
                # No --hyperparameters: the CLI looks for ROOT/input/config/
                # hyperparameters.json, which is not there, so it runs in fallback mode.
                cmd += ["--root", str(w / "root")]
            cmd += ["--output-dir", str(o), "--work-dir", str(w), "-q"]
            if has_message_file:
                cmd += ["--message-file", str(w / "message")]
            if strategy:
                cmd += ["--strategy", strategy]
            return cmd

        return argv

    if has_strategy:
        result.append(Subject("auto", "dummy_training auto (splice)", dummy("auto"), "output"))
        unchecked = dummy("auto")
        result.append(
            Subject(
                "auto-nocheck",
                "dummy_training auto, no tarfile cross-check",
                # [py, "-m", "dummy_training", ...] -> [py, helpers, "_no_crosscheck", ...]
                lambda a, o, w: [py, helpers, "_no_crosscheck", *unchecked(a, o, w)[3:]],
                "output",
                note="auto with the scan's tarfile cross-check switched off: the "
                "difference to the auto row is that check's cost",
            )
        )
    else:
        result.append(
            Subject(
                "auto",
                "dummy_training (no --strategy flag)",
                dummy(None),
                "output",
                note="the CLI has no --strategy yet: its built-in behaviour, "
                "standing in for auto in the targets",
            )
        )
    result.append(
        Subject(
            "fallback",
            "dummy_training fallback copy (no hyperparameters)",
            dummy(None, hyperparameters=False),
            "copy",
            note="no hyperparameters file: validate, then copy the archive unchanged",
        )
    )
    if has_strategy:
        result.append(Subject("repack", "dummy_training repack", dummy("repack"), "output"))

    result.append(
        Subject(
            "spec-literal",
            "spec-literal (tarfile, level 9)",
            lambda a, o, w: [
                py,
                helpers,
                "_spec_literal",
                str(a.path),
                str(hp_path),
                str(o),
                str(w),
            ],
            "output",
        )
    )

    tar = gnu_tar()
    if tar:
        script = (
            'set -e; mkdir -p "$2"; "$5" -xzf "$1" -C "$2"; '
            'cp "$3" "$2/hyperparameters.json"; "$5" -czf "$4" -C "$2" .'
        )
        result.append(
            Subject(
                "gnu-tar",
                "GNU tar -xzf + -czf",
                lambda a, o, w: [
                    "sh",
                    "-c",
                    script,
                    "sh",
                    str(a.path),
                    str(w / "tree"),
                    str(hp_path),
                    str(o / OUTPUT_NAME),
                    tar,
                ],
                "output",
            )
        )
    else:
        notes["gnu_tar"] = "skipped: GNU tar not found"
    return result, notes


def by_key(subjects: list[Subject], key: str) -> Subject | None:
    """The subject with ``key``, or None when this machine or CLI does not have it."""
    return next((s for s in subjects if s.key == key), None)
