"""Helpers shared by the tests: fixture cases, trees read with the stdlib only, log cleanup."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tarfile
from pathlib import Path
from typing import Any, Dict

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "fixtures" / "cases"

Entry = Dict[str, Any]


def case_ids() -> list[str]:
    return sorted(p.name for p in CASES.iterdir() if (p / "case.json").is_file())


def load_case(case_id: str) -> dict[str, Any]:
    return json.loads((CASES / case_id / "case.json").read_text(encoding="utf-8"))


def copy_case(case_id: str, dest: Path) -> Path:
    """A private copy of the case, so a run can never touch the committed fixture."""
    root = dest / case_id
    shutil.copytree(CASES / case_id, root, symlinks=True)
    (root / "case.json").unlink()
    for keep in root.rglob(".keep"):
        keep.unlink()
    return root


def expand(args: list[str], case: dict[str, Any], root: Path) -> list[str]:
    values = {
        "{root}": str(root),
        "{model}": str(root / case["model"]),
        "{hyperparameters}": str(root / case["hyperparameters"]),
        "{output_dir}": str(root / case["output_dir"]),
    }
    out = []
    for arg in args:
        for key, value in values.items():
            arg = arg.replace(key, value)
        out.append(arg)
    return out


def snapshot_files(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``: proves inputs unchanged and nothing stray."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def tree_of(archive: Path) -> list[Entry]:
    """The tree a PEP 706 'data' extraction of ``archive`` gives, read with tarfile alone."""
    entries: dict[str, Entry] = {}
    inodes: dict[str, list[str]] = {}
    with tarfile.open(archive, "r:gz") as tf:
        for ti in tf:
            parts = [p for p in ti.name.split("/") if p not in ("", ".")]
            if not parts:
                continue
            for depth in range(1, len(parts)):
                entries.setdefault("/".join(parts[:depth]), _entry("dir", None))
            path = "/".join(parts)
            if ti.isreg():
                data = tf.extractfile(ti).read()  # type: ignore[union-attr]
                entries[path] = file_entry(data, ti.mode)
            elif ti.islnk():
                target = "/".join(p for p in ti.linkname.split("/") if p not in ("", "."))
                # One inode: extracting a link chmods every name it already has.
                group = inodes.setdefault(target, [target])
                group.append(path)
                inodes[path] = group
                entries[path] = dict(entries[target])
                for name in group:
                    entries[name]["mode"] = file_entry(b"", ti.mode)["mode"]
            elif ti.isdir():
                entries[path] = _entry("dir", f"{ti.mode & 0o755 | 0o700:04o}")
            else:
                assert ti.issym(), ti
                entries[path] = {**_entry("symlink", None), "target": ti.linkname}
    return [{"path": k, **v} for k, v in sorted(entries.items())]


def _entry(kind: str, mode: str | None) -> Entry:
    return {"type": kind, "size": None, "sha256": None, "target": None, "mode": mode}


def file_entry(data: bytes, mode: int) -> Entry:
    """A file's tree entry, with its mode as PEP 706's data filter leaves it."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return {
        "type": "file",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "target": None,
        "mode": f"{mode | 0o600:04o}",
    }


def comparable(actual: list[Entry], expected: list[Entry]) -> list[Entry]:
    """``actual`` with the modes the expectation leaves open (null) blanked out."""
    open_modes = {e["path"] for e in expected if e["mode"] is None}
    return [{**e, "mode": None} if e["path"] in open_modes else e for e in actual]


_WORK = re.compile(r"\.dummy_training-work-[A-Za-z0-9_]+")
# Times and rates vary from run to run; the phases named, and the sizes, do not.
_SECONDS = re.compile(r"\b[0-9]+\.[0-9]+ s\b")
_RATE = re.compile(r"\bat [0-9.]+ MB/s")
_RUNTIME = re.compile(r"^(INFO: dummy_training \S+ on Python) .*$", re.M)
# Compressed bytes depend on the zlib build; the manifest pins the content instead.
_WROTE = re.compile(r"(wrote .*): \d+ bytes( \([0-9.]+ [kMG]B\))?, sha256 [0-9a-f]{64}")
_PROGRESS = re.compile(r"^INFO: progress: .*$", re.M)


def normalize_log(text: str, root: Path) -> list[str]:
    """Log lines with paths as placeholders and timings and throughput removed."""
    text = text.replace(str(root), "{root}")
    text = _WORK.sub(".dummy_training-work-*", text)
    text = _SECONDS.sub("* s", text)
    text = _RATE.sub("at * MB/s", text)
    text = _RUNTIME.sub(r"\1 *", text)
    text = _WROTE.sub(r"\1: * bytes, sha256 *", text)
    text = _PROGRESS.sub("", text)
    return [line for line in text.splitlines() if line]
