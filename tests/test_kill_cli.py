"""The command line's edges found by mutation testing: manifest output, failure messages."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import dummy_training
from archives import write_model
from casekit import REPO
from dummy_training import cli, contract, main


def test_manifest_prints_readable_json_with_data_digests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = b"\x00\x01" * 600
    model = write_model(tmp_path, [("modèle/weights.bin", "file", weights)])
    assert main(["manifest", str(model)]) == 0
    out = capsys.readouterr().out
    manifest = json.loads(out)
    [member] = manifest["members"]
    # The manifest command hashes member data (the library's scan does not by default).
    assert member["sha256"] == hashlib.sha256(weights).hexdigest()
    # Meant for people too: names as written, one field per line, indented.
    assert '"name": "modèle/weights.bin"' in out
    assert out.startswith('{\n  "gzip": {\n    "members": 1,')


def test_manifest_help_describes_what_the_output_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["manifest", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: dummy-training manifest [-h] archive ")
    assert (
        "Validate an archive and print its manifest as JSON: gzip header fields "
        "and the ordered tar members with the sha256 of their data." in out
    )
    # ... and the output has exactly those parts.
    model = write_model(tmp_path, [("a", "file", b"x")])
    assert main(["manifest", str(model)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert set(manifest) == {"gzip", "uncompressed_size", "members"}
    assert manifest["members"][0]["sha256"] == hashlib.sha256(b"x").hexdigest()


def test_help_shows_the_contract_paths_in_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # main() reads the module-level path constants at call time; --help shows those.
    monkeypatch.setattr(dummy_training, "MODEL_INPUT_PATH", "/data/model.tgz")
    monkeypatch.setenv("COLUMNS", "1000")
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "model archive (.tar.gz or .tgz) (default: /data/model.tgz)" in out


def test_manifest_error_line_is_the_jobs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_model(tmp_path, [("only/", "dir", b"")])
    assert main(["--root", str(tmp_path), "-q"]) == 2
    [job_line] = capsys.readouterr().err.splitlines()
    assert main(["manifest", str(model)]) == 2
    assert capsys.readouterr().err.splitlines() == [job_line]
    assert job_line.startswith("ERROR: ")
    assert job_line.endswith(" (ERROR_CODE: NO_REGULAR_FILE)")


def _many_members(tmp_path: Path) -> Path:
    # A manifest far larger than a pipe's buffer, so that the writer meets the closed end.
    return write_model(tmp_path, [(f"dir/file-{i:05d}.bin", "file", b"x") for i in range(3000)])


def test_manifest_into_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    model = _many_members(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dummy_training", "manifest", str(model)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"{\n"
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait() == 0
    assert err == b""


def test_manifest_piped_to_head_ends_quietly(tmp_path: Path) -> None:
    model = _many_members(tmp_path)
    done = subprocess.run(
        f"{shlex.quote(sys.executable)} -m dummy_training manifest {shlex.quote(str(model))}"
        " | head -1; echo status=${PIPESTATUS[0]}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.stdout == b"{\nstatus=0\n"
    assert done.stderr == b""


class _ClosedPipe(io.StringIO):
    """A stdout whose reader has gone: every write fails as a closed pipe does."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        return self._fd


def test_manifest_points_stdout_at_nothing_when_the_pipe_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_model(tmp_path, [("a", "file", b"x")])
    with open(tmp_path / "stdout", "wb") as stand_in:
        monkeypatch.setattr(sys, "stdout", _ClosedPipe(stand_in.fileno()))
        assert main(["manifest", str(model)]) == 0
        # The descriptor now leads to the null device: what is flushed at exit is dropped.
        os.write(stand_in.fileno(), b"dropped")
    assert (tmp_path / "stdout").read_bytes() == b""
    assert capsys.readouterr().err == ""


