"""The reference strategy: extract safely, add hyperparameters.json, repack deterministically."""

from __future__ import annotations

import contextlib
import copy
import gzip
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any, Iterator, Sequence

from .atomic import Written, atomic_write, ensure_directory
from .crosscheck import as_read, as_scanned
from .errors import DummyTrainingError, ProcessingError, ValidationError, os_code
from .progress import Progress
from .safety import TreeChecker, split_name
from .scan import scan
from .tarstream import Member
from .tarwrite import GzipWriter, Writable, end_of_archive, header, padding

log = logging.getLogger(__name__)

HYPERPARAMETERS_NAME = "hyperparameters.json"
LEVEL = 6
READ_CHUNK = 1 << 20


def file_mode(mode: int) -> int:
    """Permission bits of an extracted file, by the rule of PEP 706's data filter."""
    mode &= 0o755
    if not mode & 0o100:
        mode &= ~0o111
    return mode | 0o600


def dir_mode(mode: int) -> int:
    """Permission bits of an extracted directory: never group/other-writable, always ours."""
    return mode & 0o755 | 0o700


def _sanitized(member: tarfile.TarInfo, kind: str, mtime: int) -> tarfile.TarInfo:
    clean = copy.copy(member)
    if kind in ("file", "hardlink"):
        clean.mode = file_mode(member.mode)
    elif kind == "dir":
        clean.mode = dir_mode(member.mode)
    clean.uid = clean.gid = 0
    clean.uname = clean.gname = ""
    # The scan's exact integer: tarfile reads a pax mtime as a float, which rounds
    # times near 2**63 out of range (OverflowError from os.utime) and others inexactly.
    clean.mtime = mtime
    return clean


def extract_tarfile(
    tar_path: Path, extract_path: Path, members: Sequence[Member] | None = None
) -> None:
    """Extract a tar.gz into ``extract_path``, all or nothing, checking every member.

    The whole archive is validated first, with the same messages as ``validate_model``
    (``members`` are the scan's, when the caller has scanned it already), and tarfile
    must then yield exactly those members. The checks are this package's own and
    behave alike on every Python; where ``tarfile.data_filter`` exists it runs as
    well. Directory modes, times and implicit parents are then fixed so that the tree
    depends only on the archive.

    Extraction goes into a temporary directory beside ``extract_path``, on the same
    file system (inside it when it is a mount point), and is moved into place only
    once it is complete, so a failure part-way leaves nothing new at the destination.
    On success the members land inside ``extract_path`` as with a plain extraction:
    the directory and its missing parents are created, what it already holds stays,
    a directory the archive also has is merged (it takes the archive's mode and
    time), and a file or symlink at a member's path is replaced, never written
    through. A directory where the archive has a file, or the reverse, fails with
    ProcessingError before anything is moved.
    """
    expected = scan(Path(tar_path)).members if members is None else members
    dest = Path(extract_path)
    if os.path.lexists(dest) and not dest.is_dir():
        raise ProcessingError(f"{dest}: extraction failed: not a directory", "OUTPUT_NOT_WRITABLE")
    stage_parent = _stage_parent(dest)
    try:
        stage = tempfile.mkdtemp(prefix=".dummy_training-extract-", dir=stage_parent)
    except OSError as exc:
        raise _extraction_failed(dest, exc) from exc
    try:
        _extract(Path(tar_path), stage, expected)
        _check_room(stage, dest)
        dest.mkdir(parents=True, exist_ok=True)
        _move_into(stage, str(dest))
    except OSError as exc:
        raise _extraction_failed(dest, exc) from exc
    finally:
        remove_tree(stage)


def _extraction_failed(dest: Path, exc: OSError) -> ProcessingError:
    return ProcessingError(
        f"{dest}: extraction failed: {exc.strerror or exc}", os_code(exc, "OUTPUT_NOT_WRITABLE")
    )


def _stage_parent(dest: Path) -> str:
    """A directory on the file system that ``dest`` is (or will be) on, for the staging."""
    real = os.path.realpath(dest)
    if os.path.ismount(real):
        return real  # its parent is another file system, where a rename cannot reach
    parent = os.path.dirname(real)
    while not os.path.isdir(parent):
        parent = os.path.dirname(parent)  # dest's missing parents are made at the end
    return parent


