"""Reason codes: every failure names its cause as ``(ERROR_CODE: NAME)``, one name per cause."""

from __future__ import annotations

import ast
import bz2
import errno
import lzma
import pickle
import re
from pathlib import Path

import pytest

from archives import SMALL, gz, tar_bytes, write_model
from dummy_training import (
    CODES,
    DummyTrainingError,
    InputNotFoundError,
    ProcessingError,
    ValidationError,
    cli,
    main,
    validate_model,
)
from dummy_training.errors import os_code

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "dummy_training"


@pytest.mark.parametrize(
    ("cls", "exit_code", "code"),
    [
        (InputNotFoundError, 1, "FILE_NOT_FOUND"),
        (ValidationError, 2, "TAR_CORRUPT"),
        (ProcessingError, 3, "ENVIRONMENT_ERROR"),
        (DummyTrainingError, 4, "INTERNAL"),
    ],
)
def test_every_class_has_a_default_code_of_its_exit_code(
    cls: type[DummyTrainingError], exit_code: int, code: str
) -> None:
    exc = cls("what went wrong")
    assert (exc.exit_code, exc.code) == (exit_code, code)
    assert CODES[code].exit_code == exit_code
    assert str(exc) == f"what went wrong (ERROR_CODE: {code})"
    assert exc.message == "what went wrong"


def test_a_code_given_is_kept_and_survives_pickling() -> None:
    exc = ValidationError("m: unsafe", "UNSAFE_MEMBER")
    assert str(exc) == "m: unsafe (ERROR_CODE: UNSAFE_MEMBER)"
    again = pickle.loads(pickle.dumps(exc))
    assert (type(again), again.code, str(again)) == (ValidationError, "UNSAFE_MEMBER", str(exc))


def test_a_code_of_another_exit_code_or_no_code_at_all_is_refused() -> None:
    with pytest.raises(ValueError, match="DISK_FULL does not go with exit code 2"):
        ValidationError("x", "DISK_FULL")
    with pytest.raises(KeyError):
        ValidationError("x", "NO_SUCH_CODE")


def test_no_space_is_disk_full_whatever_the_call_site_says() -> None:
    for number in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        assert os_code(OSError(number, "full"), "OUTPUT_NOT_WRITABLE") == "DISK_FULL"
    assert os_code(OSError(errno.EACCES, "no"), "OUTPUT_NOT_WRITABLE") == "OUTPUT_NOT_WRITABLE"


def _raised_without_a_code() -> list[str]:
    """Every construction of ValidationError or ProcessingError in the package without a code."""
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("ValidationError", "ProcessingError")
                and len(node.args) + len(node.keywords) < 2
            ):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_every_raise_site_names_its_cause() -> None:
    # The class defaults exist for library callers; the package itself always says why.
    assert _raised_without_a_code() == []


