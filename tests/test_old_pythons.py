"""The code paths that exist for Python 3.7 and older, run on this Python."""

from __future__ import annotations

import errno
import gzip
import importlib
import os
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dummy_training import extract_tarfile, oldest, repack
from dummy_training.errors import ProcessingError, ValidationError
from dummy_training.tarwrite import end_of_archive, header, padding


def test_a_python_before_3_7_is_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "version_info", (3, 7, 0, "final", 0))
    importlib.reload(oldest)
    monkeypatch.setattr(sys, "version_info", (3, 6, 15, "final", 0))
    with pytest.raises(SystemExit) as exited:
        importlib.reload(oldest)
    assert exited.value.code == 4
    assert capsys.readouterr() == ("", "dummy_training needs Python 3.7 or newer; this is 3.6.15\n")


@pytest.fixture
def like_python37(monkeypatch: pytest.MonkeyPatch) -> None:
    """The repack's reading as on Python 3.7, whose gzip raises a bare OSError."""
    monkeypatch.setattr(repack, "_BAD_GZIP", OSError)


def _model(tmp_path: Path) -> Path:
    files = [header("file", n, size=1, mode=0o644, mtime=0) + b"x" + padding(1) for n in "abc"]
    path = tmp_path / "model.tar.gz"
    path.write_bytes(gzip.compress(b"".join(files) + end_of_archive()))
    return path


@pytest.mark.usefixtures("like_python37")
def test_a_gzip_fault_in_the_repack_is_still_an_archive_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not gzip at all")
    # Given the scan's members, extraction reads the file itself.
    with pytest.raises(ValidationError, match="cannot read archive: Not a gzipped file"):
        extract_tarfile(bad, tmp_path / "dest", members=[])


@pytest.mark.usefixtures("like_python37")
def test_a_system_error_in_the_repack_is_still_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(tmp_path)
    real = repack._make

    def make(archive: tarfile.TarFile, member: tarfile.TarInfo, *args: Any) -> None:
        if member.name == "c":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(archive, member, *args)

    monkeypatch.setattr(repack, "_make", make)
    dest = tmp_path / "dest"
    with pytest.raises(ProcessingError) as failed:
        extract_tarfile(model, dest)
    assert str(failed.value) == (
        f"{dest}: extraction failed: No space left on device (ERROR_CODE: DISK_FULL)"
    )
