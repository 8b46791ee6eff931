"""Run-level edges found by mutation testing: mtimes, SOURCE_DATE_EPOCH bounds, digests, caps."""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import re
import tarfile
from pathlib import Path

import pytest

from archives import SMALL, write_model
from dummy_training import main, process_model_with_hyperparameters
from dummy_training.job import MTIME_MAX


def output_of(root: Path) -> Path:
    return root / "output" / "model" / "model.tar.gz"


def added_mtime(root: Path) -> int:
    with tarfile.open(output_of(root), "r:gz") as tf:
        return int(tf.getmember("hyperparameters.json").mtime)


def test_listing_cap_is_twenty_members(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path / "20", [(f"f{i:02}", "file", b"x") for i in range(20)])
    assert main(["--root", str(tmp_path / "20")]) == 0
    err = capsys.readouterr().err
    assert "INFO:   file     0644            1 f19\n" in err
    assert "more" not in err  # all twenty are listed, with no "... and 0 more"
    write_model(tmp_path / "21", [(f"f{i:02}", "file", b"x") for i in range(21)])
    assert main(["--root", str(tmp_path / "21")]) == 0
    assert "INFO:   ... and 1 more tar member\n" in capsys.readouterr().err


@pytest.mark.parametrize("strategy", ["splice", "repack"])
def test_members_from_1970_give_the_added_member_mtime_zero(tmp_path: Path, strategy: str) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("weights.bin")
        info.size, info.mtime = 3, 0
        tf.addfile(info, io.BytesIO(b"abc"))
    model = write_model(tmp_path, [])
    model.write_bytes(gzip.compress(buf.getvalue(), mtime=0))
    assert main(["--root", str(tmp_path), "-q", "--strategy", strategy]) == 0
    assert added_mtime(tmp_path) == 0  # the newest member's time, even at the epoch


@pytest.mark.parametrize("epoch", [0, MTIME_MAX])
def test_source_date_epoch_bounds_are_inclusive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, epoch: int
) -> None:
    assert MTIME_MAX == 8**11 - 1  # ustar's 11 octal digits
    write_model(tmp_path, SMALL)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(epoch))
    assert main(["--root", str(tmp_path), "-q"]) == 0
    assert added_mtime(tmp_path) == epoch


def test_a_non_integer_source_date_epoch_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "soon")
    assert main(["--root", str(tmp_path)]) == 3
    assert (
        "ERROR: SOURCE_DATE_EPOCH='soon' is not an integer (ERROR_CODE: ENVIRONMENT_ERROR)\n"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("strategy", ["splice", "repack"])
def test_the_logged_digest_is_the_output_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], strategy: str
) -> None:
    # The splice patches its output after writing it; the digest must be of the final bytes.
    write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path), "--strategy", strategy]) == 0
    data = output_of(tmp_path).read_bytes()
    wrote = re.search(
        r"wrote .*: (\d+) bytes(?: \([0-9.]+ kB\))?, sha256 ([0-9a-f]{64})", capsys.readouterr().err
    )
    assert wrote is not None
    assert (int(wrote[1]), wrote[2]) == (len(data), hashlib.sha256(data).hexdigest())


def test_the_repack_strategy_obeys_the_caps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path), "--strategy", "repack", "--max-members", "1"]) == 2
    err = capsys.readouterr().err
    assert "more than 1 tar members (cap: --max-members 1) (ERROR_CODE: CAP_EXCEEDED)" in err
    assert not output_of(tmp_path).exists()


def test_library_call_uses_the_given_work_dir(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # An archive that already holds hyperparameters.json is repacked, in work_dir.
    model = write_model(tmp_path, [*SMALL, ("hyperparameters.json", "file", b"{}")])
    hyper = tmp_path / "input" / "config" / "hyperparameters.json"
    work = tmp_path / "scratch"
    work.mkdir()
    caplog.set_level(logging.INFO, logger="dummy_training")
    process_model_with_hyperparameters(model, hyper, tmp_path / "out", work_dir=str(work))
    assert any(
        m.startswith(f"work directory: {work}/.dummy_training-work-") for m in caplog.messages
    )
    assert list(work.iterdir()) == []  # and removed afterwards


def test_the_library_default_strategy_is_auto(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = write_model(tmp_path, SMALL)
    hyper = tmp_path / "input" / "config" / "hyperparameters.json"
    caplog.set_level(logging.INFO, logger="dummy_training")
    process_model_with_hyperparameters(model, hyper, tmp_path / "out")
    assert "strategy: splice (auto; original deflate data copied as is)" in caplog.messages


def test_the_fallback_copy_obeys_the_caps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL, hyperparameters=None)
    assert main(["--root", str(tmp_path), "--max-members", "1"]) == 2
    err = capsys.readouterr().err
    assert "more than 1 tar members (cap: --max-members 1) (ERROR_CODE: CAP_EXCEEDED)" in err
    assert not output_of(tmp_path).exists()


def test_the_closing_line_gives_the_elapsed_time_and_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from dummy_training import job

    monkeypatch.setattr(job.time, "monotonic", lambda: 1000.0)  # a run that takes no time
    write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path)]) == 0
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.startswith("INFO: done in 0.00 s (scan and splice ")
    assert last.endswith("): 10240 bytes (10.2 kB) of tar data at -- MB/s")


def test_default_paths_are_under_opt_ml_processing() -> None:
    from dummy_training.contract import resolve

    paths = resolve()
    assert paths.model == Path("/opt/ml/processing/input/model/model.tar.gz")
    assert paths.hyperparameters == Path("/opt/ml/processing/input/config/hyperparameters.json")
    assert paths.output == Path("/opt/ml/processing/output/model/model.tar.gz")
    assert (paths.hyperparameters_explicit, paths.work_dir) == (False, None)