# Times every file system stores; beyond them each keeps what it can (ext4 clamps
# to 1901..2446), as it does for GNU tar and bsdtar.
_PORTABLE_TIMES = range(-(1 << 31), 1 << 31)


def _extract(tar_path: Path, stage: str, expected: Sequence[Member]) -> None:
    """Extract into the empty directory ``stage``; raise on the first unsafe or unread member."""
    checker = TreeChecker(str(tar_path), quiet=True)  # the scan has said what it noticed
    explicit_dirs: dict[str, tuple[int, int]] = {}
    symlinks: list[tuple[str, int]] = []
    parents: set[str] = set()
    newest = count = 0
    unusual_time = False
    data_filter = getattr(tarfile, "data_filter", None)
    options: dict[str, Any] = {} if data_filter is None else {"filter": data_filter}
    try:
        # GzipFile under stream mode, not "r|gz": tarfile's own stream reader stops
        # silently at the end of the first gzip member and misreads FEXTRA.
        with gzip.open(tar_path, "rb") as compressed, tarfile.open(
            fileobj=compressed, mode="r|"
        ) as archive:
            # Without data_filter the checks above are the whole defence; this also
            # keeps Python 3.12+ from warning when the filter is hidden in tests.
            archive.extraction_filter = None if data_filter else (lambda member, path: member)
            for index, member in enumerate(archive):
                _same_member(tar_path, index, member, expected)
                count = index + 1
                kind = as_read(member)[1]
                checker.add(member.name, kind, member.mode, member.linkname)
                mtime = expected[index].mtime
                newest = max(newest, mtime)
                if mtime not in _PORTABLE_TIMES and not unusual_time:
                    unusual_time = True
                    log.info(
                        "%s: member %r has mtime %d, beyond what every file system stores "
                        "(1901 to 2038); it is set as is and the file system keeps what it "
                        "can, as with GNU tar and bsdtar",
                        tar_path,
                        member.name,
                        mtime,
                    )
                parts = split_name(member.name)
                if not parts:
                    continue
                relative = "/".join(parts)
                # Made here, shallowest first, so that tarfile never runs os.makedirs,
                # which recurses once per level and fails past the recursion limit.
                for parent in reversed(_add_parents(parents, relative)):
                    os.mkdir(os.path.join(stage, parent))
                if kind == "dir":
                    parents.add(relative)  # tarfile makes it; members below stop here
                    explicit_dirs[relative] = (dir_mode(member.mode), mtime)
                elif kind == "symlink":
                    symlinks.append((relative, mtime))
                archive.extract(_sanitized(member, kind, mtime), stage, **options)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValidationError(f"{tar_path}: cannot read archive: {exc}", "REFUSED_DIALECT") from exc
    _same_member(tar_path, count, None, expected)
    checker.finish()
    for relative, mtime in symlinks:
        os.utime(os.path.join(stage, relative), (mtime, mtime), follow_symlinks=False)
    # Deepest first, so that setting a parent's time is the last change to it.
    for relative in sorted(parents | explicit_dirs.keys(), key=_depth, reverse=True):
        mode, mtime = explicit_dirs.get(relative, (0o755, newest))
        directory = os.path.join(stage, relative)
        os.chmod(directory, mode)
        os.utime(directory, (mtime, mtime))


def _depth(relative: str) -> int:
    return relative.count("/")


def _add_parents(parents: set[str], relative: str) -> list[str]:
    """Add the parent directories of ``relative`` to ``parents``, which holds every
    ancestor of each path in it, and return the new ones, deepest first.

    The walk stops at the first parent known, so a member costs its name's length
    plus the new directories it brings.
    """
    added = []
    cut = relative.rfind("/")
    while cut > 0:
        parent = relative[:cut]
        if parent in parents:
            break
        parents.add(parent)
        added.append(parent)
        cut = relative.rfind("/", 0, cut)
    return added


