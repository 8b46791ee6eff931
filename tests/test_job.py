"""The step end to end through ``main``: contract rows that fixtures alone cannot show."""

from __future__ import annotations

import errno
import importlib
import json
import os
import runpy
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

import dummy_training
from archives import SMALL, write_model
from casekit import case_ids, comparable, copy_case, expand, load_case, tree_of
from dummy_training import atomic, cli, job, main, process_model_with_hyperparameters, repack


def output_of(root: Path) -> Path:
    return root / "output" / "model" / "model.tar.gz"


@pytest.mark.parametrize("strategy", ["splice", "repack"])
def test_adds_hyperparameters_deterministically(tmp_path: Path, strategy: str) -> None:
    write_model(tmp_path / "a", SMALL)
    write_model(tmp_path / "b", SMALL)
    assert main(["--root", str(tmp_path / "a"), "-q", "--strategy", strategy]) == 0
    args = [
        "--root",
        str(tmp_path / "b"),
        "-q",
        "--strategy",
        strategy,
        "--work-dir",
        str(tmp_path),
    ]
    assert main(args) == 0
    first, second = output_of(tmp_path / "a").read_bytes(), output_of(tmp_path / "b").read_bytes()
    assert first == second
    assert first[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # no name, no time
    with tarfile.open(output_of(tmp_path / "a"), "r:gz") as tf:
        member = tf.getmember("hyperparameters.json")
        assert tf.extractfile(member).read() == b'{"a": "1"}\n'  # type: ignore[union-attr]
        assert member.mtime == 1_700_000_000  # the newest input member's
        if strategy == "repack":
            assert [(m.uid, m.gid, m.uname, m.gname) for m in tf] == [(0, 0, "", "")] * 4
            names = ["hyperparameters.json", "model", "model/config.json", "model/weights.bin"]
        else:  # the original members keep their header bytes, after the new one
            names = ["hyperparameters.json", "model/weights.bin", "model/config.json"]
        assert tf.getnames() == names
    assert sorted(os.listdir(tmp_path)) == ["a", "b"]  # work directories are gone


def test_source_date_epoch_sets_the_added_member_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path, SMALL)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1234567890")
    assert main(["--root", str(tmp_path), "-q"]) == 0
    with tarfile.open(output_of(tmp_path), "r:gz") as tf:
        assert tf.getmember("hyperparameters.json").mtime == 1234567890
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    assert main(["--root", str(tmp_path), "-q"]) == 3


def fail_writes_after(monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    real = atomic._HashingWriter.write

    def write(self: atomic._HashingWriter, data: bytes) -> int:
        if self.size + len(data) > limit:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(atomic._HashingWriter, "write", write)


@pytest.mark.parametrize(
    ("hyperparameters", "strategy"),
    [(b'{"a": "1"}', "splice"), (b'{"a": "1"}', "repack"), (None, "auto")],
    ids=["splice", "repack", "fallback-copy"],
)
def test_disk_full_part_way_leaves_no_partial_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    hyperparameters: bytes | None,
    strategy: str,
) -> None:
    model = write_model(
        tmp_path, [("big.bin", "file", os.urandom(300_000))], hyperparameters=hyperparameters
    )
    before = model.read_bytes()
    out_dir = tmp_path / "output" / "model"
    out_dir.mkdir(parents=True)
    (out_dir / "model.tar.gz").write_bytes(b"previous run")
    fail_writes_after(monkeypatch, 100_000)
    assert main(["--root", str(tmp_path), "--strategy", strategy]) == 3
    assert "No space left on device" in capsys.readouterr().err
    assert os.listdir(out_dir) == ["model.tar.gz"]
    assert (out_dir / "model.tar.gz").read_bytes() == b"previous run"
    assert model.read_bytes() == before
    assert sorted(os.listdir(tmp_path / "output")) == ["model"]


def test_unexpected_errors_exit_4_with_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(job, "derived_mtime", broken)
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 4
    err = capsys.readouterr().err
    assert "Traceback" in err and "a bug in dummy_training" in err
    assert message.read_text(encoding="utf-8") == (
        "unexpected error (a bug in dummy_training): KeyError('boom') (ERROR_CODE: INTERNAL)"
    )
    assert not output_of(tmp_path).exists()


