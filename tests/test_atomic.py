"""Atomic output: invisible while written, complete when it appears, gone on failure."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from dummy_training import atomic
from dummy_training.errors import ProcessingError


class Boom(Exception):
    pass


def write_then(target: Path, fail: bool) -> list[str]:
    """Write through atomic_write, returning what the directory showed part-way."""
    with atomic.atomic_write(target) as out:
        out.write(b"new content")
        seen = sorted(os.listdir(target.parent))
        if fail:
            raise Boom
    return seen


def test_the_file_has_no_name_until_it_is_complete(tmp_path: Path) -> None:
    target = tmp_path / "model.tar.gz"
    assert write_then(target, fail=False) == []  # a SIGKILL here would leave nothing
    assert target.read_bytes() == b"new content"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)


def test_an_existing_output_is_replaced_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "model.tar.gz"
    target.write_bytes(b"old")
    assert write_then(target, fail=False) == ["model.tar.gz"]
    assert target.read_bytes() == b"new content"
    with pytest.raises(Boom):
        write_then(target, fail=True)
    assert target.read_bytes() == b"new content"
    assert os.listdir(tmp_path) == ["model.tar.gz"]


@pytest.mark.parametrize("how", ["no O_TMPFILE", "EOPNOTSUPP"])
def test_named_temporary_file_where_unnamed_ones_are_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    if how == "no O_TMPFILE":
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    else:
        real_open = os.open

        def no_tmpfile(path: object, flags: int, *args: object) -> int:
            if flags & getattr(os, "O_TMPFILE", 0) == getattr(os, "O_TMPFILE", -1):
                raise OSError(errno.EOPNOTSUPP, "Operation not supported")
            return real_open(path, flags, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(atomic.os, "open", no_tmpfile)
    target = tmp_path / "model.tar.gz"
    seen = write_then(target, fail=False)
    assert len(seen) == 1 and seen[0].startswith(".model.tar.gz.") and seen[0].endswith(".tmp")
    assert os.listdir(tmp_path) == ["model.tar.gz"]
    with pytest.raises(Boom):
        write_then(tmp_path / "other.tar.gz", fail=True)
    assert os.listdir(tmp_path) == ["model.tar.gz"]


def test_other_errors_creating_the_file_are_processing_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(path: object, flags: int, *args: object) -> int:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(atomic.os, "open", denied)
    with pytest.raises(
        ProcessingError, match="cannot write in output directory: Permission denied"
    ):
        write_then(tmp_path / "model.tar.gz", fail=False)


def test_patched_writers_hash_the_final_bytes(tmp_path: Path) -> None:
    target = tmp_path / "model.tar.gz"
    with atomic.atomic_write(target, patched=True) as out:
        out.write(b"abcdef")
        out.patch(1, b"XY")
        out.write(b"gh")
    assert target.read_bytes() == b"aXYdefgh"
    assert out.result() == atomic.Written(8, hashlib.sha256(b"aXYdefgh").hexdigest())


class _Syncs:
    """os.fsync that counts its calls, can be slow, and fails from the ``fail_at``-th call."""

    def __init__(self, delay: float = 0.0, fail_at: int = 0) -> None:
        self.calls = 0
        self._delay = delay
        self._fail_at = fail_at
        self._fsync = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        time.sleep(self._delay)
        if self._fail_at and self.calls >= self._fail_at:
            raise OSError(errno.EIO, "Input/output error")
        self._fsync(fd)


def _write_blocks(
    target: Path, blocks: int, patched: bool = False, pause: float = 0.0
) -> atomic.Written:
    with atomic.atomic_write(target, patched=patched) as out:
        for n in range(blocks):
            out.write(bytes([n]) * 1000)
            time.sleep(pause)
    return out.result()


@pytest.mark.parametrize("patched", [False, True])
@pytest.mark.parametrize(("delay", "pause", "calls"), [(0.0, 0.005, range(5, 16)), (0.5, 0, [3])])
def test_writes_are_synced_behind_without_changing_the_result(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    patched: bool,
    delay: float,
    pause: float,
    calls: list[int],
) -> None:
    # One sync per 3 blocks (13), or fewer while one still runs; plus the file's and
    # the directory's at the end. Either way the bytes and digest are those of
    # plain writes, and no thread is left.
    monkeypatch.setattr(atomic, "SYNC_BEHIND", 3000)
    syncs = _Syncs(delay)
    monkeypatch.setattr(atomic.os, "fsync", syncs)
    target = tmp_path / "model.tar.gz"
    written = _write_blocks(target, 40, patched, pause)
    expected = b"".join(bytes([n]) * 1000 for n in range(40))
    assert target.read_bytes() == expected
    assert written == atomic.Written(len(expected), hashlib.sha256(expected).hexdigest())
    assert syncs.calls in calls
    assert [t.name for t in threading.enumerate()] == [threading.current_thread().name]


@pytest.mark.parametrize("blocks", [7, 40])
def test_a_failed_sync_behind_the_writes_fails_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, blocks: int
) -> None:
    # Found by a later write (40 blocks), or at the end (7 blocks).
    monkeypatch.setattr(atomic, "SYNC_BEHIND", 3000)
    monkeypatch.setattr(atomic.os, "fsync", _Syncs(fail_at=2 if blocks == 7 else 1))
    target = tmp_path / "model.tar.gz"
    with pytest.raises(ProcessingError) as failed:
        _write_blocks(target, blocks, pause=0.005)
    assert str(failed.value) == (
        f"{target}: write failed: Input/output error (ERROR_CODE: ENVIRONMENT_ERROR)"
    )
    assert os.listdir(tmp_path) == []
    assert [t.name for t in threading.enumerate()] == [threading.current_thread().name]
