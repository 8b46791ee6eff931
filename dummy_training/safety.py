"""Decide whether a sequence of members is safe to extract, like PEP 706's data filter."""

from __future__ import annotations

import logging
import re
from typing import Iterator, Tuple

from .errors import ValidationError

log = logging.getLogger(__name__)

# The kernel gives up on a path after 40 symlink hops (ELOOP); a chain longer than
# that cannot be meant, and CVE-2025-4517 showed that long chains fool realpath().
MAX_SYMLINK_HOPS = 40
FORBIDDEN_KINDS = {"chardev": "character device", "blockdev": "block device", "fifo": "FIFO"}
SETUID, SETGID, STICKY = 0o4000, 0o2000, 0o1000
# The longest file name that Linux file systems (and most others) store.
NAME_MAX = 255

Parts = Tuple[str, ...]
# A component that is not empty and not ".": those name the directory they are in.
_COMPONENT = re.compile(r"(?!\.(?:/|\Z))[^/]+")


def split_name(name: str) -> Parts:
    """The path components of a member name, with '.' and empty components dropped."""
    return tuple([part for part in name.split("/") if part not in ("", ".")])


def _components(text: str) -> Iterator[str]:
    """The components of a link target but '.', one at a time: a resolution holds its
    place in every target it passes through, which must not cost a list of each."""
    return (match.group() for match in _COMPONENT.finditer(text))


class _Node:
    """One path of the virtual tree. Directories hold their children by component, so
    reaching a path costs one lookup per component, whatever the depth."""

    __slots__ = ("children", "hops", "kind", "name", "parent", "part", "resolved", "target")

    def __init__(self, kind: str, part: str, parent: _Node | None, name: str = "") -> None:
        # "dir", "implicit" (a parent no member declared), "file" (regular or hard
        # link), "symlink", or "missing" (a path a symlink target names that no
        # member makes).
        self.kind = kind
        self.part = part
        self.parent = parent
        self.name = name  # as written in the archive; empty for implicit and missing
        self.target = ""  # a symlink's text
        self.children: dict[str, _Node] | None = {} if kind in ("dir", "implicit") else None
        # A symlink's resolution, computed once: where it leads and how many links
        # were followed on the way (-1 while it is being computed).
        self.resolved: _Node | None = None
        self.hops = 0

    def child(self, part: str) -> _Node | None:
        return None if self.children is None else self.children.get(part)

    def shown(self) -> str:
        """The member name for messages; an implicit parent's path is built only here."""
        if self.name:
            return self.name
        parts = []
        node = self
        while node.parent is not None:
            parts.append(node.part)
            node = node.parent
        return "/".join(reversed(parts))


class _TooLong(Exception):
    """The link being resolved follows more than MAX_SYMLINK_HOPS links."""