def remove_tree(top: str | Path) -> None:
    """Remove a directory tree as far as possible, never raising.

    Unlike shutil.rmtree (before Python 3.13) it does not recurse once per level,
    which fails past the recursion limit on a tree the archive made deep.
    """
    directories = []
    pending = [os.fspath(top)]
    while pending:
        directory = pending.pop()
        directories.append(directory)
        with contextlib.suppress(OSError), os.scandir(directory) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
    for directory in reversed(directories):
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _pairs(stage: str, dest: str) -> Iterator[tuple[str, str, os.stat_result, bool]]:
    """Each staged entry: its path, its destination path, its lstat, and whether a
    directory stands at the destination too (to be merged, and descended into). A
    directory where the other side has anything else is a ProcessingError."""
    pending = [(stage, dest)]
    while pending:
        here, there = pending.pop()
        for name in sorted(os.listdir(here)):
            source, target = os.path.join(here, name), os.path.join(there, name)
            staged = os.lstat(source)
            try:
                existing = os.lstat(target)
            except FileNotFoundError:
                yield source, target, staged, False
                continue
            both = stat.S_ISDIR(staged.st_mode) and stat.S_ISDIR(existing.st_mode)
            if not both and (stat.S_ISDIR(staged.st_mode) or stat.S_ISDIR(existing.st_mode)):
                raise ProcessingError(
                    f"{dest}: extraction failed: {target} is in the way (the archive has a "
                    f"{'directory' if stat.S_ISDIR(staged.st_mode) else 'file'} there)",
                    "OUTPUT_NOT_WRITABLE",
                )
            yield source, target, staged, both
            if both:
                pending.append((source, target))


def _check_room(stage: str, dest: Path) -> None:
    """Refuse, before anything moves, a destination whose entries clash with the archive's."""
    if os.path.isdir(dest):
        for _ in _pairs(stage, str(dest)):
            pass


def _move_into(stage: str, dest: str) -> None:
    """Move the checked staged tree into ``dest``: renames only, on one file system."""
    merged: list[tuple[str, os.stat_result]] = []
    for source, target, staged, both in _pairs(stage, dest):
        if both:
            merged.append((target, staged))  # its attributes, read before it is emptied
        else:
            os.replace(source, target)
    # Moving entries in changed the merged directories' times: give them the
    # archive's, deepest first, as the extraction did.
    for target, staged in reversed(merged):
        os.chmod(target, stat.S_IMODE(staged.st_mode))
        os.utime(target, ns=(staged.st_mtime_ns, staged.st_mtime_ns))


def _same_member(
    tar_path: Path, index: int, member: tarfile.TarInfo | None, expected: Sequence[Member]
) -> None:
    # The repack must write what the scan validated, member for member; None is
    # tarfile's end of the archive.
    read = None if member is None else as_read(member)
    scanned = as_scanned(expected[index]) if index < len(expected) else None
    if read != scanned:
        raise ValidationError(
            f"{tar_path}: Python's tarfile reads tar member {index} as {read!r} where the "
            f"scan read {scanned!r}",
            "REFUSED_DIALECT",
        )


