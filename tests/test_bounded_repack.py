"""The repack's file-system work is linear in the bytes of the names, at any depth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import pytest

from archives import gz
from dummy_training import main, scan
from dummy_training.tarstream import Limits
from dummy_training.tarwrite import end_of_archive, header, padding

# Every os function the repack (or tarfile, tempfile and os.path under it) could hand
# a path to. The kernel walks a path one component at a time, so the bytes of path
# given to it are the work of its lookups, and the calls are the work of the rest.
PATH_CALLS = (
    "open", "mkdir", "stat", "lstat", "listdir", "scandir", "chmod", "utime", "symlink",
    "link", "unlink", "rmdir", "readlink", "rename", "replace",
)  # fmt: skip
# Each file brings its own chain of directories, which the file system charges for
# (about 2 ms each to make and remove on ext4 with discard): few files, many levels.
FILES = 4


class Work:
    def __init__(self) -> None:
        self.calls = 0
        self.path_bytes = 0


def _count(monkeypatch: pytest.MonkeyPatch) -> Work:
    work = Work()

    def counting(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kw: Any) -> Any:
            work.calls += 1
            for arg in args[:2]:
                if isinstance(arg, (str, bytes, os.PathLike)):
                    work.path_bytes += len(os.fsencode(arg))
            return real(*args, **kw)

        return call

    for name in PATH_CALLS:
        monkeypatch.setattr(os, name, counting(getattr(os, name)))
    return work


def _deep_archive(path: Path, files: int, depth: int) -> int:
    """``files`` files ``depth`` levels deep, each under a top directory of its own (so
    every one brings ``depth`` new directories), with a declared directory, a symlink
    and a hard link beside each; return the bytes of all names and link targets."""
    tar = b""
    for i in range(files):
        stem = f"t{i}/" + "/".join(["d"] * (depth - 2))
        tar += header("dir", f"{stem}/", mode=0o750, mtime=1)
        tar += header("file", f"{stem}/f", size=1, mode=0o644, mtime=1) + b"x" + padding(1)
        tar += header("symlink", f"{stem}/s", mode=0o777, mtime=1, linkname="f")
        tar += header("hardlink", f"{stem}/h", mode=0o644, mtime=1, linkname=f"{stem}/f")
    path.parent.mkdir(parents=True)
    path.write_bytes(gz(tar + end_of_archive()))
    return sum(
        len(m.name) + len(m.linkname) for m in scan(path, limits=Limits(max_depth=depth)).members
    )


def _repack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, depth: int) -> tuple[int, Work]:
    """Repack a deep archive; return its name bytes and the work of the repack."""
    root = tmp_path / str(depth)
    names = _deep_archive(root / "input" / "model" / "model.tar.gz", FILES, depth)
    (root / "input" / "config").mkdir()
    (root / "input" / "config" / "hyperparameters.json").write_bytes(b"{}")
    args = ["--root", str(root), "-q", "--strategy", "repack", "--max-depth", str(depth)]
    work = _count(monkeypatch)
    assert main(args) == 0
    monkeypatch.undo()
    output = scan(root / "output" / "model" / "model.tar.gz", limits=Limits(max_depth=depth))
    assert len(output.members) == FILES * (depth + 2) + 1  # the tree, hyperparameters.json
    return names, work


def test_a_deep_repack_costs_a_constant_per_name_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # By full paths (tarfile.extract, its data_filter's realpath, the packer's walk and
    # the clean-up) each of a member's directories cost a path as deep as itself: from
    # 16 to 256 levels the path bytes grew 47 times as fast as the name bytes, and
    # 440 times them at 256. Relative to open directories, one component per call, the
    # work grows with the names, whatever the depth; the fixed part (the work
    # directory, staging and output paths) cancels out between depths.
    runs = [_repack(tmp_path, monkeypatch, depth) for depth in (16, 64, 256)]
    for (names, work), (more_names, more_work) in zip(runs, runs[1:]):
        added = more_names - names
        assert more_work.path_bytes - work.path_bytes <= 4 * added, (work.path_bytes, names)
        assert more_work.calls - work.calls <= 4 * added, (work.calls, names)