def test_failure_message_goes_to_the_sagemaker_message_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    default = tmp_path / "ml-output" / "message"
    monkeypatch.setattr(cli, "MESSAGE_FILE", default)
    root = tmp_path / "r" / ("x" * 1500)
    assert main(["--root", str(root)]) == 1
    assert not default.exists()  # its directory does not exist: nothing is written
    default.parent.mkdir()
    assert main(["--root", str(root)]) == 1
    line = (
        f"{root}/input/model/model.tar.gz: model archive not found; {root}/input/model does not "
        "exist (a SageMaker ProcessingInput keeps the S3 object's name: name the archive "
        "model.tar.gz, or give its path with --model) (ERROR_CODE: FILE_NOT_FOUND)"
    )
    expected = line.encode()
    assert default.read_bytes() == expected[:1024]
    error_lines = [
        line for line in capsys.readouterr().err.splitlines() if line.startswith("ERROR")
    ]
    assert error_lines == [f"ERROR: {line}"] * 2
    unwritable = tmp_path / "file"
    unwritable.write_text("")
    assert main(["--root", str(root), "--message-file", str(unwritable / "m")]) == 1
    assert "cannot write the failure message" in capsys.readouterr().err


def test_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"dummy-training {dummy_training.__version__}"
    assert main(["--help"]) == 0
    assert "--work-dir" in capsys.readouterr().out
    assert main(["--no-such-flag"]) == 2
    assert main(["-q", "-v"]) == 2
    capsys.readouterr()
    write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["--root", str(tmp_path), "-v", "--strategy", "repack"]) == 0
    assert "DEBUG: added model/weights.bin (1200 bytes)" in capsys.readouterr().err


def test_explicit_paths_and_work_dir_errors(tmp_path: Path) -> None:
    model = write_model(tmp_path / "in", SMALL)
    hyper = tmp_path / "in" / "input" / "config" / "hyperparameters.json"
    out = tmp_path / "elsewhere" / "out"
    args = ["--model", str(model), "--hyperparameters", str(hyper), "--output-dir", str(out)]
    assert main(args) == 0
    assert (out / "model.tar.gz").is_file()
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert main([*args, "--work-dir", str(blocker), "--strategy", "repack"]) == 3


def test_library_api(tmp_path: Path) -> None:
    model = write_model(tmp_path, SMALL)
    hyper = tmp_path / "input" / "config" / "hyperparameters.json"
    out = process_model_with_hyperparameters(model, hyper, tmp_path / "out")
    assert out == tmp_path / "out" / "model.tar.gz"
    manifest = dummy_training.validate_model(out)
    assert next(m.name for m in manifest.members) == "hyperparameters.json"
    copied = dummy_training.copy_file(model, tmp_path / "copy" / "m.tar.gz")
    assert (tmp_path / "copy" / "m.tar.gz").read_bytes() == model.read_bytes()
    assert copied.size == model.stat().st_size
    with pytest.raises(FileNotFoundError, match="file not found"):
        dummy_training.copy_file(tmp_path / "nope", tmp_path / "copy" / "x")
    with pytest.raises(
        ValueError, match=r"is a directory, not a file \(ERROR_CODE: IS_DIRECTORY\)"
    ):
        dummy_training.copy_file(tmp_path / "input", tmp_path / "copy" / "x")
    assert not (tmp_path / "copy" / "x").exists()
    with pytest.raises(RuntimeError, match="cannot create output directory"):
        dummy_training.ensure_directory(model / "sub")
    with pytest.raises(ValueError, match="must be a JSON object"):
        (tmp_path / "list.json").write_text("[]")
        process_model_with_hyperparameters(model, tmp_path / "list.json", tmp_path / "out")


def test_copy_file_names_a_source_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    (tmp_path / "locked").write_bytes(b"x")
    monkeypatch.setattr(atomic, "open", denied, raising=False)
    with pytest.raises(FileNotFoundError, match="locked: cannot be opened: Permission denied"):
        dummy_training.copy_file(tmp_path / "locked", tmp_path / "copy" / "x")
    assert list((tmp_path / "copy").iterdir()) == []


