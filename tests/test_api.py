"""The original step's function-level API, and the messages for inputs that are almost right."""

from __future__ import annotations

import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest

import dummy_training
from archives import SMALL, write_model
from dummy_training import cli, contract, main
from dummy_training.contract import Paths

CONTRACT = "/opt/ml/processing"


def _warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("WARNING: ")]


# The original's function-level API


def test_ensure_directory_returns_true(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert dummy_training.ensure_directory(target) is True
    assert target.is_dir()
    assert dummy_training.ensure_directory(target) is True  # already there


def test_validate_model_returns_a_truthy_manifest(tmp_path: Path) -> None:
    manifest = dummy_training.validate_model(write_model(tmp_path, SMALL))
    assert bool(manifest) is True
    assert [m.name for m in manifest.members] == ["model/weights.bin", "model/config.json"]


def test_path_constants_are_the_contract_paths() -> None:
    expected = {
        "MODEL_INPUT_PATH": f"{CONTRACT}/input/model/model.tar.gz",
        "HYPERPARAMS_INPUT_PATH": f"{CONTRACT}/input/config/hyperparameters.json",
        "MODEL_OUTPUT_DIR": f"{CONTRACT}/output/model",
    }
    assert {name: getattr(dummy_training, name) for name in expected} == expected
    assert {name: getattr(contract, name) for name in expected} == expected
    assert set(expected) <= set(dummy_training.__all__)


def _capture_run(monkeypatch: pytest.MonkeyPatch) -> list[Paths]:
    seen: list[Paths] = []

    def fake_run(paths: Paths, *args: Any, **kwargs: Any) -> Path:
        seen.append(paths)
        return paths.output

    monkeypatch.setattr(cli, "run", fake_run)
    return seen


def test_main_uses_the_contract_paths_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    # Stubbed: a real run would touch /opt/ml on the test host.
    seen = _capture_run(monkeypatch)
    assert main([]) == 0
    assert seen == [
        Paths(
            Path(f"{CONTRACT}/input/model/model.tar.gz"),
            Path(f"{CONTRACT}/input/config/hyperparameters.json"),
            False,
            Path(f"{CONTRACT}/output/model"),
            None,
        )
    ]


def test_main_reads_the_patched_constants_at_call_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the original's tests do: patch the module's constants, then call main().
    model = write_model(tmp_path / "in", SMALL)
    hyper = tmp_path / "in" / "input" / "config" / "hyperparameters.json"
    monkeypatch.setattr(dummy_training, "MODEL_INPUT_PATH", str(model))
    monkeypatch.setattr(dummy_training, "HYPERPARAMS_INPUT_PATH", str(hyper))
    monkeypatch.setattr(dummy_training, "MODEL_OUTPUT_DIR", tmp_path / "out")  # a Path works too
    # Called bare, under a test runner whose own arguments are no business of the step.
    monkeypatch.setattr(sys, "argv", ["pytest", "-x", "tests/test_original.py"])
    assert main() == 0
    with tarfile.open(tmp_path / "out" / "model.tar.gz") as tf:
        assert tf.getnames()[0] == "hyperparameters.json"
    # A patched hyperparameters path stays optional, as the default one is.
    monkeypatch.setattr(dummy_training, "HYPERPARAMS_INPUT_PATH", str(tmp_path / "none.json"))
    assert main([]) == 0
    assert (tmp_path / "out" / "model.tar.gz").read_bytes() == model.read_bytes()


def test_flags_and_root_override_the_patched_constants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _capture_run(monkeypatch)
    monkeypatch.setattr(dummy_training, "MODEL_INPUT_PATH", "/patched/model.tar.gz")
    monkeypatch.setattr(dummy_training, "MODEL_OUTPUT_DIR", "/patched/out")
    assert main(["--model", str(tmp_path / "m.tar.gz")]) == 0
    assert seen[-1].model == tmp_path / "m.tar.gz"
    assert seen[-1].output_dir == Path("/patched/out")
    # --root stands in for /opt/ml/processing in every path, patched or not.
    assert main(["--root", str(tmp_path)]) == 0
    assert seen[-1].model == tmp_path / "input" / "model" / "model.tar.gz"
    assert seen[-1].output_dir == tmp_path / "output" / "model"


# Inputs that are almost right


def test_fallback_warns_and_lists_the_config_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The commonest mistake: the ProcessingInput kept the S3 object's name.
    write_model(tmp_path, SMALL, hyperparameters=None)
    config = tmp_path / "input" / "config"
    config.mkdir()
    (config / "hparams.json").write_text("{}")
    (config / "notes\nWARNING: forged").write_text("")
    assert main(["--root", str(tmp_path)]) == 0
    assert _warnings(capsys.readouterr().err) == [
        f"WARNING: no hyperparameters file at {config}/hyperparameters.json: the output has no "
        f"hyperparameters.json; {config} holds 'hparams.json', 'notes\\nWARNING: forged' "
        "(a SageMaker ProcessingInput keeps the S3 object's name: name the file "
        "hyperparameters.json, or give --hyperparameters PATH; --require-hyperparameters "
        "makes this an error)"
    ]


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        ("missing", "{config} does not exist"),
        ("empty", "{config} is empty"),
        ("file", "{config} cannot be listed: Not a directory"),
        (
            "many",
            "{config} holds 'f00', 'f01', 'f02', 'f03', 'f04', 'f05', 'f06', 'f07', "
            "'f08', 'f09' and 2 more",
        ),
    ],
)
def test_fallback_warning_says_what_the_config_directory_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, said: str
) -> None:
    write_model(tmp_path, SMALL, hyperparameters=None)
    config = tmp_path / "input" / "config"
    if setup == "file":
        config.write_text("")
    elif setup != "missing":
        config.mkdir()
    if setup == "many":
        for i in range(12):
            (config / f"f{i:02d}").write_text("")
    assert main(["--root", str(tmp_path)]) == 0
    (warning,) = _warnings(capsys.readouterr().err)
    assert f"; {said.format(config=config)} (a SageMaker ProcessingInput" in warning


