"""The suite judges code that is not this package: the POSIX sh example in examples/."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from casekit import REPO, case_ids
from dummy_training import conformance

SCRIPT = REPO / "examples" / "dummy_training.sh"

# Its known failures, as CONFORMANCE.md lists them. The exit code is wrong where
# only a JSON parser (UTF-8, NaN) or another reader than GNU tar would tell, and for
# a symlink chain that stays inside yet is longer than the reference allows.
WRONG_EXIT_CODE = {
    "hyperparameters-invalid-utf8",
    "hyperparameters-nan",
    "unsafe-smuggle-global-path-in-padding",
    "unsafe-smuggle-longname-then-pax-path",
    "unsafe-smuggle-longname-twice",
    "unsafe-smuggle-pax-linkpath-twice",
    "unsafe-smuggle-prefix-gnu-magic",
    "unsafe-smuggle-prefix-v7",
    "unsafe-smuggle-shadow-hyperparameters-pax",
    "unsafe-smuggle-shadow-hyperparameters-prefix",
    "unsafe-symlink-chain-too-deep",
}
# Refused for a reason of its own (e.g. UNSAFE_MEMBER where the reference names the
# dialect first): right exit code and a reason, not the case's code.
OTHER_CODE = {
    "unsafe-smuggle-garbage-devmajor",
    "unsafe-smuggle-longlink-twice",
    "unsafe-smuggle-longname-nul-in-padding",
    "unsafe-smuggle-pax-length-plus",
    "unsafe-smuggle-pax-path-twice",
    "unsafe-smuggle-pax-record-into-padding",
    "unsafe-smuggle-pax-size-fraction",
    "unsafe-smuggle-pax-twice-size-first",
    "unsafe-smuggle-size-0o-prefix",
    "unsafe-smuggle-size-underscore",
}


def _gnu_tools() -> str | None:
    """Why the example cannot run here, or None."""
    for argv, says in (
        (["tar", "--version"], "GNU tar"),
        (["gzip", "--version"], "gzip"),
        (["find", "--version"], "GNU findutils"),
    ):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        except OSError as exc:
            return f"{argv[0]}: {exc}"
        if says not in out:
            return f"{argv[0]} is not {says}"
    return None


@pytest.fixture
def gnu() -> None:
    why = _gnu_tools()
    if why is not None and os.environ.get("CI") == "true":
        pytest.fail(f"CI must have GNU tar, gzip and find (.ci/run installs them): {why}")
    if why is not None:
        pytest.skip(f"the sh example needs GNU tar, gzip and find: {why}")


def test_the_sh_example_reaches_its_pinned_levels(
    gnu: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Its own temporary files go here, and must be gone when each run ends.
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.chdir(tmp_path)
    report = tmp_path / "report.json"
    impl = f"sh {shlex.quote(str(SCRIPT))} {{args}}"
    code = conformance.main(["--impl", impl, "--jobs", "4", "--json", str(report)])
    out = capsys.readouterr().out
    cases = json.loads(report.read_text(encoding="utf-8"))["cases"]
    levels = {c["id"]: c["level"] for c in cases}
    assert code == 1
    assert {i for i, level in levels.items() if level is None} == WRONG_EXIT_CODE, out
    assert {i for i, level in levels.items() if level == "reasons"} == OTHER_CODE, out
    assert {i for i, level in levels.items() if level == "codes"} == (
        set(case_ids()) - WRONG_EXIT_CODE - OTHER_CODE
    )
    assert f"FAILED ({len(levels) - len(WRONG_EXIT_CODE) - len(OTHER_CODE)} passed)" in out
    # Nothing written outside a case (the runner checks beside it), nor left in TMPDIR.
    assert not any("outside the case" in r for c in cases for r in c["reasons"]), out
    assert list(scratch.iterdir()) == []


def test_the_sh_example_passes_at_level_reasons_but_for_its_wrong_exit_codes(
    gnu: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    impl = f"sh {shlex.quote(str(SCRIPT))} {{args}}"
    skips = [arg for i in sorted(WRONG_EXIT_CODE) for arg in ("--skip", i)]
    argv = ["--impl", impl, "--level", "reasons", "--jobs", "4", "--json", str(report), *skips]
    code = conformance.main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "level reached: reasons (required: reasons)" in out
    summary = json.loads(report.read_text(encoding="utf-8"))["summary"]
    assert summary == {
        "pass": len(case_ids()) - len(WRONG_EXIT_CODE),
        "fail": 0,
        "skip": len(WRONG_EXIT_CODE),
        "xpass": 0,
    }


def test_the_sh_example_extracts_only_inside_its_case(gnu: None, tmp_path: Path) -> None:
    # An unsafe tar member is refused before anything is extracted: the case's root and
    # the directory above it hold nothing new, and the reason names the member.
    root = tmp_path / "case"
    shutil.copytree(REPO / "fixtures" / "cases" / "unsafe-parent-traversal", root)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    done = subprocess.run(
        ["sh", str(SCRIPT), "--root", str(root), "--message-file", str(tmp_path / "msg")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    message = (tmp_path / "msg").read_text(encoding="utf-8")
    assert message.endswith("(ERROR_CODE: UNSAFE_MEMBER)\n")
    assert done.stderr.splitlines()[-1] == "ERROR: " + message.strip()
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == sorted([*before, Path("msg")])
