"""The reference strategy: extract safely, add hyperparameters.json, repack deterministically."""

from __future__ import annotations

import contextlib
import gzip
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

from .atomic import Written, atomic_write, ensure_directory
from .crosscheck import as_read, as_scanned
from .errors import (
    DummyTrainingError,
    InputNotFoundError,
    ProcessingError,
    ValidationError,
    os_code,
)
from .fdtree import Cursor, open_directory, remove_tree, walk
from .progress import Phases, Progress, size
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


def extract_tarfile(
    tar_path: Path, extract_path: Path, members: Sequence[Member] | None = None
) -> None:
    """Extract a tar.gz into ``extract_path``, all or nothing, checking every member.

    The whole archive is validated first, with the same messages as ``validate_model``
    (``members`` are the scan's, when the caller has scanned it already), and tarfile
    must then yield exactly those members. The checks are this package's own and
    behave alike on every Python, and every write is made relative to a directory
    opened without following symlinks, so the kernel itself keeps the extraction
    inside. Modes follow ``tarfile.data_filter``'s rules; directory modes, times and
    implicit parents are then fixed so that the tree depends only on the archive.

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

# gzip.BadGzipFile is new in Python 3.8. Python 3.7's gzip raises a bare OSError, with
# no errno, for the same faults (not gzip, bad CRC or length, unknown method).
_BAD_GZIP = getattr(gzip, "BadGzipFile", OSError)


def _extract(tar_path: Path, stage: str, expected: Sequence[Member]) -> None:
    """Extract into the empty directory ``stage``; raise on the first unsafe or unread member.

    tarfile reads; the writes are this package's own, made relative to open
    directories reached one component at a time without following any symlink
    (fdtree), so the kernel keeps them inside ``stage`` on every Python and the work
    is linear in the bytes of the names. tarfile.extract would hand the kernel full
    paths, and its data_filter resolves each member's path with realpath(), one
    lstat of a growing path per level: both cost the square of the depth.
    """
    checker = TreeChecker(str(tar_path), quiet=True)  # the scan has said what it noticed
    # Explicit directories' modes and times, by inode: they are set once all is written.
    explicit: dict[int, tuple[int, int]] = {}
    newest = count = 0
    unusual_time = False
    file_data = sum(m.size for m in expected if m.kind == "file")
    progress = Progress("extract", file_data, "of file data")
    try:
        # GzipFile under stream mode, not "r|gz": tarfile's own stream reader stops
        # silently at the end of the first gzip member and misreads FEXTRA.
        with gzip.open(tar_path, "rb") as compressed, tarfile.open(
            fileobj=compressed, mode="r|"
        ) as archive, Cursor(stage) as cursor, Cursor(stage) as sources:
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
                        "%s: tar member %r has mtime %d, beyond what every file system stores "
                        "(1901 to 2038); it is set as is and the file system keeps what it "
                        "can, as with GNU tar and bsdtar",
                        tar_path,
                        member.name,
                        mtime,
                    )
                parts = split_name(member.name)
                if parts:  # "./" names the stage itself, whose mode and time are not kept
                    where = cursor.reach(parts[:-1], make=True)
                    _make(
                        archive, member, kind, mtime, where, parts[-1], sources, explicit, progress
                    )
    except (tarfile.TarError, EOFError, zlib.error, _BAD_GZIP) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise  # the system's, not the archive's (only Python 3.7 catches it here)
        raise ValidationError(f"{tar_path}: cannot read archive: {exc}", "REFUSED_DIALECT") from exc
    _same_member(tar_path, count, None, expected)
    checker.finish()
    # Only entries made in a directory change its time, so the order does not matter.
    for entry in walk(stage):
        if stat.S_ISDIR(entry.st.st_mode):
            mode, mtime = explicit.get(entry.st.st_ino, (0o755, newest))
            os.chmod(entry.name, mode, dir_fd=entry.parent)
            os.utime(entry.name, (mtime, mtime), dir_fd=entry.parent, follow_symlinks=False)


def _make(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    kind: str,
    mtime: int,
    where: int,
    name: str,
    sources: Cursor,
    explicit: dict[int, tuple[int, int]],
    progress: Progress,
) -> None:
    """Make one member as ``name`` in the open directory ``where``.

    The checker has refused duplicates (but of directories), so nothing stands at
    ``name`` unless it is a directory already. Modes follow PEP 706's data filter.
    """
    if kind == "dir":
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=where)
        inode = os.stat(name, dir_fd=where, follow_symlinks=False).st_ino
        explicit[inode] = (dir_mode(member.mode), mtime)
    elif kind == "symlink":
        os.symlink(member.linkname, name, dir_fd=where)
        os.utime(name, (mtime, mtime), dir_fd=where, follow_symlinks=False)
    elif kind == "hardlink":
        target = split_name(member.linkname)
        source = sources.reach(target[:-1])
        os.link(target[-1], name, src_dir_fd=source, dst_dir_fd=where, follow_symlinks=False)
        # As tarfile does: a hard link's mode and time are its inode's.
        os.chmod(name, file_mode(member.mode), dir_fd=where)
        os.utime(name, (mtime, mtime), dir_fd=where)
    else:
        _make_file(archive, member, mtime, where, name, progress)


def _make_file(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    mtime: int,
    where: int,
    name: str,
    progress: Progress,
) -> None:
    data = archive.extractfile(member)
    assert data is not None  # a regular file: the kinds above are the only others
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(name, flags, 0o600, dir_fd=where)
    try:
        with open(fd, "wb", closefd=False) as out:
            # Progress inside the file: one large weights file is most of the work.
            for chunk in iter(lambda: data.read(READ_CHUNK), b""):
                out.write(chunk)
                progress.advance(len(chunk))
        os.chmod(fd, file_mode(member.mode))
        os.utime(fd, (mtime, mtime))
    finally:
        os.close(fd)


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


def write_tree(
    out: Writable, source_dir: Path, level: int = LEVEL, file_data: int | None = None
) -> int:
    """Write ``source_dir`` as a deterministic tar.gz to ``out``; return the entry count.

    Entries are sorted, named relative to the directory without a ``./`` prefix, owned
    by 0/0 with empty names, and carry whole-second mtimes from the file system.
    ``file_data`` is the bytes of file data to pack, for progress, when the caller
    knows it; otherwise the tree is walked once more to add it up.
    """
    if file_data is None:
        file_data = sum(e.st.st_size for e in walk(source_dir) if stat.S_ISREG(e.st.st_mode))
    progress = Progress("pack", file_data, "of file data")
    gz = GzipWriter(out, level)
    seen: dict[tuple[int, int], str] = {}
    count = 0
    for relative, st, parent, name in walk(source_dir):
        count += 1
        mode, mtime = stat.S_IMODE(st.st_mode) & 0o777, _seconds(st.st_mtime_ns)
        if stat.S_ISDIR(st.st_mode):
            gz.write(header("dir", relative + "/", mode=mode, mtime=mtime))
        elif stat.S_ISLNK(st.st_mode):
            link = os.readlink(name, dir_fd=parent)
            gz.write(header("symlink", relative, mode=0o777, mtime=mtime, linkname=link))
        elif not stat.S_ISREG(st.st_mode):
            raise ProcessingError(
                f"{os.path.join(source_dir, relative)}: not a file, directory or symlink",
                "ENVIRONMENT_ERROR",
            )
        elif st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen:
            first = seen[(st.st_dev, st.st_ino)]
            gz.write(header("hardlink", relative, mode=mode, mtime=mtime, linkname=first))
        else:
            seen[(st.st_dev, st.st_ino)] = relative
            gz.write(header("file", relative, size=st.st_size, mode=mode, mtime=mtime))
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=parent)
            with open(fd, "rb") as f:
                _copy_data(gz, f, os.path.join(source_dir, relative), st.st_size, progress)
            log.debug("added %s (%d bytes)", relative, st.st_size)
    gz.write(end_of_archive())
    gz.close()
    return count


def _seconds(ns: int) -> int:
    """Whole seconds, toward zero like int(st_mtime), but exact: a float rounds a time
    near 2**63 (which tmpfs and btrfs store) up to one no tar reader takes."""
    whole = abs(ns) // 1_000_000_000
    return whole if ns >= 0 else -whole


def _copy_data(gz: GzipWriter, f: BinaryIO, path: str, size: int, progress: Progress) -> None:
    remaining = size
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
    """Pack ``source_dir`` into ``output_tar_path`` atomically and deterministically.

    A missing ``source_dir`` raises InputNotFoundError, one that is not a directory
    (or cannot be read) ProcessingError; both name the source, not the output.
    """
    _check_source(Path(source_dir))
    ensure_directory(Path(output_tar_path).parent)
    with atomic_write(Path(output_tar_path)) as out:
        count = write_tree(out, source_dir, level)
    result = out.result()
    log.info("packed %d tar members into %s: %s", count, output_tar_path, size(result.size))
    return result


def _check_source(source_dir: Path) -> None:
    # Checked before the output is opened: inside atomic_write the same OSError would
    # read as the output's ("write failed"), naming the wrong path.
    try:
        fd = open_directory(source_dir)
    except FileNotFoundError:
        raise InputNotFoundError(f"{source_dir}: source directory not found") from None
    except OSError as exc:
        # Not a directory, or unreadable: it exists, so not FILE_NOT_FOUND. No
        # validation code fits a directory (they describe the model and the
        # hyperparameters), and the package's callers pack a tree they built
        # themselves, so a failure reading it is the environment's: ProcessingError,
        # ENVIRONMENT_ERROR ("a read error"), as for a FIFO found inside the tree.
        raise ProcessingError(
            f"{source_dir}: source directory cannot be read: {exc.strerror}",
            "ENVIRONMENT_ERROR",
        ) from exc
    os.close(fd)


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
    phases: Phases | None = None,
) -> Written:
    """Extract ``model`` into a fresh work directory, add the file, and pack it to ``output``.

    ``needed`` is the extracted size; the repack refuses to start without that much room.
    ``phases`` receives the time of the extraction, the packing and the fsync.
    """
    phases = Phases() if phases is None else phases
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
            f"{work.parent}: the repack needs {size(needed)} to extract but only {size(free)} "
            "are free; give --work-dir on a larger file system, or use --strategy auto",
            "DISK_FULL",
        )
    log.info("work directory: %s", work)
    try:
        tree = work / "tree"
        tree.mkdir()
        with phases.timed("repack extract"):
            extract_tarfile(model, tree, members)
            add_hyperparameters(tree, hyperparameters, mtime)
        started = time.monotonic()
        with atomic_write(output) as out:
            write_tree(out, tree, level, needed or None)
        phases.add_write("repack pack", started, out.synced_in)
        return out.result()
    except DummyTrainingError:
        raise
    except OSError as exc:
        raise ProcessingError(
            f"{work}: repack failed: {exc.strerror or exc}", os_code(exc, "ENVIRONMENT_ERROR")
        ) from exc
    finally:
        remove_tree(work)