def test_no_warning_when_the_hyperparameters_file_is_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path)]) == 0
    assert _warnings(capsys.readouterr().err) == []


def test_require_hyperparameters_makes_a_missing_file_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL, hyperparameters=None)
    message = tmp_path / "message"
    argv = ["--root", str(tmp_path), "--require-hyperparameters", "--message-file", str(message)]
    assert main(argv) == 1
    hyper = tmp_path / "input" / "config" / "hyperparameters.json"
    expected = f"{hyper}: hyperparameters file not found (ERROR_CODE: FILE_NOT_FOUND)"
    assert message.read_text(encoding="utf-8") == expected
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == f"ERROR: {expected}"
    assert "(optional)" not in err and "fallback" not in err
    assert not (tmp_path / "output").exists()
    # With the file there, the flag changes nothing.
    message.unlink()
    write_model(tmp_path, SMALL)
    assert main(argv) == 0
    assert not message.exists()
    with tarfile.open(tmp_path / "output" / "model" / "model.tar.gz") as tf:
        assert tf.getnames()[0] == "hyperparameters.json"


def test_missing_model_lists_its_directory_and_suggests_the_flag(tmp_path: Path) -> None:
    model_dir = tmp_path / "input" / "model"
    model_dir.mkdir(parents=True)
    (model_dir / "pretrained-v3.tar.gz").write_bytes(b"")
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 1
    assert message.read_text(encoding="utf-8") == (
        f"{model_dir}/model.tar.gz: model archive not found; {model_dir} holds "
        "'pretrained-v3.tar.gz' (a SageMaker ProcessingInput keeps the S3 object's name: name "
        "the archive model.tar.gz, or give its path with --model) (ERROR_CODE: FILE_NOT_FOUND)"
    )
    other = tmp_path / "elsewhere" / "m.tgz"
    assert main(["--model", str(other), "--message-file", str(message)]) == 1
    assert f"not found; {other.parent} does not exist (" in message.read_text(encoding="utf-8")


def test_library_missing_model_message_names_no_flag(tmp_path: Path) -> None:
    # Only the job suggests --model; the library's callers have no such flag.
    with pytest.raises(dummy_training.InputNotFoundError) as caught:
        dummy_training.validate_model(tmp_path / "m.tar.gz")
    assert caught.value.message == f"{tmp_path}/m.tar.gz: model archive not found"


# The library


def test_create_tarfile_names_a_missing_source(tmp_path: Path) -> None:
    output = tmp_path / "out" / "model.tar.gz"
    source = tmp_path / "tree"
    with pytest.raises(dummy_training.InputNotFoundError) as caught:
        dummy_training.create_tarfile(output, source)
    assert isinstance(caught.value, FileNotFoundError)
    assert caught.value.code == "FILE_NOT_FOUND"
    assert caught.value.message == f"{source}: source directory not found"
    assert not (tmp_path / "out").exists(), "nothing is created for a missing source"


def test_create_tarfile_names_a_source_that_is_not_a_directory(tmp_path: Path) -> None:
    output = tmp_path / "out" / "model.tar.gz"
    source = tmp_path / "file"
    source.write_text("")
    with pytest.raises(dummy_training.ProcessingError) as caught:
        dummy_training.create_tarfile(output, source)
    assert caught.value.code == "ENVIRONMENT_ERROR"
    assert caught.value.message == f"{source}: source directory cannot be read: Not a directory"
    assert not (tmp_path / "out").exists()


def test_create_tarfile_packs_a_directory(tmp_path: Path) -> None:
    source = tmp_path / "tree"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "a.txt").write_text("a")
    written = dummy_training.create_tarfile(tmp_path / "out" / "model.tar.gz", source)
    assert written.size == (tmp_path / "out" / "model.tar.gz").stat().st_size
    with tarfile.open(tmp_path / "out" / "model.tar.gz") as tf:
        assert tf.getnames() == ["sub", "sub/a.txt"]


def test_package_is_typed() -> None:
    assert (Path(dummy_training.__file__).parent / "py.typed").is_file()


def test_the_command_lines_main_still_reads_sys_argv(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dummy_training import cli

    monkeypatch.setattr(sys, "argv", ["dummy-training", "--version"])
    assert cli.main() == 0
    assert capsys.readouterr().out == f"dummy-training {dummy_training.__version__}\n"


@pytest.mark.parametrize("which", ["model", "hyperparameters"])
def test_a_message_file_that_is_an_input_is_never_written(
    which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_model(tmp_path, SMALL, hyperparameters=b"[1, 2]")  # a failing run
    hyper = tmp_path / "input" / "config" / "hyperparameters.json"
    target = model if which == "model" else hyper
    before = target.read_bytes()
    assert main(["--root", str(tmp_path), "--message-file", str(target)]) == 2
    assert target.read_bytes() == before
    err = capsys.readouterr().err
    assert f"WARNING: {target}: the failure message is not written: that is the input" in err
    assert err.strip().splitlines()[-1].endswith("(ERROR_CODE: HYPERPARAMETERS_INVALID)")