def _walk(root: str, prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
    """Every entry below ``root/prefix``, sorted, each directory followed by its contents.

    A stack, not recursion: nested generators pass each entry up through every level
    (work growing with depth) and stop at the recursion limit on a deep tree.
    """
    levels = [(prefix, iter(sorted(os.listdir(os.path.join(root, prefix)))))]
    while levels:
        here, names = levels[-1]
        for name in names:
            relative = here + name
            st = os.lstat(os.path.join(root, relative))
            yield relative, st
            if stat.S_ISDIR(st.st_mode):
                below = relative + "/"
                levels.append((below, iter(sorted(os.listdir(os.path.join(root, below))))))
                break
        else:
            levels.pop()


def write_tree(out: Writable, source_dir: Path, level: int = LEVEL) -> int:
    """Write ``source_dir`` as a deterministic tar.gz to ``out``; return the entry count.

    Entries are sorted, named relative to the directory without a ``./`` prefix, owned
    by 0/0 with empty names, and carry whole-second mtimes from the file system.
    """
    root = str(source_dir)
    entries = list(_walk(root))
    progress = Progress("pack", sum(st.st_size for _, st in entries if stat.S_ISREG(st.st_mode)))
    gz = GzipWriter(out, level)
    seen: dict[tuple[int, int], str] = {}
    for relative, st in entries:
        mode, mtime = stat.S_IMODE(st.st_mode) & 0o777, _seconds(st.st_mtime_ns)
        if stat.S_ISDIR(st.st_mode):
            gz.write(header("dir", relative + "/", mode=mode, mtime=mtime))
        elif stat.S_ISLNK(st.st_mode):
            link = os.readlink(os.path.join(root, relative))
            gz.write(header("symlink", relative, mode=0o777, mtime=mtime, linkname=link))
        elif not stat.S_ISREG(st.st_mode):
            raise ProcessingError(
                f"{os.path.join(root, relative)}: not a file, directory or symlink",
                "ENVIRONMENT_ERROR",
            )
        elif st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen:
            first = seen[(st.st_dev, st.st_ino)]
            gz.write(header("hardlink", relative, mode=mode, mtime=mtime, linkname=first))
        else:
            seen[(st.st_dev, st.st_ino)] = relative
            gz.write(header("file", relative, size=st.st_size, mode=mode, mtime=mtime))
            _copy_data(gz, os.path.join(root, relative), st.st_size, progress)
            log.debug("added %s (%d bytes)", relative, st.st_size)
    gz.write(end_of_archive())
    gz.close()
    return len(entries)


def _seconds(ns: int) -> int:
    """Whole seconds, toward zero like int(st_mtime), but exact: a float rounds a time
    near 2**63 (which tmpfs and btrfs store) up to one no tar reader takes."""
    whole = abs(ns) // 1_000_000_000
    return whole if ns >= 0 else -whole


def _copy_data(gz: GzipWriter, path: str, size: int, progress: Progress) -> None:
    remaining = size
    with open(path, "rb") as f:
        while remaining:
            data = f.read(min(remaining, READ_CHUNK))
            if not data:
                raise ProcessingError(
                    f"{path}: file shrank while it was being packed", "ENVIRONMENT_ERROR"
                )
            gz.write(data)
            progress.advance(len(data))
            remaining -= len(data)
    gz.write(padding(size))


def create_tarfile(output_tar_path: Path, source_dir: Path, level: int = LEVEL) -> Written:
    """Pack ``source_dir`` into ``output_tar_path`` atomically and deterministically."""
    ensure_directory(Path(output_tar_path).parent)
    with atomic_write(Path(output_tar_path)) as out:
        count = write_tree(out, source_dir, level)
    result = out.result()
    log.info("packed %d entries into %s (%d bytes)", count, output_tar_path, result.size)
    return result


def add_hyperparameters(tree: Path, data: bytes, mtime: int) -> None:
    """Put ``data`` at the tree's root as hyperparameters.json, replacing what was there."""
    target = tree / HYPERPARAMETERS_NAME
    if target.is_symlink() or target.exists():
        # Unlink first: writing in place would go through a symlink or into every
        # other name of a hard link.
        target.unlink()
    target.write_bytes(data)
    os.chmod(target, 0o644)
    os.utime(target, (mtime, mtime))


def repack(
    model: Path,
    hyperparameters: bytes,
    mtime: int,
    output: Path,
    work_dir: Path | None,
    needed: int = 0,
    level: int = LEVEL,
    members: Sequence[Member] | None = None,
) -> Written:
    """Extract ``model`` into a fresh work directory, add the file, and pack it to ``output``.

    ``needed`` is the extracted size; the repack refuses to start without that much room.
    """
    parent = work_dir if work_dir is not None else output.parent.parent
    try:
        work = Path(tempfile.mkdtemp(prefix=".dummy_training-work-", dir=parent))
    except OSError as exc:
        raise ProcessingError(
            f"{parent}: cannot create work directory: {exc.strerror}",
            os_code(exc, "OUTPUT_NOT_WRITABLE"),
        ) from exc
    free = shutil.disk_usage(work).free
    if needed > free:
        shutil.rmtree(work)
        raise ProcessingError(
            f"{work.parent}: the repack needs {needed} bytes to extract but only {free} are "
            "free; give --work-dir on a larger file system, or use --strategy auto",
            "DISK_FULL",
        )
    log.info("work directory: %s", work)
    try:
        tree = work / "tree"
        tree.mkdir()
        extract_tarfile(model, tree, members)
        add_hyperparameters(tree, hyperparameters, mtime)
        with atomic_write(output) as out:
            write_tree(out, tree, level)
        return out.result()
    except DummyTrainingError:
        raise
    except OSError as exc:
        raise ProcessingError(
            f"{work}: repack failed: {exc.strerror or exc}", os_code(exc, "ENVIRONMENT_ERROR")
        ) from exc
    finally:
        remove_tree(work)
