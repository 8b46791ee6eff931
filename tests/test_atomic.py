"""Atomic output: invisible while written, complete when it appears, gone on failure."""

from __future__ import annotations

import errno
import hashlib
import os
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
