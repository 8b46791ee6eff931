"""Atomic output: write a temporary file beside the target, fsync it, rename it into place."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from .errors import (
    DummyTrainingError,
    InputNotFoundError,
    ProcessingError,
    ValidationError,
    os_code,
)

log = logging.getLogger(__name__)


class Written(NamedTuple):
    """The size and digest of what an ``atomic_write`` block wrote."""

    size: int
    sha256: str


# Written data goes to disk behind the writes, in a second thread, every this many
# bytes: the fsync before the rename then has little left to wait for.
SYNC_BEHIND = 16 << 20


class _HashingWriter:
    """Counts and hashes on the way to the file; a patched file is hashed once, at the end."""

    def __init__(self, f: BinaryIO, hash_on_write: bool, pool: ThreadPoolExecutor) -> None:
        self._f = f
        self._sha = hashlib.sha256()
        self._hash_on_write = hash_on_write
        self._pool = pool
        self._unsynced = 0
        self._syncing: Future[None] | None = None
        self.size = 0
        # Seconds from the last write until the file and its name were on disk.
        self.synced_in = 0.0

    def write(self, data: bytes) -> int:
        if self._hash_on_write:
            self._sha.update(data)
        self.size += len(data)
        written = self._f.write(data)
        self._unsynced += len(data)
        if self._unsynced >= SYNC_BEHIND:
            self._sync_behind()
        return written

    def _sync_behind(self) -> None:
        # One sync at a time, so a slow disk never queues them up.
        if self._syncing is not None:
            if not self._syncing.done():
                return
            self._syncing.result()  # a failed sync fails the write that follows it
        self._f.flush()
        self._syncing = self._pool.submit(os.fsync, self._f.fileno())
        self._unsynced = 0

    def settle(self) -> None:
        """Wait for the sync behind the writes, raising its error."""
        if self._syncing is not None:
            self._syncing.result()

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite bytes written earlier, keeping the length."""
        self._f.seek(offset)
        self._f.write(data)
        self._f.seek(0, os.SEEK_END)

    def finish(self) -> None:
        """Hash a patched file from disk (pread: the file position is left alone)."""
        if not self._hash_on_write:
            fd, offset = self._f.fileno(), 0
            while True:
                block = os.pread(fd, 1 << 20, offset)
                if not block:
                    break
                self._sha.update(block)
                offset += len(block)

    def result(self) -> Written:
        return Written(self.size, self._sha.hexdigest())


def ensure_directory(directory: Path) -> bool:
    """Create ``directory`` and its parents; ProcessingError if that is impossible.

    Returns True, as the original step's function does (its tests assert it).
    """
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProcessingError(
            f"{directory}: cannot create output directory: {exc.strerror}",
            os_code(exc, "OUTPUT_NOT_WRITABLE"),
        ) from exc
    return True


def _unnamed(directory: Path) -> int | None:
    """An unnamed file in ``directory`` (Linux O_TMPFILE), or None where there is none.

    Until it is linked it has no name, so a run killed part-way leaves nothing behind.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        return os.open(directory, flag | os.O_RDWR, 0o600)
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return None  # the file system cannot; a named temporary file will do
        raise


def _link(fd: int, target: Path) -> Path | None:
    """Give the unnamed file a name: ``target`` itself if free, else a temporary name."""
    # A directory fd makes os.link use linkat() with AT_SYMLINK_FOLLOW on every
    # Python; plain link() would try to link the /proc magic symlink itself.
    proc = os.open("/proc/self", os.O_RDONLY)
    try:
        try:
            os.link(f"fd/{fd}", target, src_dir_fd=proc)
            return None
        except FileExistsError:
            temporary = target.parent / f".{target.name}.{os.getpid()}.{fd}.tmp"
            os.link(f"fd/{fd}", temporary, src_dir_fd=proc)
            return temporary
    finally:
        os.close(proc)


@contextmanager
def atomic_write(target: Path, *, patched: bool = False) -> Iterator[_HashingWriter]:
    """Yield a writer for ``target``; on any failure no trace of it remains.

    An existing ``target`` is replaced only after the new content is complete and on
    disk; before that it is left untouched. ``patched`` writers may overwrite what
    they wrote; their digest is computed from the file at the end.
    """
    target = Path(target)
    tmp: Path | None = None
    try:
        fd = _unnamed(target.parent)
        if fd is None:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            tmp = Path(name)
    except OSError as exc:
        raise ProcessingError(
            f"{target.parent}: cannot write in output directory: {exc.strerror}",
            os_code(exc, "OUTPUT_NOT_WRITABLE"),
        ) from exc
    try:
        # The pool's thread is joined before the file is closed, whatever happens.
        with os.fdopen(fd, "w+b") as f, ThreadPoolExecutor(1) as pool:
            writer = _HashingWriter(f, hash_on_write=not patched, pool=pool)
            yield writer
            syncing = time.monotonic()
            f.flush()
            os.fchmod(f.fileno(), 0o644)
            writer.settle()
            # Flushing to disk and hashing (both release the GIL) overlap.
            synced = pool.submit(os.fsync, f.fileno())
            writer.finish()
            synced.result()
            if tmp is None:
                tmp = _link(f.fileno(), target)
        if tmp is not None:
            os.replace(tmp, target)
    except BaseException as exc:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, DummyTrainingError):
            raise ProcessingError(
                f"{target}: write failed: {exc.strerror or exc}",
                os_code(exc, "ENVIRONMENT_ERROR"),
            ) from exc
        raise
    _fsync_directory(target.parent)
    writer.synced_in = time.monotonic() - syncing


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_file(src: Path, dst: Path) -> Written:
    """Copy ``src`` to ``dst`` atomically, creating the destination's directory."""
    ensure_directory(Path(dst).parent)
    try:
        # Opened before atomic_write so a missing source leaves no temporary file.
        source = open(src, "rb")  # noqa: SIM115
    except FileNotFoundError:
        raise InputNotFoundError(f"{src}: file not found", "FILE_NOT_FOUND") from None
    except IsADirectoryError:
        raise ValidationError(f"{src}: is a directory, not a file", "IS_DIRECTORY") from None
    except OSError as exc:
        # As for the model archive: there, but not to be read by this step.
        raise InputNotFoundError(f"{src}: cannot be opened: {exc.strerror}") from exc
    with source, atomic_write(Path(dst)) as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return out.result()
