"""Safe extraction and the deterministic writer, used directly as a library."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Iterator

import pytest

from archives import gz, tar_bytes
from casekit import REPO, copy_case, snapshot_files
from dummy_training import create_tarfile, extract_tarfile, main, repack
from dummy_training.errors import InputNotFoundError, ProcessingError, ValidationError
from dummy_training.fdtree import Entry
from dummy_training.tarwrite import USTAR_MAX_OCTAL, header


def test_round_trip_keeps_dirs_links_and_modes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "empty").mkdir(parents=True)
    (src / "d").mkdir()
    (src / "d" / "run.sh").write_bytes(b"#!/bin/sh\n")
    os.chmod(src / "d" / "run.sh", 0o755)
    (src / ("a" * 120)).write_bytes(b"long name")
    os.link(src / "d" / "run.sh", src / "z-hard")
    os.symlink("d/run.sh", src / "link")
    os.symlink("x" * 150, src / "long-link")
    create_tarfile(tmp_path / "out" / "t.tar.gz", src)
    with tarfile.open(tmp_path / "out" / "t.tar.gz", "r:gz") as tf:
        found = {m.name: (m.type, m.mode, m.linkname) for m in tf}
    assert found == {
        "a" * 120: (tarfile.REGTYPE, 0o644, ""),
        "d": (tarfile.DIRTYPE, 0o755, ""),
        "d/run.sh": (tarfile.REGTYPE, 0o755, ""),
        "empty": (tarfile.DIRTYPE, 0o755, ""),
        "link": (tarfile.SYMTYPE, 0o777, "d/run.sh"),
        "long-link": (tarfile.SYMTYPE, 0o777, "x" * 150),
        "z-hard": (tarfile.LNKTYPE, 0o755, "d/run.sh"),
    }
    dest = tmp_path / "dest"
    dest.mkdir()
    extract_tarfile(tmp_path / "out" / "t.tar.gz", dest)
    assert os.readlink(dest / "link") == "d/run.sh"
    assert (dest / "z-hard").read_bytes() == b"#!/bin/sh\n"
    assert sorted(os.listdir(dest)) == sorted(name for name in found if "/" not in name)


def test_names_that_are_not_utf8_travel_as_raw_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / os.fsdecode(b"caf\xe9-" + b"x" * 120)).write_bytes(b"1")
    create_tarfile(tmp_path / "t.tar.gz", src)
    with tarfile.open(
        tmp_path / "t.tar.gz", "r:gz", encoding="utf-8", errors="surrogateescape"
    ) as tf:
        assert [os.fsencode(n) for n in tf.getnames()] == [b"caf\xe9-" + b"x" * 120]


def test_headers_switch_to_pax_beyond_ustar_limits() -> None:
    big = header("file", "f", size=USTAR_MAX_OCTAL + 1, mode=0o644, mtime=-5)
    assert b"size=8589934592\n" in big and b"mtime=-5\n" in big


def test_unsupported_source_entries_are_refused(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "pipe")
    with pytest.raises(ProcessingError, match="not a file, directory or symlink"):
        create_tarfile(tmp_path / "t.tar.gz", src)
    assert not (tmp_path / "t.tar.gz").exists()


def test_a_file_that_shrinks_while_packing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"12345")
    real_walk = repack.walk
    walks = []

    def walk_then_shrink(top: Path) -> Iterator[Entry]:
        # The first walk sums the sizes; the file shrinks before the second reads it.
        walks.append(top)
        for entry in real_walk(top):
            if len(walks) == 2:
                (src / "f").write_bytes(b"12")
            yield entry

    monkeypatch.setattr(repack, "walk", walk_then_shrink)
    with pytest.raises(ProcessingError, match="shrank"):
        create_tarfile(tmp_path / "t.tar.gz", src)


def test_extraction_refuses_traversal_and_writes_nothing_at_all(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(gz(tar_bytes([("ok.txt", "file", b"1"), ("../../evil.txt", "file", b"x")])))
    dest = tmp_path / "a" / "b" / "dest"
    dest.mkdir(parents=True)
    before = snapshot_files(tmp_path)
    with pytest.raises(ValidationError, match=r"'\.\.' in path"):
        extract_tarfile(archive, dest)
    assert snapshot_files(tmp_path) == before  # validated whole before any write


def test_extraction_errors(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError):
        extract_tarfile(tmp_path / "missing.tar.gz", tmp_path)
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not gzip at all")
    with pytest.raises(ValidationError, match="not a gzip file"):
        extract_tarfile(bad, tmp_path)
    # Given the scan's members, extraction reads the file itself and still refuses.
    with pytest.raises(ValidationError, match="cannot read archive"):
        extract_tarfile(bad, tmp_path, members=[])
    fifo = tmp_path / "fifo.tar.gz"
    fifo.write_bytes(gz(tar_bytes([("p", "fifo", "")])))
    with pytest.raises(ValidationError, match="FIFO"):
        extract_tarfile(fifo, tmp_path)
    sparse = tmp_path / "sparse.tar.gz"
    data = bytearray(tar_bytes([("f", "file", b"")], fmt=tarfile.USTAR_FORMAT))
    data[156:157] = b"V"  # a volume label: a type tarfile reads but no safe extractor writes
    block = bytes(data[:148]) + b" " * 8 + bytes(data[156:512])
    data[148:156] = b"%06o\0 " % sum(block)
    sparse.write_bytes(gz(bytes(data)))
    with pytest.raises(ValidationError, match=r"unsupported tar member \(type b'V'\)"):
        extract_tarfile(sparse, tmp_path)
    full = tmp_path / "full"
    full.write_text("")
    good = tmp_path / "good.tar.gz"
    good.write_bytes(gz(tar_bytes([("f", "file", b"1")])))
    with pytest.raises(ProcessingError, match="extraction failed"):
        extract_tarfile(good, full)


def test_path_traversal_case_leaves_nothing_outside_the_output(tmp_path: Path) -> None:
    root = copy_case("unsafe-parent-traversal", tmp_path / "job")
    before = snapshot_files(tmp_path)
    assert main(["--root", str(root), "-q"]) == 2
    assert snapshot_files(tmp_path) == before
    assert not list(tmp_path.rglob("evil*"))


def test_bundled_example_runs_from_a_clone_with_nothing_installed(tmp_path: Path) -> None:
    """The README's first command, in a subprocess from the repository root."""
    clone = tmp_path / "clone"
    shutil.copytree(REPO / "dummy_training", clone / "dummy_training")
    shutil.copytree(
        REPO / "fixtures" / "cases" / "valid-small", clone / "fixtures" / "cases" / "valid-small"
    )
    command = [
        sys.executable,
        "-m",
        "dummy_training",
        "--root",
        "fixtures/cases/valid-small",
        "--output-dir",
        "out",
    ]
    done = subprocess.run(
        command, cwd=clone, capture_output=True, text=True, env={"PATH": os.environ["PATH"]}
    )
    assert done.returncode == 0, done.stderr
    with tarfile.open(clone / "out" / "model.tar.gz", "r:gz") as tf:
        assert "hyperparameters.json" in tf.getnames()
    assert sorted(os.listdir(clone)) == ["dummy_training", "fixtures", "out"]
