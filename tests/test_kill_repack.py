"""Repack edges found by mutation testing: extraction as a library call, modes, owners, logs."""

from __future__ import annotations

import gzip
import io
import logging
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from archives import SMALL, write_model
from dummy_training import ValidationError, create_tarfile, extract_tarfile, main, progress
from dummy_training.errors import InputNotFoundError, ProcessingError
from dummy_training.repack import file_mode


def archive(tmp_path: Path, *infos: tuple[tarfile.TarInfo, bytes]) -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for info, data in infos:
            info.size = len(data) if info.isreg() else 0
            tf.addfile(info, io.BytesIO(data))
    path = tmp_path / "model.tar.gz"
    path.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    return path


def info(
    name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, **fields: object
) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = kind, mode, 1_700_000_000
    for key, value in fields.items():
        setattr(ti, key, value)
    return ti


@pytest.mark.skipif(not hasattr(tarfile, "data_filter"), reason="needs tarfile.data_filter")
def test_file_mode_is_the_data_filters_rule() -> None:
    # PEP 706's data filter is the reference for extracted file modes; every mode agrees.
    for mode in range(0o1000):
        member = tarfile.TarInfo("f")
        member.mode = mode
        assert file_mode(mode) == tarfile.data_filter(member, "/dest").mode, oct(mode)


def test_extracted_modes_and_owners_do_not_depend_on_tarfile(tmp_path: Path) -> None:
    # The package's own sanitizing, on every Python (tarfile.data_filter, missing before
    # 3.8.17, is not used): data-filter modes, and files owned by whoever extracts them.
    owner = {"uid": 1234, "gid": 1234, "uname": "someone", "gname": "others"}
    path = archive(
        tmp_path,
        (info("open.bin", mode=0o777, **owner), b"1"),
        (info("shared.txt", mode=0o666, **owner), b"2"),
        (info("private", mode=0o700, **owner), b"3"),
        (info("again", tarfile.LNKTYPE, mode=0o677, linkname="private", **owner), b""),
    )
    dest = tmp_path / "tree"
    dest.mkdir()
    extract_tarfile(path, dest)
    modes = {p.name: oct(p.stat().st_mode & 0o7777) for p in dest.iterdir()}
    # "private" and "again" are one inode: the later member's mode, sanitized, wins.
    assert modes == {
        "open.bin": "0o755",
        "shared.txt": "0o644",
        "private": "0o644",
        "again": "0o644",
    }
    assert {(p.stat().st_uid, p.stat().st_gid) for p in dest.iterdir()} == {
        (os.geteuid(), os.getegid())
    }


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (info("dev", tarfile.CHRTYPE), "'dev': character device"),
        (info("disk", tarfile.BLKTYPE), "'disk': block device"),
        (
            info("h", tarfile.LNKTYPE, linkname="missing"),
            "'h': hard link target 'missing' is missing",
        ),
    ],
    ids=["chardev", "blockdev", "hardlink"],
)
def test_extraction_runs_the_member_checks_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, member: tarfile.TarInfo, message: str
) -> None:
    # extract_tarfile is a public entry point: it must not rely on a scan having run first,
    # nor on tarfile.data_filter.
    monkeypatch.delattr(tarfile, "data_filter", raising=False)
    path = archive(tmp_path, (info("ok.bin"), b"x"), (member, b""))
    dest = tmp_path / "tree"
    dest.mkdir()
    with pytest.raises(ValidationError) as refused:
        extract_tarfile(path, dest)
    assert str(refused.value) == f"{path}: unsafe tar member {message} (ERROR_CODE: UNSAFE_MEMBER)"


def test_extraction_errors_name_the_archive_or_the_destination(tmp_path: Path) -> None:
    with pytest.raises(InputNotFoundError) as missing:
        extract_tarfile(tmp_path / "none.tar.gz", tmp_path)
    # The archive is validated before anything is extracted, by the same scan.
    assert (
        str(missing.value)
        == f"{tmp_path / 'none.tar.gz'}: model archive not found (ERROR_CODE: FILE_NOT_FOUND)"
    )
    path = archive(tmp_path, (info("d/x"), b"x"))
    dest = tmp_path / "tree"
    dest.mkdir()
    (dest / "d").write_text("in the way")
    with pytest.raises(ProcessingError) as failed:
        extract_tarfile(path, dest)
    assert str(failed.value).startswith(f"{dest}: extraction failed: ")
    assert "Errno" not in str(failed.value)  # the OS's words, not the exception's repr