def test_failure_message_is_cut_at_a_character_boundary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A missing model under a long non-ASCII root: the message is over 1 KiB, and the
    # 1024th byte falls inside a two-byte character, which must not be half-written.
    def missing_model_message(root: Path) -> bytes:
        return f"{root}/input/model/model.tar.gz: model archive not found".encode()

    for pad in ("a", "aa", "aaa"):  # one of them puts byte 1024 inside an "é"
        root = tmp_path / pad
        for _ in range(6):
            root = root / ("é" * 100)
        if missing_model_message(root)[1023] == 0xC3:  # the first byte of "é"
            break
    assert missing_model_message(root)[1023] == 0xC3
    message_file = tmp_path / "message"
    assert main(["--root", str(root), "--message-file", str(message_file)]) == 1
    capsys.readouterr()
    expected = missing_model_message(root)
    assert len(expected) > 1024
    written = message_file.read_bytes()
    assert written == expected[:1023]
    assert written.decode("utf-8").endswith("é")


def test_an_unwritable_message_file_is_a_warning_not_a_new_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "message"
    assert main(["--root", str(tmp_path / "none"), "--message-file", str(target)]) == 1
    err = capsys.readouterr().err
    assert f"WARNING: {target}: cannot write the failure message: Not a directory\n" in err


HELP = {
    "--root ROOT": "stands in for /opt/ml/processing in all paths",
    "--model MODEL": "model archive (.tar.gz or .tgz)",
    "--hyperparameters HYPERPARAMETERS": "hyperparameters JSON; must exist when given",
    "--output-dir OUTPUT_DIR": "directory that receives model.tar.gz",
    "--work-dir WORK_DIR": "where the repack extracts (default: beside the output dir)",
    "--message-file MESSAGE_FILE": "where a failure's one-line reason goes "
    "(default: /opt/ml/output/message, if its directory exists)",
    "--strategy {auto,splice,repack}": "splice: add the tar member without recompressing; "
    "repack: extract and repack; auto (default): splice whenever that is correct",
    "-q, --quiet": "log warnings and errors only",
    "-v, --verbose": "log debug detail too",
}


def test_help_documents_every_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # --help is the reference that the README's Flags section summarises: each flag has
    # its one-line explanation, the caps take a number N (as the README writes them), and
    # the description names both commands. Wording changes are meant to be deliberate.
    # The real default, for the text only: --help writes no message file.
    monkeypatch.setattr(cli, "MESSAGE_FILE", contract.MESSAGE_FILE)
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping, which may break at hyphens
    assert main(["--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    for flag, text in HELP.items():
        assert f" {flag} {text} " in out, flag
    caps = (
        "[--max-members N] [--max-header-bytes N] [--max-name-bytes N] [--max-link-bytes N] "
        "[--max-depth N]"
    )
    assert caps in out  # as in the README's usage block
    assert (
        "caps against hostile archives (raise for rare legitimate ones; each at least 1): "
        "--max-members N tar members, and directories implied by names (default: 1000000) "
        "--max-header-bytes N one pax or GNU long name header (default: 1048576) "
        "--max-name-bytes N one tar member name, in bytes (default: 4096) "
        "--max-link-bytes N one link target, in bytes (default: 4096) "
        "--max-depth N path components of one tar member name (default: 256) "
        "--max-metadata-bytes N total bytes of tar member names and link targets kept in memory "
        "(default: 134217728) "
        "--max-hyperparameters-bytes N largest hyperparameters file accepted (default: 1048576)"
    ) in out
    # The contract paths each flag stands in for.
    for flag, default in (
        ("--model MODEL", "/opt/ml/processing/input/model/model.tar.gz"),
        (
            "--hyperparameters HYPERPARAMETERS",
            "/opt/ml/processing/input/config/hyperparameters.json",
        ),
        ("--output-dir OUTPUT_DIR", "/opt/ml/processing/output/model"),
    ):
        assert f" {flag} {HELP[flag]} (default: {default}" in out, flag
    assert "See 'dummy-training manifest --help' for the manifest command." in out
    assert (
        "Validate a pre-trained model.tar.gz and add hyperparameters.json to it "
        "(a SageMaker 'dummy training' Processing step). "
        "'dummy-training manifest FILE' prints an archive's manifest as JSON."
    ) in out


def test_an_unexpected_error_is_logged_with_its_repr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dummy_training import job

    write_model(tmp_path, [("a", "file", b"x")])

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(job, "derived_mtime", broken)
    assert main(["--root", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert (
        "\nERROR: unexpected error (a bug in dummy_training): KeyError('boom') "
        "(ERROR_CODE: INTERNAL)\n" in err
    )