def test_the_readme_table_lists_every_code_with_its_exit_code() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([A-Z_]+)` \| (\d) \| ", readme, re.M)
    assert {name: int(exit_code) for name, exit_code in rows} == {
        name: code.exit_code for name, code in CODES.items()
    }
    assert len(rows) == len(CODES)


def test_a_wrong_extension_keeps_the_original_steps_words(tmp_path: Path) -> None:
    model = tmp_path / "model.zip"
    model.write_bytes(gz(tar_bytes(SMALL)))
    with pytest.raises(ValueError) as refused:
        validate_model(model)
    text = str(refused.value)
    assert text.startswith(f"Expected a .tar.gz file, but got: {model}")
    assert text.endswith("(ERROR_CODE: INVALID_FORMAT)")


GZIP_PLEASE = "the step takes a tar compressed with gzip"


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (b"PK\x03\x04" + bytes(40), f"not a gzip file: it is a zip archive; {GZIP_PLEASE}"),
        (b"abc", "not a gzip file (bad magic bytes)"),  # shorter than a gzip header
        (tar_bytes(SMALL), f"not a gzip file: it is an uncompressed tar archive; {GZIP_PLEASE}"),
        (b"PK\x05\x06" + bytes(18), f"not a gzip file: it is an empty zip archive; {GZIP_PLEASE}"),
        (
            bz2.compress(tar_bytes(SMALL)),
            f"not a gzip file: it is bzip2-compressed data; {GZIP_PLEASE}",
        ),
        (
            lzma.compress(tar_bytes(SMALL)),
            f"not a gzip file: it is xz-compressed data; {GZIP_PLEASE}",
        ),
        # A zstd frame header (magic, descriptor, size) with one empty raw last block.
        (
            b"\x28\xb5\x2f\xfd\x20\x00\x01\x00\x00",
            f"not a gzip file: it is zstd-compressed data; {GZIP_PLEASE}",
        ),
        # "ustar" anywhere but at its offset is no tar header.
        (b"ustar" * 200, "not a gzip file (bad magic bytes)"),
        (gz(b'{"a": 1}\n'), "not a tar archive (stream shorter than a block)"),
        (gz(b"x" * 2048), "not a tar archive (first header checksum invalid)"),
        (gz(b""), "not a tar archive (empty tar stream)"),
    ],
    ids=[
        "zip",
        "three-bytes",
        "plain-tar",
        "empty-zip",
        "bzip2",
        "xz",
        "zstd",
        "ustar-elsewhere",
        "gzip-of-json",
        "gzip-of-text",
        "gzip-of-nothing",
    ],
)
def test_no_gzip_compressed_tar_at_all_is_invalid_archive(
    data: bytes, cause: str, tmp_path: Path
) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(data)
    with pytest.raises(ValidationError) as refused:
        validate_model(model)
    assert str(refused.value) == (
        f"File is not a valid tar archive: {model}: {cause} (ERROR_CODE: INVALID_ARCHIVE)"
    )
    assert refused.value.code == "INVALID_ARCHIVE"


def test_a_gzip_header_cut_short_is_truncated_not_invalid(tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(gz(tar_bytes(SMALL))[:5])
    with pytest.raises(ValidationError) as refused:
        validate_model(model)
    assert refused.value.code == "TRUNCATED"


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--max-members", "many"], "argument --max-members: invalid int value: 'many'"),
        (["--strategy", "fast"], "argument --strategy: invalid choice: 'fast'"),
    ],
)
def test_a_usage_error_exits_2_and_writes_the_message_file(
    argv: list[str], cause: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = tmp_path / "message"
    assert main([*argv, "--message-file", str(message)]) == 2
    written = message.read_text(encoding="utf-8")
    assert written.startswith(f"dummy-training: {cause}")
    assert written.endswith(" (ERROR_CODE: USAGE)")
    err = capsys.readouterr().err
    assert err.startswith("usage: dummy-training")
    assert err.endswith(f"ERROR: {written}\n")


CAP_FLAGS = [
    "--max-members",
    "--max-header-bytes",
    "--max-name-bytes",
    "--max-link-bytes",
    "--max-depth",
    "--max-metadata-bytes",
    "--max-hyperparameters-bytes",
]


@pytest.mark.parametrize("value", ["0", "-1"])
@pytest.mark.parametrize("flag", CAP_FLAGS)
def test_a_cap_below_1_is_a_usage_error_naming_the_flag(
    flag: str, value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), flag, value, "--message-file", str(message)]) == 2
    assert message.read_text(encoding="utf-8") == (
        f"dummy-training: argument {flag}: must be at least 1, not {value} (ERROR_CODE: USAGE)"
    )
    assert capsys.readouterr().err.startswith("usage: dummy-training")
    assert main(["--root", str(tmp_path), flag, "1", "--message-file", str(message)]) == 1


def test_a_usage_error_goes_to_the_default_message_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # No --message-file: SageMaker's own file, when its directory exists, so that a
    # typo in the step's arguments reads as USAGE in the job's ExitMessage.
    monkeypatch.setattr(cli, "MESSAGE_FILE", tmp_path / "message")
    assert main(["--max-depht", "3"]) == 2
    assert (tmp_path / "message").read_text(encoding="utf-8") == (
        "dummy-training: unrecognized arguments: --max-depht 3 (ERROR_CODE: USAGE)"
    )
    capsys.readouterr()


def test_a_usage_error_before_the_message_file_flag_still_writes_it(tmp_path: Path) -> None:
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--nope", f"--message-file={message}"]) == 2
    assert message.read_text(encoding="utf-8").endswith("(ERROR_CODE: USAGE)")


def test_help_and_version_are_no_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = tmp_path / "message"
    assert main(["--help", "--message-file", str(message)]) == 0
    assert main(["--version"]) == 0
    assert not message.exists()
    assert "ERROR" not in capsys.readouterr().err


def test_a_manifest_usage_error_names_the_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["manifest"]) == 2
    assert capsys.readouterr().err.endswith(
        "ERROR: dummy-training manifest: the following arguments are required: archive "
        "(ERROR_CODE: USAGE)\n"
    )


def test_a_failure_at_the_cli_ends_both_lines_with_its_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, [("only/", "dir", b"")])
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 2
    written = message.read_text(encoding="utf-8")
    assert written.endswith(": archive holds no regular file (ERROR_CODE: NO_REGULAR_FILE)")
    assert f"\nERROR: {written}\n" in capsys.readouterr().err


def test_a_usage_error_with_a_bare_message_file_flag_still_names_usage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "--message-file" is the last word, so no file can be written; the exit code and
    # the ERROR: line still say USAGE.
    assert main(["--no-such-flag", "--message-file"]) == 2
    err = capsys.readouterr().err
    assert err.rstrip().endswith("(ERROR_CODE: USAGE)")
    assert list(tmp_path.iterdir()) == []