class TreeChecker:
    """Feed members in archive order with ``add``; call ``finish`` after the last one.

    The model is a virtual file system built from the members themselves. A member
    may only be written at a path whose parents are real directories, so no write
    can pass through a symlink, and every symlink must resolve inside the root
    against the final tree, following earlier and later links alike. The work is
    linear in the bytes of all names and link targets: each member walks its own
    components once, and each symlink's target is resolved once and reused by every
    link that leads through it.
    """

    def __init__(self, path: str, *, quiet: bool = False, max_implied: int | None = None) -> None:
        self._path = path
        # Every path in the tree holds a node (about 300 bytes). Members are capped
        # where they are read; names that imply many new directories each would make
        # millions more nodes from a few MB of gzip, so those are capped here.
        self._max_implied = max_implied
        self._implied = 0
        self._root = _Node("dir", "", None)
        self._links: list[_Node] = []
        # Setgid and sticky directories are worth one line per archive; a second
        # checker over the same archive (the repack's) stays quiet.
        self._noted_dir_bits = quiet
        self.root_hyperparameters: str | None = None

    def _fail(self, name: str, cause: str) -> ValidationError:
        return ValidationError(
            f"{self._path}: unsafe tar member {name!r}: {cause}", "UNSAFE_MEMBER"
        )

    def _locate(self, name: str, what: str) -> tuple[Parts, _Node, int]:
        """The components of ``name``, its deepest existing parent and that one's depth.

        The parent directory exists when the depth is ``len(parts) - 1``; below a
        missing one nothing exists.
        """
        if "\0" in name:
            raise self._fail(name, f"NUL byte in {what}")
        if name.startswith("/"):
            raise self._fail(name, f"absolute {what}")
        parts = split_name(name)
        if ".." in parts:
            raise self._fail(name, f"'..' in {what}")
        node = self._root
        depth = 0
        for part in parts[:-1]:
            # node.child(part), inlined: this loop is the scan's hottest for deep trees.
            found = None if node.children is None else node.children.get(part)
            if found is None:
                break
            if found.kind == "symlink":
                raise self._fail(name, f"{what} passes through symlink {found.name!r}")
            if found.kind == "file":
                raise self._fail(name, f"{what} is inside non-directory {found.name!r}")
            node = found
            depth += 1
        return parts, node, depth

    def add(self, name: str, kind: str, mode: int, linkname: str) -> None:
        """Check one member against the members before it; raise ValidationError if unsafe."""
        if kind in FORBIDDEN_KINDS:
            raise self._fail(name, FORBIDDEN_KINDS[kind])
        if mode & SETUID or (mode & SETGID and kind != "dir"):
            raise self._fail(name, f"setuid/setgid mode {mode:04o}")
        if kind == "dir" and mode & (SETGID | STICKY) and not self._noted_dir_bits:
            # Every directory made under a group-shared setgid directory carries the
            # bit, so refusing it would refuse whole real trees.
            self._noted_dir_bits = True
            log.info(
                "%s: directory %r has mode %04o: setgid and sticky bits on directories are "
                "accepted (a splice keeps them; a repack does not extract them)",
                self._path,
                name,
                mode,
            )
        parts, node, depth = self._locate(name, "path")
        if not parts:
            if kind == "dir":
                return  # "./" names the root itself
            raise self._fail(name, "empty name")
        for part in parts[depth:]:  # the parts above are in the tree, checked already
            # A character is at most 4 bytes of UTF-8: short parts need no encoding.
            size = len(part.encode("utf-8", "surrogateescape")) if len(part) > NAME_MAX // 4 else 0
            if size > NAME_MAX:
                # Every reader would fail to extract it (the repack with exit 3),
                # so the splice must not pass it downstream either.
                raise self._fail(
                    name, f"a path component of {size} bytes; file systems hold at most {NAME_MAX}"
                )
        made = depth == len(parts) - 1  # the parent directory exists
        existing = node.child(parts[-1]) if made else None
        if existing is not None and not (existing.kind in ("dir", "implicit") and kind == "dir"):
            raise self._fail(name, f"duplicate of earlier tar member {existing.shown()!r}")
        if kind == "symlink":
            if not linkname:
                raise self._fail(name, "empty symlink target")
            if linkname.startswith("/"):
                raise self._fail(name, f"absolute symlink target {linkname!r}")
        elif kind == "hardlink":
            link_parts, link_node, link_depth = self._locate(linkname, "hard link target")
            found = None
            if link_parts and link_depth == len(link_parts) - 1:
                found = link_node.child(link_parts[-1])
            if found is None:
                raise self._fail(name, f"hard link target {linkname!r} is missing")
            if found.kind != "file":
                raise self._fail(name, f"hard link target {linkname!r} is not a regular file")
        if existing is not None:
            existing.kind, existing.name = "dir", name  # a directory declared (again)
            return
        self._implied += len(parts) - depth - 1  # the new parents
        if self._max_implied is not None and self._implied > self._max_implied:
            raise ValidationError(
                f"{self._path}: tar member names imply more than {self._max_implied} "
                "directories without an entry of their own "
                f"(cap: --max-members {self._max_implied})",
                "CAP_EXCEEDED",
            )
        for part in parts[depth:-1]:
            # Below the first missing parent every one is new: no lookups.
            implicit = _Node("implicit", part, node)
            node.children[part] = implicit  # type: ignore[index]
            node = implicit
        leaf = _Node("file" if kind == "hardlink" else kind, parts[-1], node, name)
        node.children[parts[-1]] = leaf  # type: ignore[index]
        if kind == "symlink":
            leaf.target = linkname
            self._links.append(leaf)
        if parts == ("hyperparameters.json",):
            self.root_hyperparameters = name

    def finish(self) -> None:
        """Resolve every symlink against the complete tree."""
        hyper = self._root.child("hyperparameters.json")
        if hyper is not None and hyper.kind in ("dir", "implicit"):
            raise self._fail(hyper.shown(), "a directory stands where hyperparameters.json goes")
        for link in self._links:
            try:
                there, _ = self._follow(link, 0)
            except _TooLong:
                raise self._fail(
                    link.name, f"symlink chain longer than {MAX_SYMLINK_HOPS} links"
                ) from None
            if there is None:
                raise self._fail(link.name, f"symlink target {link.target!r} leaves the root")

    def _follow(self, link: _Node, level: int) -> tuple[_Node | None, int]:
        """Where ``link`` leads (None: out of the root) and the links followed before that.

        ``level`` is how many links the outermost resolution has entered to get here;
        it has followed at least that many, so past the hop limit it has failed.
        """
        if link.resolved is not None:
            return link.resolved, link.hops
        if link.hops < 0 or level > MAX_SYMLINK_HOPS:
            # A link met again while its own target is being resolved loops forever.
            raise _TooLong
        link.hops = -1
        here = link.parent
        assert here is not None  # every member has a parent: the root at least
        hops = 0
        for part in _components(link.target):
            if part == "..":
                if here.parent is None:
                    return None, hops
                here = here.parent
                continue
            found = here.child(part)
            if found is None:
                # Names that no member makes are followed lexically, as before.
                here = _Node("missing", part, here)
            elif found.kind == "symlink":
                there, more = self._follow(found, level + 1)
                hops += 1 + more
                if hops > MAX_SYMLINK_HOPS:
                    raise _TooLong
                if there is None:
                    return None, hops
                here = there
            else:
                here = found
        link.resolved, link.hops = here, hops
        return here, hops
