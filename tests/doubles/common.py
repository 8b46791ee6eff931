"""Shared by the broken doubles: the reference CLI, its paths, and an archive rewriter."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path
from typing import Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dummy_training.cli import main as reference
from dummy_training.contract import Paths, resolve

__all__ = ["paths", "reference", "rewrite"]


def paths(argv: Sequence[str]) -> Paths:
    """The paths the reference CLI would use for these arguments."""
    flags = dict(zip(argv[::2], (Path(a) for a in argv[1::2])))
    return resolve(
        flags.get("--root"),
        flags.get("--model"),
        flags.get("--hyperparameters"),
        flags.get("--output-dir"),
    )


def rewrite(archive: Path, change: Callable[[tarfile.TarInfo], tarfile.TarInfo | None]) -> None:
    """Rewrite ``archive`` in place, member by member, through ``change`` (None drops one)."""
    buffer = io.BytesIO()
    with tarfile.open(archive, "r:gz") as src, tarfile.open(fileobj=buffer, mode="w:gz") as dst:
        for member in src:
            data = src.extractfile(member) if member.isreg() else None
            kept = change(member)
            if kept is not None:
                dst.addfile(kept, data)
    archive.write_bytes(buffer.getvalue())
