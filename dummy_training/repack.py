"""The reference strategy: extract safely, add hyperparameters.json, repack deterministically."""

from __future__ import annotations

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
from .errors import DummyTrainingError, ProcessingError, ValidationError
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


def _sanitized(member: tarfile.TarInfo, kind: str) -> tarfile.TarInfo:
    clean = copy.copy(member)
    if kind in ("file", "hardlink"):
        clean.mode = file_mode(member.mode)
    elif kind == "dir":
        clean.mode = dir_mode(member.mode)
    clean.uid = clean.gid = 0
    clean.uname = clean.gname = ""
    return clean


def extract_tarfile(
    tar_path: Path, extract_path: Path, members: Sequence[Member] | None = None
) -> None:
    """Extract a tar.gz into ``extract_path``, checking every member before it is written.

    The whole archive is validated first (``members`` are the scan's, when the caller
    has scanned it already), and tarfile must then yield exactly those members. The
    checks are this package's own and behave alike on every Python; where
    ``tarfile.data_filter`` exists it runs as well. Directory modes, symlink times and
    implicit parents are then fixed so that the tree depends only on the archive.
    """
    expected = scan(Path(tar_path)).members if members is None else members
    checker = TreeChecker(str(tar_path))
    dest = Path(extract_path)
    explicit_dirs: dict[Path, tarfile.TarInfo] = {}
    symlinks: list[tuple[Path, int]] = []
    parents: set[Path] = set()
    newest = count = 0
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
                newest = max(newest, int(member.mtime))
                parts = split_name(member.name)
                parents.update(dest.joinpath(*parts[:depth]) for depth in range(1, len(parts)))
                if not parts:
                    continue
                target = dest.joinpath(*parts)
                if kind == "dir":
                    explicit_dirs[target] = member
                elif kind == "symlink":
                    symlinks.append((target, int(member.mtime)))
                archive.extract(_sanitized(member, kind), dest, **options)
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValidationError(f"{tar_path}: cannot read archive: {exc}") from exc
    except OSError as exc:
        raise ProcessingError(f"{dest}: extraction failed: {exc.strerror or exc}") from exc
    _same_member(tar_path, count, None, expected)
    checker.finish()
    for target, mtime in symlinks:
        os.utime(target, (mtime, mtime), follow_symlinks=False)
    # Deepest first, so that setting a parent's time is the last change to it.
    for directory in sorted(parents | set(explicit_dirs), key=lambda p: len(p.parts), reverse=True):
        declared = explicit_dirs.get(directory)
        mode, mtime = (
            (dir_mode(declared.mode), int(declared.mtime)) if declared else (0o755, newest)
        )
        os.chmod(directory, mode)
        os.utime(directory, (mtime, mtime))


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
            f"scan read {scanned!r} (refused dialect)"
        )


def _walk(root: str, prefix: str = "") -> Iterator[tuple[str, os.stat_result]]:
    for name in sorted(os.listdir(os.path.join(root, prefix))):
        relative = prefix + name
        st = os.lstat(os.path.join(root, relative))
        yield relative, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, relative + "/")


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
        mode, mtime = stat.S_IMODE(st.st_mode) & 0o777, int(st.st_mtime)
        if stat.S_ISDIR(st.st_mode):
            gz.write(header("dir", relative + "/", mode=mode, mtime=mtime))
        elif stat.S_ISLNK(st.st_mode):
            link = os.readlink(os.path.join(root, relative))
            gz.write(header("symlink", relative, mode=0o777, mtime=mtime, linkname=link))
        elif not stat.S_ISREG(st.st_mode):
            raise ProcessingError(
                f"{os.path.join(root, relative)}: not a file, directory or symlink"
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


def _copy_data(gz: GzipWriter, path: str, size: int, progress: Progress) -> None:
    remaining = size
    with open(path, "rb") as f:
        while remaining:
            data = f.read(min(remaining, READ_CHUNK))
            if not data:
                raise ProcessingError(f"{path}: file shrank while it was being packed")
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
        raise ProcessingError(f"{parent}: cannot create work directory: {exc.strerror}") from exc
    free = shutil.disk_usage(work).free
    if needed > free:
        shutil.rmtree(work)
        raise ProcessingError(
            f"{work.parent}: the repack needs {needed} bytes to extract but only {free} are "
            "free; give --work-dir on a larger file system, or use --strategy auto"
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
        raise ProcessingError(f"{work}: repack failed: {exc.strerror or exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