def test_extraction_leaves_the_destination_itself_alone(tmp_path: Path) -> None:
    path = archive(tmp_path, (info("d/e/f"), b"x"))
    dest = tmp_path / "tree"
    dest.mkdir(mode=0o700)
    extract_tarfile(path, dest)
    assert dest.stat().st_mode & 0o777 == 0o700  # not the 0755 of implicit parents
    # Implicit parents get 0755 and the newest member's time.
    assert (dest / "d").stat().st_mtime == (dest / "d" / "e").stat().st_mtime == 1_700_000_000


def test_implicit_parents_of_members_from_1970_get_time_zero(tmp_path: Path) -> None:
    path = archive(tmp_path, (info("d/f", mtime=0), b"x"))
    dest = tmp_path / "tree"
    dest.mkdir()
    extract_tarfile(path, dest)
    assert (dest / "d").stat().st_mtime == 0


def test_create_tarfile_logs_what_it_packed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    (tree / "d" / "f").write_bytes(b"x")
    out = tmp_path / "out" / "packed.tar.gz"
    caplog.set_level(logging.INFO, logger="dummy_training")
    written = create_tarfile(out, tree)
    assert written.size == out.stat().st_size
    assert caplog.messages[-1] == f"packed 2 tar members into {out}: {written.size} bytes"


def test_only_files_directories_and_symlinks_are_packed(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    os.mkfifo(tree / "pipe")
    with pytest.raises(ProcessingError) as refused:
        create_tarfile(tmp_path / "out.tar.gz", tree)
    assert (
        str(refused.value)
        == f"{tree / 'pipe'}: not a file, directory or symlink (ERROR_CODE: ENVIRONMENT_ERROR)"
    )
    assert not (tmp_path / "out.tar.gz").exists()


def test_progress_lines_name_the_scan_and_the_pack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A clock that jumps 11 s per reading: every progress check logs a line.
    now = [0.0]

    def tick() -> float:
        now[0] += 11.0
        return now[0]

    monkeypatch.setattr(progress.time, "monotonic", tick)
    model = write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path), "--strategy", "repack"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "progress:" in line]
    size = model.stat().st_size
    scanned = f"INFO: progress: scan 100.0% of {size} bytes of gzip data ({size} bytes done), "
    assert lines[0].startswith(scanned)
    assert lines[0].endswith(" of tar data at 0.0 MB/s, ETA 0 s")  # the rate is the tar data's
    files = sum(len(data) for _, _, data in SMALL)
    # The extraction has its own lines: a large repack is never silent while it extracts.
    extracted = [line for line in lines if line.startswith("INFO: progress: extract ")]
    done = progress.human(files)
    assert f"100.0% of {done} of file data ({done} done)" in extracted[-1]
    packed = progress.human(files + len(b'{"a": "1"}\n'))
    assert f"INFO: progress: pack 100.0% of {packed} of file data ({packed} done)" in lines[-1]


def test_a_work_dir_that_cannot_be_created_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    args = ["--root", str(tmp_path), "--strategy", "repack", "--work-dir", str(blocker)]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert (
        f"ERROR: {blocker}: cannot create work directory: Not a directory "
        "(ERROR_CODE: OUTPUT_NOT_WRITABLE)\n" in err
    )


def test_exactly_enough_free_space_is_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dummy_training import repack

    write_model(tmp_path, SMALL)
    needed = sum(len(data) for _, _, data in SMALL) + len(b'{"a": "1"}\n')
    usage = shutil._ntuple_diskusage(10**9, 10**9 - needed, needed)  # type: ignore[attr-defined]
    monkeypatch.setattr(repack.shutil, "disk_usage", lambda path: usage)
    assert main(["--root", str(tmp_path), "-q", "--strategy", "repack"]) == 0


def test_replacing_a_hard_linked_hyperparameters_json_leaves_its_other_name(
    tmp_path: Path,
) -> None:
    # The archive's hyperparameters.json is a second name of model/config.json: the new
    # file must replace the name, not write through it into model/config.json.
    write_model(
        tmp_path,
        [*SMALL, ("hyperparameters.json", "hardlink", "model/config.json")],
    )
    assert main(["--root", str(tmp_path), "-q"]) == 0
    with tarfile.open(tmp_path / "output" / "model" / "model.tar.gz", "r:gz") as tf:
        config = tf.extractfile("model/config.json").read()  # type: ignore[union-attr]
        hyper = tf.extractfile("hyperparameters.json").read()  # type: ignore[union-attr]
    assert (config, hyper) == (b"{}", b'{"a": "1"}\n')
