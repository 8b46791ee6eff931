"""The command line's edges found by mutation testing: manifest output, failure messages."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from archives import write_model
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
        "and the ordered members with sha256 of their data." in out
    )
    # ... and the output has exactly those parts.
    model = write_model(tmp_path, [("a", "file", b"x")])
    assert main(["manifest", str(model)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert set(manifest) == {"gzip", "uncompressed_size", "members"}
    assert manifest["members"][0]["sha256"] == hashlib.sha256(b"x").hexdigest()


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
    "--strategy {auto,splice,repack}": "splice: add the member without recompressing; "
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
        "caps against hostile archives (raise for rare legitimate ones): "
        "--max-members N --max-header-bytes N --max-name-bytes N --max-link-bytes N "
        "--max-depth N"
    ) in out
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
