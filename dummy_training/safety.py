"""Decide whether a sequence of members is safe to extract, like PEP 706's data filter."""

from __future__ import annotations

from collections import deque
from typing import NamedTuple, Tuple

from .errors import ValidationError

# The kernel gives up on a path after 40 symlink hops (ELOOP); a chain longer than
# that cannot be meant, and CVE-2025-4517 showed that long chains fool realpath().
MAX_SYMLINK_HOPS = 40
FORBIDDEN_KINDS = {"chardev": "character device", "blockdev": "block device", "fifo": "FIFO"}

Parts = Tuple[str, ...]


class _Node(NamedTuple):
    kind: str  # "dir", "file" (regular or hard link), "symlink", or "implicit" (parent only)
    target: str  # symlink text; empty otherwise
    name: str  # as written in the archive, for messages


def split_name(name: str) -> Parts:
    """The path components of a member name, with '.' and empty components dropped."""
    return tuple(part for part in name.split("/") if part not in ("", "."))


class TreeChecker:
    """Feed members in archive order with ``add``; call ``finish`` after the last one.

    The model is a virtual file system built from the members themselves. A member
    may only be written at a path whose parents are real directories, so no write
    can pass through a symlink, and every symlink must resolve inside the root
    against the final tree, following earlier and later links alike.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._nodes: dict[Parts, _Node] = {}
        self.root_hyperparameters: str | None = None

    def _fail(self, name: str, cause: str) -> ValidationError:
        return ValidationError(f"{self._path}: unsafe member {name!r}: {cause}")

    def _locate(self, name: str, what: str) -> Parts:
        if "\0" in name:
            raise self._fail(name, f"NUL byte in {what}")
        if name.startswith("/"):
            raise self._fail(name, f"absolute {what}")
        parts = split_name(name)
        if ".." in parts:
            raise self._fail(name, f"'..' in {what}")
        for depth in range(1, len(parts)):
            node = self._nodes.get(parts[:depth])
            if node is None:
                continue
            if node.kind == "symlink":
                raise self._fail(name, f"{what} passes through symlink {node.name!r}")
            if node.kind == "file":
                raise self._fail(name, f"{what} is inside non-directory {node.name!r}")
        return parts

    def add(self, name: str, kind: str, mode: int, linkname: str) -> None:
        """Check one member against the members before it; raise ValidationError if unsafe."""
        if kind in FORBIDDEN_KINDS:
            raise self._fail(name, FORBIDDEN_KINDS[kind])
        if mode & 0o6000:
            raise self._fail(name, f"setuid/setgid mode {mode:04o}")
        parts = self._locate(name, "path")
        if not parts:
            if kind == "dir":
                return  # "./" names the root itself
            raise self._fail(name, "empty name")
        existing = self._nodes.get(parts)
        if existing is not None and not (existing.kind in ("dir", "implicit") and kind == "dir"):
            raise self._fail(name, f"duplicate of earlier member {existing.name!r}")
        node_kind = "file" if kind == "hardlink" else kind
        target = ""
        if kind == "symlink":
            if not linkname:
                raise self._fail(name, "empty symlink target")
            if linkname.startswith("/"):
                raise self._fail(name, f"absolute symlink target {linkname!r}")
            target = linkname
        elif kind == "hardlink":
            link_parts = self._locate(linkname, "hard link target")
            found = self._nodes.get(link_parts)
            if found is None:
                raise self._fail(name, f"hard link target {linkname!r} is missing")
            if found.kind != "file":
                raise self._fail(name, f"hard link target {linkname!r} is not a regular file")
        for depth in range(1, len(parts)):
            self._nodes.setdefault(parts[:depth], _Node("implicit", "", "/".join(parts[:depth])))
        self._nodes[parts] = _Node(node_kind, target, name)
        if parts == ("hyperparameters.json",):
            self.root_hyperparameters = name

    def finish(self) -> None:
        """Resolve every symlink against the complete tree."""
        hyper = self._nodes.get(("hyperparameters.json",))
        if hyper is not None and hyper.kind in ("dir", "implicit"):
            raise self._fail(hyper.name, "a directory stands where hyperparameters.json goes")
        for parts, node in self._nodes.items():
            if node.kind == "symlink":
                self._resolve(parts, node)

    def _resolve(self, parts: Parts, link: _Node) -> None:
        current = list(parts[:-1])
        queue = deque(link.target.split("/"))
        hops = 0
        while queue:
            part = queue.popleft()
            if part in ("", "."):
                continue
            if part == "..":
                if not current:
                    raise self._fail(link.name, f"symlink target {link.target!r} leaves the root")
                current.pop()
                continue
            current.append(part)
            node = self._nodes.get(tuple(current))
            if node is not None and node.kind == "symlink":
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise self._fail(
                        link.name, f"symlink chain longer than {MAX_SYMLINK_HOPS} links"
                    )
                current.pop()
                queue.extendleft(reversed(node.target.split("/")))
