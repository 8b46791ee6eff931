"""Every fixture case, run through the CLI: exit code, output, tree, and a snapshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from casekit import (
    case_ids,
    comparable,
    copy_case,
    expand,
    load_case,
    normalize_log,
    snapshot_files,
    tree_of,
)
from dummy_training import main, scan


def run_case(
    case_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str
) -> dict[str, Any]:
    case = load_case(case_id)
    root = copy_case(case_id, tmp_path)
    before = snapshot_files(root)
    argv = [*expand(case["args"], case, root), "--message-file", str(tmp_path / "message"), *extra]
    code = main(argv)
    log = capsys.readouterr().err
    output = root / case["output_dir"] / "model.tar.gz"
    after = snapshot_files(root)
    created = {k: v for k, v in after.items() if k not in before}
    changed = sorted(k for k in before if before[k] != after.get(k))
    return {
        "case": case,
        "root": root,
        "code": code,
        "log": log,
        "output": output,
        "created": created,
        "changed": changed,
    }


@pytest.mark.parametrize("case_id", case_ids())
def test_case(
    case_id: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], json_snapshot: Any
) -> None:
    result = run_case(case_id, tmp_path, capsys)
    case, output = result["case"], result["output"]
    assert result["code"] == case["exit_code"], result["log"]
    assert result["changed"] == [], "inputs must never be modified"
    relative_output = str(output.relative_to(result["root"]))
    if case["output"] == "none":
        assert result["created"] == {}, "a failed run leaves nothing behind"
        message = (tmp_path / "message").read_text()
        # The case names the reason; the message and the ERROR: line end with it.
        suffix = f" (ERROR_CODE: {case['error_code']})"
        assert message.endswith(suffix), message
        assert str(result["root"]) in message
        last = result["log"].strip().splitlines()[-1]
        assert last.startswith("ERROR: ") and last.endswith(suffix), last
        assert len(last) < 1000
    else:
        assert "error_code" not in case
        assert list(result["created"]) == [relative_output]
        assert not (tmp_path / "message").exists()
    if case["output"] == "copy":
        assert output.read_bytes() == (result["root"] / case["model"]).read_bytes()
    if case["output"] == "tree":
        assert comparable(tree_of(output), case["tree"]) == case["tree"]
    snapshot = {
        "exit_code": result["code"],
        "manifest": scan(output, hash_data=True).as_json() if output.is_file() else None,
        "log": normalize_log(result["log"], result["root"]),
    }
    if case["output"] == "tree":
        # The default strategy splices when it can; pin the reference repack too.
        repack = run_case(case_id, tmp_path / "repack", capsys, "--strategy", "repack")
        assert repack["code"] == case["exit_code"]
        assert comparable(tree_of(repack["output"]), case["tree"]) == case["tree"]
        snapshot["repack"] = {
            "manifest": scan(repack["output"], hash_data=True).as_json(),
            "log": normalize_log(repack["log"], repack["root"]),
        }
    assert snapshot == json_snapshot
