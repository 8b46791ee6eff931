"""Directory trees worked on through open descriptors, one path component per system call."""

from __future__ import annotations

import contextlib
import os
import stat
from typing import Iterator, NamedTuple, Sequence

# Never through a symlink: every directory is entered by name from its parent, and a
# symlink (or anything else) there fails to open instead of being followed.
DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
# The parent of a directory entered as above: the one it was entered from.
PARENT = ".."


def open_directory(path: str | os.PathLike[str]) -> int:
    """An open descriptor of the directory ``path`` (not a symlink to one)."""
    return os.open(path, DIRECTORY)


class Cursor:
    """An open directory below ``root`` that moves from path to path.

    A full path makes the kernel walk every component again on each system call, so a
    tree of d levels costs d² to build or read by full paths. The cursor keeps one
    descriptor and moves by single components: reaching a path costs the components
    that differ from the last one reached, and one descriptor is open at any depth.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._fd = open_directory(root)
        self._parts: list[str] = []

    def reach(self, parts: Sequence[str], make: bool = False) -> int:
        """The descriptor of the directory ``parts`` below the root, valid until the next
        move; with ``make``, missing directories on the way are created (mode 0o700)."""
        same = 0
        limit = min(len(parts), len(self._parts))
        while same < limit and parts[same] == self._parts[same]:
            same += 1
        while len(self._parts) > same:
            self._move(os.open(PARENT, DIRECTORY, dir_fd=self._fd))
            self._parts.pop()
        for part in parts[same:]:
            self._move(_enter(self._fd, part, make))
            self._parts.append(part)
        return self._fd

    def _move(self, fd: int) -> None:
        os.close(self._fd)
        self._fd = fd

    def close(self) -> None:
        os.close(self._fd)

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _enter(fd: int, part: str, make: bool) -> int:
    try:
        return os.open(part, DIRECTORY, dir_fd=fd)
    except FileNotFoundError:
        if not make:
            raise
    os.mkdir(part, 0o700, dir_fd=fd)
    return os.open(part, DIRECTORY, dir_fd=fd)


class Entry(NamedTuple):
    """One entry of a walk: its path relative to the top, its lstat, and its own name in
    the directory ``parent`` (a descriptor valid until the walk moves on)."""

    relative: str
    st: os.stat_result
    parent: int
    name: str


def walk(top: str | os.PathLike[str]) -> Iterator[Entry]:
    """Every entry below ``top``, sorted, each directory followed by its contents.

    One open descriptor, whatever the depth, and a stack rather than recursion, which
    would stop at the recursion limit on a deep tree.
    """
    fd = open_directory(top)
    try:
        levels = [("", iter(sorted(os.listdir(fd))))]
        while levels:
            here, names = levels[-1]
            for name in names:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                yield Entry(here + name, st, fd, name)
                if stat.S_ISDIR(st.st_mode):
                    below = os.open(name, DIRECTORY, dir_fd=fd)
                    os.close(fd)
                    fd = below
                    levels.append((here + name + "/", iter(sorted(os.listdir(fd)))))
                    break
            else:
                levels.pop()
                if levels:
                    above = os.open(PARENT, DIRECTORY, dir_fd=fd)
                    os.close(fd)
                    fd = above
    finally:
        os.close(fd)


def remove_tree(top: str | os.PathLike[str]) -> None:
    """Remove a directory tree as far as possible, never raising.

    Unlike shutil.rmtree (before Python 3.13) it neither recurses once per level nor
    hands the kernel a full path per entry; symlinks are removed, never followed.
    """
    try:
        fd = open_directory(top)
    except OSError:
        with contextlib.suppress(OSError):
            os.rmdir(top)
        return
    # Each level: the name it was entered by, and its subdirectories still to remove.
    levels: list[tuple[str, list[str]]] = [("", _clear(fd))]
    try:
        while levels:
            name, pending = levels[-1]
            if pending:
                child = pending.pop()
                with contextlib.suppress(OSError):
                    below = os.open(child, DIRECTORY, dir_fd=fd)
                    os.close(fd)
                    fd = below
                    levels.append((child, _clear(fd)))
                continue
            levels.pop()
            if levels:
                above = os.open(PARENT, DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = above
                with contextlib.suppress(OSError):
                    os.rmdir(name, dir_fd=fd)
    except OSError:
        pass  # cannot climb back: leave the rest rather than guess where we are
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(top)


def _clear(fd: int) -> list[str]:
    """Unlink every non-directory in ``fd``; return the subdirectories' names."""
    directories = []
    with contextlib.suppress(OSError):
        for name in os.listdir(fd):
            with contextlib.suppress(OSError):
                if stat.S_ISDIR(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
                    directories.append(name)
                else:
                    os.unlink(name, dir_fd=fd)
    return directories
