"""Atomic output: write a temporary file beside the target, fsync it, rename it into place."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from .errors import DummyTrainingError, InputNotFoundError, ProcessingError

log = logging.getLogger(__name__)


class Written(NamedTuple):
    """The size and digest of what an ``atomic_write`` block wrote."""

    size: int
    sha256: str


class _HashingWriter:
    """Counts and hashes on the way to the file, so the output is read back only if patched."""

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._sha = hashlib.sha256()
        self._patched = False
        self.size = 0

    def write(self, data: bytes) -> int:
        self._sha.update(data)
        self.size += len(data)
        return self._f.write(data)

    def patch(self, offset: int, data: bytes) -> None:
        """Overwrite bytes written earlier (same length); the digest is then recomputed."""
        self._f.seek(offset)
        self._f.write(data)
        self._f.seek(0, os.SEEK_END)
        self._patched = True

    def _rehash(self) -> None:
        if self._patched:
            self._f.seek(0)
            self._sha = hashlib.sha256()
            for block in iter(lambda: self._f.read(1 << 20), b""):
                self._sha.update(block)

    def result(self) -> Written:
        return Written(self.size, self._sha.hexdigest())


def ensure_directory(directory: Path) -> None:
    """Create ``directory`` and its parents; ProcessingError if that is impossible."""
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProcessingError(
            f"{directory}: cannot create output directory: {exc.strerror}"
        ) from exc


@contextmanager
def atomic_write(target: Path) -> Iterator[_HashingWriter]:
    """Yield a writer for ``target``; on any failure no trace of it remains.

    An existing ``target`` is replaced only after the new content is complete and on
    disk; before that it is left untouched.
    """
    target = Path(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ProcessingError(
            f"{target.parent}: cannot write in output directory: {exc.strerror}"
        ) from exc
    try:
        with os.fdopen(fd, "w+b") as f:
            writer = _HashingWriter(f)
            yield writer
            writer._rehash()
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException as exc:
        os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, DummyTrainingError):
            raise ProcessingError(f"{target}: write failed: {exc.strerror or exc}") from exc
        raise
    _fsync_directory(target.parent)


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
        raise InputNotFoundError(f"{src}: file not found") from None
    with source, atomic_write(Path(dst)) as out:
        shutil.copyfileobj(source, out, 1 << 20)
    return out.result()
