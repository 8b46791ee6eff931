"""What must hold after any run on any input: shared by the property tests and the fuzzer."""

from __future__ import annotations

import contextlib
import io
import shutil
import tarfile
from pathlib import Path

from casekit import comparable, file_entry, snapshot_files, tree_of
from dummy_training import main

HYPERPARAMETERS = b'{"epochs": "3"}'


def input_tree(archive: Path) -> list[dict[str, object]] | None:
    """The tree tarfile sees in the input, plus the file the step adds; None if unreadable."""
    try:
        tree = [e for e in tree_of(archive) if e["path"] != "hyperparameters.json"]
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError):
        return None
    added = {"path": "hyperparameters.json", **file_entry(HYPERPARAMETERS, 0o644)}
    return sorted([*tree, added], key=lambda e: str(e["path"]))


def check_run(archive: bytes, workspace: Path, strategy: str = "auto") -> tuple[int, str]:
    """Run the step on ``archive`` in a fresh job under ``workspace``; assert every invariant.

    Returns the exit code and the log. The job directory sits inside an otherwise empty sandbox,
    so anything written outside the output directory shows up.
    """
    shutil.rmtree(workspace, ignore_errors=True)
    root = workspace / "sandbox" / "job"
    model = root / "input" / "model" / "model.tar.gz"
    model.parent.mkdir(parents=True)
    model.write_bytes(archive)
    (root / "input" / "config").mkdir()
    (root / "input" / "config" / "hyperparameters.json").write_bytes(HYPERPARAMETERS)
    before = snapshot_files(workspace)
    with contextlib.redirect_stderr(io.StringIO()) as err:
        code = main(["--root", str(root), "--strategy", strategy, "--message-file", "/dev/null"])
    after = snapshot_files(workspace)
    output = "sandbox/job/output/model/model.tar.gz"
    assert code in (0, 1, 2, 3), err.getvalue()  # 4 would be a bug
    assert {k: v for k, v in after.items() if k != output} == before, "stray or changed files"
    if code != 0:
        assert output not in after, "output left behind by a failed run"
        assert err.getvalue().count("ERROR:") == 1
        return code, err.getvalue()
    expected = input_tree(model)
    assert expected is not None, "accepted an archive tarfile cannot read"
    actual = tree_of(root / "output" / "model" / "model.tar.gz")
    assert comparable(actual, expected) == expected
    return code, err.getvalue()
