"""Trees worked on through open descriptors: never through a symlink, one descriptor deep."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from dummy_training import fdtree

DEEP = ["a"] * 1100  # past the recursion limit, and past a common 1,024-descriptor limit


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_the_cursor_never_enters_a_symlink(tmp_path: Path) -> None:
    # The kernel's own check, below the tree checker: a symlink where a directory is
    # expected fails to open, whatever it points to.
    outside = tmp_path / "outside"
    outside.mkdir()
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "a").symlink_to(outside)
    with fdtree.Cursor(stage) as cursor, pytest.raises(OSError):
        cursor.reach(["a", "b"], make=True)
    assert list(outside.iterdir()) == []


def test_the_cursor_makes_missing_directories_only_when_asked(tmp_path: Path) -> None:
    with fdtree.Cursor(tmp_path) as cursor:
        with pytest.raises(FileNotFoundError):
            cursor.reach(["x", "y"])
        assert list(tmp_path.iterdir()) == []
        fd = cursor.reach(["x", "y"], make=True)
        os.mkdir("z", dir_fd=fd)
        cursor.reach(["w"], make=True)  # up two levels and down another branch
        os.mkdir("v", dir_fd=cursor.reach(["x"]))
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "w", "x", "x/v", "x/y", "x/y/z",
    ]  # fmt: skip


def test_one_descriptor_at_any_depth(tmp_path: Path) -> None:
    before = _open_descriptors()
    with fdtree.Cursor(tmp_path) as cursor:
        cursor.reach(DEEP, make=True)
        assert _open_descriptors() == before + 1
        cursor.reach(DEEP[:3])
        assert _open_descriptors() == before + 1
    assert _open_descriptors() == before
    entries = []
    for entry in fdtree.walk(tmp_path):
        entries.append(entry.relative)
        assert _open_descriptors() == before + 1
    assert entries == ["/".join(DEEP[: i + 1]) for i in range(len(DEEP))]
    fdtree.remove_tree(tmp_path / "a")
    assert list(tmp_path.iterdir()) == []
    assert _open_descriptors() == before


def test_walk_is_sorted_each_directory_before_its_contents(tmp_path: Path) -> None:
    for name in ("b/2", "b/1", "a", "c/d/e"):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / "b" / "f").write_text("")
    (tmp_path / "l").symlink_to("b")  # listed, never followed
    found = [(e.relative, e.name) for e in fdtree.walk(tmp_path)]
    assert found == [
        ("a", "a"), ("b", "b"), ("b/1", "1"), ("b/2", "2"), ("b/f", "f"), ("c", "c"),
        ("c/d", "d"), ("c/d/e", "e"), ("l", "l"),
    ]  # fmt: skip


def test_remove_tree_stops_quietly_where_it_cannot_climb_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "top" / "d" / "e").mkdir(parents=True)
    (tmp_path / "top" / "d" / "e" / "f").write_text("")
    real = os.open

    def no_parent(path: Any, *args: Any, **kw: Any) -> int:
        if path == fdtree.PARENT:
            raise PermissionError("no way up")
        return int(real(path, *args, **kw))

    monkeypatch.setattr(os, "open", no_parent)
    before = _open_descriptors()
    fdtree.remove_tree(tmp_path / "top")  # never raises
    assert _open_descriptors() == before
    # It went down removing what it could and left the directories it could not leave.
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "top", "top/d", "top/d/e",
    ]  # fmt: skip