def test_manifest_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = write_model(tmp_path, SMALL)
    assert main(["manifest", str(model)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in manifest["members"]] == ["model/weights.bin", "model/config.json"]
    assert manifest["gzip"]["members"] == 1
    assert main(["manifest", str(tmp_path / "missing.tar.gz")]) == 1
    assert "model archive not found" in capsys.readouterr().err
    assert main(["manifest"]) == 2


@pytest.mark.parametrize("case_id", [c for c in case_ids() if c.startswith(("unsafe", "valid"))])
def test_cases_without_tarfile_data_filter(
    case_id: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Pythons before 3.8.17 lack tarfile.data_filter: the project's own checks must
    suffice, and tarfile's filter is never consulted on any Python."""

    def consulted(*args: object) -> None:
        raise AssertionError("tarfile.data_filter was called")

    monkeypatch.setattr(tarfile, "data_filter", consulted, raising=False)
    case = load_case(case_id)
    root = copy_case(case_id, tmp_path)
    assert main(expand(case["args"], case, root)) == case["exit_code"]
    capsys.readouterr()
    if case["output"] == "tree":
        assert comparable(tree_of(output_of(root)), case["tree"]) == case["tree"]
    elif case["output"] == "none":
        assert not output_of(root).exists()


def test_environment_failures_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)

    def no_space(*args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(repack, "add_hyperparameters", no_space)
    assert main(["--root", str(tmp_path), "--strategy", "repack"]) == 3
    assert "repack failed: No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(atomic, "_unnamed", no_space)
    assert main(["--root", str(tmp_path)]) == 3
    assert "cannot write in output directory" in capsys.readouterr().err
    assert not output_of(tmp_path).exists()


def test_unreadable_inputs_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "open", denied)
    assert main(["--root", str(tmp_path)]) == 1
    assert "hyperparameters file cannot be read: Permission denied" in capsys.readouterr().err
    monkeypatch.undo()
    # The package exports a function named scan, so fetch the module itself.
    monkeypatch.setattr(
        importlib.import_module("dummy_training.scan"), "open", denied, raising=False
    )
    assert main(["--root", str(tmp_path)]) == 1
    assert "model archive cannot be opened: Permission denied" in capsys.readouterr().err
    monkeypatch.undo()
    monkeypatch.setattr(Path, "stat", denied)
    assert main(["--root", str(tmp_path)]) == 1
    assert "model archive cannot be accessed: Permission denied" in capsys.readouterr().err


def test_long_listings_are_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, [(f"f{i:02}", "file", b"x") for i in range(25)])
    assert main(["--root", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "INFO:   file     0644            1 f19\nINFO:   ... and 5 more tar members\n" in err
    assert "f20" not in err


def test_python_dash_m_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["dummy_training", "--version"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("dummy_training", run_name="__main__")
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("dummy-training ")


def test_hyperparameter_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, SMALL, hyperparameters=b'{"lr": "0.1", "lr": "0.2", "epochs": 3}')
    assert main(["--root", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "duplicate keys ['lr']; the last value of each wins" in err
    assert "SageMaker expects string values; not strings: epochs" in err


def test_source_date_epoch_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(8**11))
    assert main(["--root", str(tmp_path)]) == 3
    assert "SOURCE_DATE_EPOCH='8589934592' is out of range" in capsys.readouterr().err
    assert not output_of(tmp_path).exists()


def test_caps_refuse_with_numbers_and_flags_raise_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(
        tmp_path, [("d/é-weights.bin", "file", b"1"), ("d/x", "file", b"2"), ("y", "file", b"")]
    )
    cases = [
        (["--max-members", "2"], "more than 2 tar members (cap: --max-members 2) (ERROR_CODE:"),
        (["--max-name-bytes", "5"], "tar member name of 16 bytes exceeds --max-name-bytes 5 ("),
        (["--max-depth", "1"], "tar member path depth 2 exceeds --max-depth 1 ("),
        (["--max-header-bytes", "10"], "exceeds --max-header-bytes 10 ("),
    ]
    for flags, message in cases:
        assert main(["--root", str(tmp_path), *flags]) == 2
        assert message in capsys.readouterr().err
        assert not output_of(tmp_path).exists()
    generous = ["--max-members", "3", "--max-name-bytes", "16", "--max-depth", "2"]
    assert main(["--root", str(tmp_path), *generous, "--max-header-bytes", "100"]) == 0


def test_repack_refuses_to_start_without_room_to_extract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    full = shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000)  # type: ignore[attr-defined]
    monkeypatch.setattr(repack.shutil, "disk_usage", lambda path: full)
    assert main(["--root", str(tmp_path), "--strategy", "repack"]) == 3
    err = capsys.readouterr().err
    assert (
        "the repack needs 1213 bytes (1.2 kB) to extract but only 1000 bytes (1.0 kB) are free"
        in err
    )
    assert sorted(os.listdir(tmp_path / "output")) == ["model"]
    assert os.listdir(tmp_path / "output" / "model") == []
    assert main(["--root", str(tmp_path)]) == 0  # the splice needs no such room
