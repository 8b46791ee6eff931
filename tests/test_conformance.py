"""The conformance runner: it passes this project's implementation and catches broken ones."""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import shlex
import shutil
import socket
import sys
import tempfile
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Iterator, NoReturn

import pytest

from casekit import CASES, REPO, case_ids, load_case
from dummy_training import conformance, dropin

DOUBLES = Path(__file__).resolve().parent / "doubles"
ALL = {case_id: load_case(case_id) for case_id in case_ids()}
# -S: the implementations need nothing from site-packages, and skipping it saves a
# good part of each run's start-up. `-m dummy_training` finds the package in the
# current directory, which the tests set to the repository.
REFERENCE = "{python} -S -m dummy_training {args}"
# The sandbox the runner finds here. Without one the tests that need none run with
# --no-sandbox, and those of the sandbox skip (in CI, where .ci/run installs
# bubblewrap, they fail).
SANDBOX = conformance.find_sandbox(contract=False)
KINDS = {"bwrap": 0, "unshare": 1, "unshare-user": 2}  # index in conformance.SANDBOXES


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)


def double(name: str) -> str:
    return "{python} -S " + shlex.quote(str(DOUBLES / f"{name}.py")) + " {args}"


def run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, *args: str
) -> tuple[int, dict[str, Any], str]:
    """Run the runner in-process; return its exit code, JSON report and stdout.

    Four workers on two cores: the implementations spend part of their time in fsync.
    """
    report = tmp_path / "report.json"
    unconfined = ["--no-sandbox"] if SANDBOX is None else []
    code = conformance.main(["--jobs", "4", "--json", str(report), *unconfined, *args])
    out = capsys.readouterr().out
    return code, json.loads(report.read_text(encoding="utf-8")), out


def select(ids: set[str]) -> list[str]:
    return [arg for case_id in sorted(ids) for arg in ("-k", case_id)]


def _unavailable(why: str, required: bool = True) -> NoReturn:
    if required and os.environ.get("CI") == "true":
        pytest.fail(f"CI must have a sandbox (.ci/run installs bubblewrap): {why}")
    pytest.skip(why)


@pytest.fixture
def confined() -> conformance.Sandbox:
    """The sandbox the runner uses here."""
    if SANDBOX is None:
        _unavailable("no sandbox here: install bubblewrap, or allow user namespaces")
    return SANDBOX


def only(kind: str, monkeypatch: pytest.MonkeyPatch, contract: bool = False) -> None:
    """Leave the runner one sandbox, ``kind``; skip where it does not work here."""
    monkeypatch.setattr(conformance, "SANDBOXES", (conformance.SANDBOXES[KINDS[kind]],))
    if conformance.find_sandbox(contract) is None:
        # CI installs bwrap and runs as root; unshare in a user namespace may be barred.
        required = kind == "bwrap" or (kind == "unshare" and os.geteuid() == 0)
        _unavailable(f"{kind} gives no sandbox here", required=required)


def litter(name: str, port: int) -> str:
    """The confinement double, leaving files named ``name`` and calling ``port``."""
    script = shlex.quote(str(DOUBLES / "writes_everywhere.py"))
    return f"{{python}} -S {script} {name} {port}"


@contextlib.contextmanager
def listening() -> Iterator[tuple[int, Callable[[], bool]]]:
    """A port on 127.0.0.1, and a check whether anything connected to it."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        server.setblocking(False)

        def called() -> bool:
            try:
                server.accept()[0].close()
            except BlockingIOError:
                return False
            return True

        yield server.getsockname()[1], called


def left_behind(paths: list[Path]) -> list[Path]:
    """Those of ``paths`` that exist, removed so that a failure leaves nothing either."""
    found = [path for path in paths if path.exists()]
    for path in found:
        path.unlink()
    return found


def _tree(path: Path) -> list[str] | None:
    return None if not path.exists() else sorted(str(p) for p in path.rglob("*"))


def by_status(report: dict[str, Any], status: str) -> set[str]:
    return {c["id"] for c in report["cases"] if c["status"] == status}


@pytest.mark.parametrize("strategy", ["auto", "splice", "repack"])
def test_reference_cli_passes_with_each_strategy(
    strategy: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, report, out = run(capsys, tmp_path, "--impl", f"{REFERENCE} --strategy {strategy}")
    assert code == 0, out
    assert by_status(report, "pass") == set(ALL)
    assert report["ok"] is True
    assert report["summary"] == {"pass": len(ALL), "fail": 0, "skip": 0, "xpass": 0}


def test_dropin_passes_with_contract_paths(
    confined: conformance.Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pyz = dropin.build(tmp_path / "dummy_training.pyz")
    code, report, out = run(
        capsys, tmp_path, "--contract-paths", "{python} -S " + shlex.quote(str(pyz))
    )
    assert code == 0, out
    # The file takes no arguments, so only cases at the contract's default paths can run.
    explicit = {i for i, c in ALL.items() if conformance.needs_explicit_paths(c)}
    assert explicit == {i for i, c in ALL.items() if c["args"] != ["--root", "{root}"]}
    assert by_status(report, "skip") == explicit
    assert by_status(report, "pass") == set(ALL) - explicit
    assert {tuple(c["reasons"]) for c in report["cases"] if c["id"] in explicit} == {
        ("needs explicit paths",)
    }


# What each broken double should fail, derived from the cases' own data.


def _no_validation(case: dict[str, Any]) -> bool:
    # It never exits 2 or 3, and where exit 1 is right (a missing model, an explicit
    # file missing) it is an uncaught exception's: a crash, not a reason.
    return bool(case["exit_code"] != 0)


def _wrong_exit_codes(case: dict[str, Any]) -> bool:
    return bool(case["exit_code"] != 0)  # 1, 2 and 3 are all reported wrongly


def _partial_output(case: dict[str, Any]) -> bool:
    # Its premature copy lands wherever the model is a file and the output directory
    # can be made; only a run that then fails leaves it behind.
    root = CASES / case["id"]
    out = PurePosixPath(case["output_dir"])
    blocked = any((root / p).exists() and not (root / p).is_dir() for p in [out, *out.parents])
    return case["output"] == "none" and (root / case["model"]).is_file() and not blocked


def _fails(case: dict[str, Any]) -> bool:
    return bool(case["exit_code"] != 0)


def _not_invalid_archive(case: dict[str, Any]) -> bool:
    return bool(case["exit_code"] != 0 and case["error_code"] != "INVALID_ARCHIVE")


def _every_case(case: dict[str, Any]) -> bool:
    return True


def _dot_slash_member(case: dict[str, Any]) -> bool:
    return bool(case["output"] == "tree")  # every tree needs the exact member name


def _drops_dirs_and_symlinks(case: dict[str, Any]) -> bool:
    # Without directory and symlink entries the extracted tree keeps only the files
    # and the directories above them; a case fails where that is not its whole tree.
    if case["output"] != "tree":
        return False
    files = [PurePosixPath(e["path"]) for e in case["tree"] if e["type"] == "file"]
    kept = {str(p) for f in files for p in [f, *f.parents] if str(p) != "."}
    return kept != {e["path"] for e in case["tree"]}


BROKEN: list[tuple[str, Callable[[dict[str, Any]], bool], str]] = [
    ("no_validation", _no_validation, "exit code |crash: a Python traceback on stderr"),
    ("wrong_exit_codes", _wrong_exit_codes, "exit code "),
    ("traceback_exit", _fails, "crash: a Python traceback on stderr"),
    ("wrong_reason_codes", _not_invalid_archive, "the reason does not carry (ERROR_CODE: "),
    ("writes_outside", _every_case, "file written outside the case: ../evil.txt"),
    ("partial_output", _partial_output, "written although the case expects no output"),
    ("dot_slash_member", _dot_slash_member, "no tar member named exactly 'hyperparameters.json'"),
    ("drops_dirs_and_symlinks", _drops_dirs_and_symlinks, "tree: missing "),
]


def _sample() -> set[str]:
    """For every broken double, category and error code, the first case the double must
    fail and the first it must pass: each double is judged on both sides of every line
    its defect draws, in a fifth of the time of all cases."""
    sample = set()
    for _, fails, _ in BROKEN:
        seen = set()
        for case_id, case in sorted(ALL.items()):
            key = (case["category"], case.get("error_code"), fails(case))
            if key not in seen:
                seen.add(key)
                sample.add(case_id)
    return sample


SAMPLE = _sample()
# One double still runs every case: the tree comparison meets every valid case's shape.
EVERY_CASE = "drops_dirs_and_symlinks"


@pytest.mark.parametrize(("name", "fails", "reason"), BROKEN)
def test_each_broken_double_fails_exactly_its_cases(
    name: str,
    fails: Callable[[dict[str, Any]], bool],
    reason: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    ids = set(ALL) if name == EVERY_CASE else SAMPLE
    expected = {i for i in ids if fails(ALL[i])}
    assert expected, "a double that fails nothing proves nothing"
    code, report, out = run(capsys, tmp_path, "--impl", double(name), *select(ids))
    assert code == 1
    assert by_status(report, "fail") == expected, out
    assert by_status(report, "pass") == ids - expected
    for case in report["cases"]:
        if case["status"] == "fail":
            assert any(part in r for r in case["reasons"] for part in reason.split("|")), case
    if name == "dot_slash_member":
        # The tree itself is right: only the member's exact name is wrong.
        assert {tuple(c["reasons"]) for c in report["cases"] if c["status"] == "fail"} == {
            ("no tar member named exactly 'hyperparameters.json'",)
        }


def test_the_sample_spans_every_category_and_error_code() -> None:
    assert len(SAMPLE) < len(ALL) / 3
    assert {ALL[i]["category"] for i in SAMPLE} == {c["category"] for c in ALL.values()}
    assert {ALL[i].get("error_code") for i in SAMPLE} == {c.get("error_code") for c in ALL.values()}


def test_summary_table_counts_statuses_per_category(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    select = ["-k", "valid-s*", "-k", "corrupt-*"]
    code, _, out = run(capsys, tmp_path, "--impl", double("wrong_exit_codes"), *select)
    assert code == 1
    valid = str(sum(i.startswith("valid-s") for i in ALL))
    corrupt = str(sum(i.startswith("corrupt-") for i in ALL))
    total = str(int(valid) + int(corrupt))
    assert out.splitlines()[-1] == "level reached: none (required: codes)"
    table = [line.split() for line in out.splitlines()[-7:-1]]
    assert table == [
        [],
        ["category", "pass", "fail", "skip", "xpass", "total"],
        ["valid", valid, "0", "0", "0", valid],  # exit 0 is reported right
        ["corrupt", "0", corrupt, "0", "0", corrupt],
        ["all", valid, corrupt, "0", "0", total],
        ["suite", f"{conformance.suite_version(CASES)}:", "FAILED", f"({valid}", "passed)"],
    ]


def test_list_select_and_skip(capsys: pytest.CaptureFixture[str]) -> None:
    code = conformance.main(["--list", "-k", "valid-s*", "-k", "missing-*", "--skip", "*-small"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    expected = sorted(i for i in ALL if i.startswith(("valid-s", "missing-")))
    assert [line.split()[0] for line in out] == expected
    assert [line for line in out if line.endswith("(skipped)")] == [
        line for line in out if line.startswith("valid-small ")
    ]
    assert "missing-model " in out[0] and " missing " in out[0]


def test_skipped_cases_and_skip_must_fail(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    select = ["-k", "valid-small", "-k", "corrupt-empty-file", "--skip", "valid-*"]
    code, report, _ = run(capsys, tmp_path, "--impl", REFERENCE, *select)
    assert code == 0
    assert by_status(report, "skip") == {"valid-small"}
    assert report["cases"][1]["reasons"] == ["skipped (--skip)"]
    assert report["cases"][1]["duration"] == 0
    # The skipped case passes now: the skip list is stale and the run fails.
    code, report, out = run(capsys, tmp_path, "--impl", REFERENCE, *select, "--skip-must-fail")
    assert code == 1
    assert by_status(report, "xpass") == {"valid-small"}
    assert "passes although skipped (--skip-must-fail)" in out
    # A skipped case that still fails stays skipped, with the reasons it failed.
    code, report, _ = run(
        capsys, tmp_path, "--impl", double("dot_slash_member"), *select, "--skip-must-fail"
    )
    assert code == 0
    assert by_status(report, "skip") == {"valid-small"}
    assert by_status(report, "pass") == {"corrupt-empty-file"}
    assert report["cases"][1]["reasons"] == ["no tar member named exactly 'hyperparameters.json'"]


def test_json_report_and_verbose_stderr(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, report, out = run(
        capsys, tmp_path, "--impl", double("wrong_exit_codes"), "-k", "corrupt-empty-file", "-v"
    )
    assert code == 1
    assert report["suite_version"] == (REPO / "fixtures" / "SUITE_VERSION").read_text().strip()
    assert report["contract_paths"] is False
    assert report["sandbox"] == (None if SANDBOX is None else SANDBOX.tool)
    assert report["ok"] is False
    assert report["command"] == double("wrong_exit_codes")
    (case,) = report["cases"]
    assert case["id"] == "corrupt-empty-file"
    assert case["category"] == "corrupt"
    assert case["status"] == "fail"
    assert case["reasons"] == ["exit code 1, expected 2"]
    assert (case["exit_code"], case["expected_exit_code"]) == (1, 2)
    assert case["duration"] > 0
    assert case["stdout_tail"] == ""
    assert "model archive is empty (0 bytes)" in case["stderr_tail"].splitlines()[-1]
    assert case["level"] is None
    assert case["expected_error_code"] == "EMPTY_FILE"
    assert case["message"].endswith("(0 bytes) (ERROR_CODE: EMPTY_FILE)")
    assert report["level"] == "codes" and report["level_reached"] is None
    assert "      | ERROR: " in out
    # Without --verbose a failure shows its description and the last lines of stderr.
    code, _, out = run(
        capsys, tmp_path, "--impl", double("wrong_exit_codes"), "-k", "corrupt-empty-file"
    )
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("FAIL  corrupt-empty-file ("))
    assert lines[at + 1 : at + 3] == [
        "        case: zero-byte model file",
        "        exit code 1, expected 2",
    ]
    tail = [line for line in lines if line.startswith("      | ")]
    assert 0 < len(tail) <= conformance.TAIL_SHOWN
    assert tail[-1].startswith("      | ERROR: ") and tail[-1].endswith("(ERROR_CODE: EMPTY_FILE)")


def test_timeout_kills_the_whole_process_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The background sleep holds the output pipes: only a group kill ends the wait.
    start = time.monotonic()
    code, report, _ = run(
        capsys,
        tmp_path,
        *("--impl", "sh -c 'sleep 30 & wait'", "--timeout", "0.5", "-k", "valid-small"),
    )
    assert time.monotonic() - start < 10
    assert code == 1
    assert report["cases"][0]["reasons"] == ["timed out after 0.5 s"]
    assert report["cases"][0]["exit_code"] is None


@pytest.mark.parametrize(
    ("program", "why"),
    [("/nonexistent/impl", "No such file or directory"), ("{here}", "Permission denied")],
)
def test_an_implementation_that_cannot_start(
    program: str,
    why: str,
    confined: conformance.Sandbox,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # The exec fails inside the sandbox; the runner still names the program and why.
    program = program.format(here=tmp_path)  # a directory: not executable
    code = conformance.main(["--impl", f"{program} {{args}}", "-k", "missing-model"])
    out = capsys.readouterr().out.splitlines()
    assert code == 1
    assert out[1].startswith("FAIL  missing-model (")
    assert out[2:4] == [
        "        case: no model file at the default path",
        f"        cannot start '{program}': {why}",
    ]


def test_jobs_keep_the_case_order(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    reports = []
    for jobs in ("1", "2"):
        code, report, out = run(
            capsys,
            tmp_path,
            "--impl",
            double("dot_slash_member"),
            "-k",
            "valid-[a-f]*",
            "--jobs",
            jobs,
        )
        assert code == 1
        ids = [line.split()[1] for line in out.splitlines() if line[:4] in ("PASS", "FAIL")]
        assert ids == sorted(ids) == [c["id"] for c in report["cases"]]
        reports.append([(c["id"], c["status"], c["reasons"]) for c in report["cases"]])
    assert reports[0] == reports[1]
    assert len(reports[0]) > 2


def test_inputs_strays_and_outputs_are_checked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    vandal = (
        'sh -c \'echo x >> "$1"; rm "$2"; mkdir -p "$3/sub"; echo junk > "$3/model.tar.gz";'
        ' touch "$0/stray" "$3/extra"\' {root} {model} {hyperparameters} {output_dir}'
    )
    code, report, _ = run(
        capsys,
        tmp_path,
        "--impl",
        vandal,
        "-k",
        "valid-small",
        "-k",
        "valid-no-hyperparameters-copy",
    )
    assert code == 1
    copy, small = report["cases"]
    assert copy["reasons"] == [
        "input changed: input/model/model.tar.gz",
        "file created in the output directory: output/model/extra",
        "dir created in the output directory: output/model/sub",
        "file created outside the output directory: stray",
        "output/model/model.tar.gz is not a byte-for-byte copy of input/model/model.tar.gz",
    ]
    assert small["reasons"][:2] == [
        "input removed: input/config/hyperparameters.json",
        "input changed: input/model/model.tar.gz",
    ]
    assert small["reasons"][-1].startswith(
        "output is not a safe archive: File is not a valid tar archive: model.tar.gz: "
    )
    # An implementation that writes nothing where a tree is expected.
    code, report, _ = run(capsys, tmp_path, "--impl", "true", "-k", "valid-small")
    assert report["cases"][0]["reasons"] == ["no output file output/model/model.tar.gz"]


def test_own_cases_directory_and_quoted_paths(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = tmp_path / "suite" / "cases"
    for case_id in ("valid-small", "hyperparameters-explicit-missing"):
        shutil.copytree(CASES / case_id, cases / case_id)
    (cases / "not-a-case").mkdir()
    # Case copies under a directory with a space and a quote prove the quoting.
    scratch = tmp_path / "it's here"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    code, report, out = run(capsys, tmp_path, "--impl", REFERENCE, "--cases", str(cases))
    assert code == 0, out
    assert report["suite_version"] == "unknown"
    assert by_status(report, "pass") == {"valid-small", "hyperparameters-explicit-missing"}
    assert list(scratch.iterdir()) == [], "case copies are removed"


def test_without_a_sandbox_the_runner_refuses_to_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for how in ("--impl", "--contract-paths"):
        assert conformance.main([how, "true", "-k", "valid-small"]) == 3
        captured = capsys.readouterr()
        assert (captured.out, captured.err) == ("", conformance.NO_SANDBOX + "\n")
    assert captured.err.startswith("error: no sandbox works here (tried bwrap, unshare ")
    # Contract paths need the sandbox's /opt/ml: unconfined they cannot run at all.
    argv = ["--contract-paths", "true", "--no-sandbox", "-k", "valid-small"]
    assert conformance.main(argv) == 2
    assert "--no-sandbox works with --impl only" in capsys.readouterr().err
    # A tool that exists but does not confine, or does not start, is not used either.
    for path in ("/bin/false", "/nonexistent/sandbox"):
        monkeypatch.setattr(shutil, "which", lambda name, path=path: path)
        assert conformance.find_sandbox(contract=False) is None


def test_a_sandbox_that_lets_the_probe_write_to_tmp_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A "bwrap" that drops its options and runs the command unconfined: the probe's
    # file reaches the host's /tmp, so the runner refuses it (and removes the file).
    fake = tmp_path / "bwrap"
    fake.write_text('#!/bin/sh\nwhile [ "$1" != -- ]; do shift; done\nshift\nexec "$@"\n')
    fake.chmod(0o755)
    which = shutil.which
    monkeypatch.setattr(conformance, "SANDBOXES", (("bwrap", []),))
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "bwrap" else which(name))
    stray = "dummy-training-probe-*-stray"
    assert not list(Path("/tmp").glob(stray))
    assert conformance.find_sandbox(contract=False) is None
    assert not list(Path("/tmp").glob(stray))


def test_no_sandbox_warns_and_runs_unconfined(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the sandbox tests below prove kept in does get out without it: those tests
    # would see it.
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    name = f"dummy-training-litter-{uuid.uuid4().hex}"
    places = [Path("/tmp"), home, cwd, Path("/var/tmp")]
    report = tmp_path / "report.json"
    argv = ["--no-sandbox", "--json", str(report), "-k", "valid-small"]
    try:
        with listening() as (port, called):
            code = conformance.main([*argv, "--impl", litter(name, port) + " {args}"])
            connected = called()
    finally:
        left = left_behind([place / name for place in [*places, Path("/opt/ml/output")]])
    captured = capsys.readouterr()
    assert code == 0, captured.out
    assert captured.err.startswith("!" * 78 + "\nWARNING: --no-sandbox: the implementation runs ")
    assert captured.err == conformance.UNCONFINED + "\n"
    assert left[:4] == [place / name for place in places]
    assert connected
    (case,) = json.loads(report.read_text(encoding="utf-8"))["cases"]
    assert "network: connected" in case["stdout_tail"].splitlines()
    assert "sandbox: none, command: " in captured.out.splitlines()[0]
    # Unconfined, a program that cannot start is Popen's error.
    code = conformance.main(["--no-sandbox", "--impl", "/nonexistent/impl", "-k", "missing-model"])
    assert "        cannot start '/nonexistent/impl': No such file or directory" in (
        capsys.readouterr().out.splitlines()
    )


@pytest.mark.parametrize("kind", KINDS)
def test_the_sandbox_lets_nothing_out(
    kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A double that writes to /tmp, $HOME, the current directory (the repository),
    /var/tmp and /opt/ml/output, and calls the host, leaves nothing and reaches nobody;
    the reference inside it still passes every case."""
    only(kind, monkeypatch)
    # Case copies outside /tmp too (TMPDIR elsewhere): still bound at the same path.
    shm = Path("/dev/shm")
    scratch = (shm if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path) / uuid.uuid4().hex
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    name = f"dummy-training-litter-{uuid.uuid4().hex}"
    host = [Path("/tmp"), Path.home(), REPO, Path("/var/tmp"), Path("/opt/ml/output")]
    opt_ml = _tree(Path("/opt/ml"))
    # What the double does is the same in every case: a few kinds of case show it.
    ids = {"valid-small", "valid-no-hyperparameters-copy", "corrupt-empty-file", "missing-model"}
    ids |= {"unsafe-absolute-path", "hyperparameters-explicit-missing"}
    contract = {i for i in ids if not conformance.needs_explicit_paths(ALL[i])}
    try:
        with listening() as (port, called):
            impl = run(capsys, tmp_path, "--impl", litter(name, port) + " {args}", *select(ids))
            paths = run(capsys, tmp_path, "--contract-paths", litter(name, port), *select(contract))
            connected = called()
    finally:
        left = left_behind([place / name for place in host])
        copies = sorted(p.name for p in scratch.iterdir())  # the runner removes its copies
        shutil.rmtree(scratch)
    assert (impl[0], paths[0]) == (0, 0), impl[2] + paths[2]
    assert by_status(impl[1], "pass") == ids
    assert by_status(paths[1], "pass") == contract != ids
    assert left == []
    assert not connected
    assert _tree(Path("/opt/ml")) == opt_ml
    assert copies == []
    # Under --impl the host's /opt/ml/output is read-only (most hosts have none); under
    # --contract-paths it is the case's own.
    host_output = (
        "Read-only file system" if Path("/opt/ml/output").exists() else "No such file or directory"
    )
    for report, output in ((impl[1], host_output), (paths[1], "written")):
        for case in report["cases"]:
            said = dict(line.split(": ", 1) for line in case["stdout_tail"].splitlines()[:7])
            assert said.pop("network") != "connected"
            assert int(said.pop("capabilities"), 16) == 0
            assert said == {
                "tmp": "written",  # in a private /tmp
                "home": "written",  # HOME is a private directory
                "cwd": "Read-only file system",
                "var-tmp": "written",
                "opt-ml-output": output,
            }, case["id"]


@pytest.mark.parametrize("layout", ["exists", "missing", "symlink", "missing-at-root"])
@pytest.mark.parametrize("kind", KINDS)
def test_contract_paths_create_nothing_on_the_host(
    kind: str,
    layout: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/opt/ml is private whether it exists or not: where it does not (or is a symlink,
    neither followed nor written through), the directory above it is rebuilt read-only
    inside the sandbox (bwrap rebuilds / as well)."""
    host = tmp_path / "host"
    if layout == "missing-at-root":
        ml = Path("/") / f"dummy-training-{uuid.uuid4().hex}" / "ml"
    else:
        host.mkdir()
        (host / "kept-dir").mkdir()
        (host / "kept-file").write_text("kept\n")
        (host / "kept-link").symlink_to("kept-file")
        ml = host / "ml"
    if layout == "exists":
        ml.mkdir()
        (ml / "host-file").write_text("hidden\n")
    if layout == "symlink":
        ml.symlink_to("kept-dir")
    monkeypatch.setattr(conformance, "ML", ml)
    monkeypatch.setattr(conformance, "DEFAULT_ROOT", ml / "processing")
    monkeypatch.setattr(conformance, "OUTPUT_AT", ml / "output")
    before = _tree(host)
    if layout == "missing-at-root" and kind != "bwrap":
        # unshare has no tmpfs root to rebuild / in: it refuses rather than mkdir.
        only(kind, monkeypatch)
        assert conformance.main(["--contract-paths", "true", "-k", "valid-small"]) == 3
        assert not ml.parent.exists()
        return
    only(kind, monkeypatch, contract=True)
    rebuilt = (
        'test -L "$0/../kept-link" -a -f "$0/../kept-file" -a -d "$0/../kept-dir"'
        ' && ! touch "$0/../new" 2>/dev/null'
    )
    checks = {
        "exists": 'test ! -e "$0/host-file"',
        "missing": rebuilt,
        "symlink": f'test ! -L "$0" && {rebuilt}',
        "missing-at-root": 'test -x /bin/sh && ! touch "$0/../new" 2>/dev/null'
        " && ! touch /new 2>/dev/null",
    }
    script = (
        f'test -f "$0/processing/input/model/model.tar.gz" && {checks[layout]} || exit 9\n'
        'echo "empty (ERROR_CODE: EMPTY_FILE)" > "$0/output/message"; exit 2'
    )
    impl = f"sh -c {shlex.quote(script)} {shlex.quote(str(ml))}"
    code, report, out = run(capsys, tmp_path, "--contract-paths", impl, "-k", "corrupt-empty-file")
    assert code == 0, out
    assert report["cases"][0]["level"] == "codes"
    assert _tree(host) == before
    assert ml.exists() == (layout in ("exists", "symlink"))
    assert ml.parent.exists() == (layout != "missing-at-root")


@pytest.mark.parametrize("kind", KINDS)
def test_programs_under_tmp_run_in_the_sandbox(
    kind: str, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inside the private /tmp the sandbox shows, read-only, what the command names:
    the current directory, the installation of a program found on PATH (a venv), and
    the directory of an absolute path."""
    only(kind, monkeypatch)
    says = 'echo "empty (ERROR_CODE: EMPTY_FILE)" > "$1"; exit 2\n'
    installed = tmp_path / "venv"
    (installed / "bin").mkdir(parents=True)
    (installed / "lib").mkdir()
    (installed / "lib" / "step.sh").write_text(says)
    program = installed / "bin" / "my-step"
    program.write_text('#!/bin/sh\nexec sh "$(dirname "$0")/../lib/step.sh" "$@"\n')
    program.chmod(0o755)
    monkeypatch.setenv("PATH", f"{installed / 'bin'}{os.pathsep}{os.environ['PATH']}")
    # A venv made from another venv: its program is a symlink into that other one, in
    # /tmp too, which must be shown as well (or exec finds a dangling link).
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "real-step").write_text("#!/bin/sh\n" + says)
    (tmp_path / "base" / "real-step").chmod(0o755)
    (installed / "bin" / "linked-step").symlink_to(tmp_path / "base" / "real-step")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    assert len(conformance._hops(str(tmp_path / "loop"))) == conformance.MAX_LINK_HOPS + 1
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "step.sh").write_text(says)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "cwd" / "step.sh").write_text(says + "# in the cwd\n")
    monkeypatch.chdir(tmp_path / "cwd")
    for impl in (
        "my-step {message_file}",
        "linked-step {message_file}",
        f"sh {shlex.quote(str(tmp_path / 'scripts' / 'step.sh'))} {{message_file}}",
        "sh ./step.sh {message_file}",
    ):
        code, report, out = run(capsys, tmp_path, "--impl", impl, "-k", "corrupt-empty-file")
        assert code == 0, out
        assert report["cases"][0]["level"] == "codes"


def test_usage_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert conformance.main(["--help"]) == 0
    assert conformance.main(["--jobs", "0", "--impl", "true"]) == 2
    assert conformance.main(["--impl", "a", "--contract-paths", "b"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
    assert conformance.main(["--cases", str(tmp_path / "none"), "--list"]) == 2
    assert "no fixture cases at" in capsys.readouterr().err
    assert conformance.main(["-k", "no-such-case", "--impl", "true"]) == 2
    assert "no case in" in capsys.readouterr().err
    for template in ([], ["--impl", "  "], ["--impl", "'unbalanced"]):
        assert conformance.main([*template, "-k", "valid-small"]) == 2
        assert "--impl or --contract-paths CMD is required" in capsys.readouterr().err


def test_tree_diff_and_snapshot_details(tmp_path: Path) -> None:
    expected = {f"f{i:02d}": ("file", "a" * 64, False) for i in range(12)}
    actual = {
        "f00": ("file", "b" * 64, True),
        "f01": ("symlink", "f00"),
        "f02": ("dir",),
        "extra": ("special",),
    }
    diff = conformance.tree_diff(expected, actual)
    assert diff[:4] == [
        "tree: unexpected special extra",
        "tree: f00 is file sha256 bbbbbbbbbbbb executable, expected file sha256 aaaaaaaaaaaa",
        "tree: f01 is symlink to 'f00', expected file sha256 aaaaaaaaaaaa",
        "tree: f02 is directory, expected file sha256 aaaaaaaaaaaa",
    ]
    assert diff[4:] == [
        *(f"tree: missing f{i:02d}" for i in range(3, 9)),
        "tree: ... and 3 more differences",
    ]
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to("fifo")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "run").write_bytes(b"")
    (tmp_path / "dir" / "run").chmod(0o700)
    assert conformance.snapshot(tmp_path) == {
        "dir": ("dir",),
        "dir/run": (
            "file",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            True,
        ),
        "fifo": ("special",),
        "link": ("symlink", "fifo"),
    }


def test_python_dash_m(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["conformance", "--list", "-k", "valid-small"])
    monkeypatch.delitem(sys.modules, "dummy_training.conformance")
    with pytest.raises(SystemExit) as exc:
        runpy.run_module("dummy_training.conformance", run_name="__main__")
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("valid-small ")


def test_a_shell_script_that_crashes_with_the_right_exit_code_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # dash prints "sh: 9: dummy-training-missing-validator: not found"; the script exits 2.
    script = shlex.quote(str(DOUBLES / "shell_crash.sh"))
    code, report, out = run(capsys, tmp_path, "--impl", f"sh {script} {{model}}")
    assert code == 1
    missing = {i for i, c in ALL.items() if not (CASES / i / c["model"]).exists()}
    assert by_status(report, "pass") == missing
    crashed = {
        c["id"]
        for c in report["cases"]
        if c["reasons"] and c["reasons"][0].startswith("crash: shell error: ")
    }
    assert crashed == {i for i, c in ALL.items() if c["exit_code"] == 2}
    assert {c["exit_code"] for c in report["cases"] if c["id"] in crashed} == {2}
    assert report["level_reached"] is None
    assert "WARNING: every valid case failed: the command probably does not run at all." in out


@pytest.mark.parametrize(
    ("name", "reached"),
    [("traceback_exit", "exit codes"), ("wrong_reason_codes", "reasons")],
)
def test_the_level_reached_and_the_level_required(
    name: str, reached: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    select = ["-k", "corrupt-*", "-k", "missing-*", "-k", "valid-small"]
    code, report, out = run(capsys, tmp_path, "--impl", double(name), *select)
    assert (code, report["level_reached"]) == (1, reached)
    assert f"level reached: {reached} (required: codes)" in out
    assert "WARNING" not in out
    # Required no higher than reached, every case passes.
    code, report, out = run(
        capsys, tmp_path, "--impl", double(name), *select, "--level", reached.replace(" ", "-")
    )
    assert code == 0, out
    assert by_status(report, "fail") == set()
    assert report["level"] == reached
    assert f"level reached: {reached} (required: {reached})" in out


def test_the_reference_reaches_codes_and_says_why_in_the_message_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, report, out = run(capsys, tmp_path, "--impl", REFERENCE, "-k", "corrupt-*")
    assert code == 0, out
    assert report["level_reached"] == "codes"
    for case in report["cases"]:
        assert case["level"] == "codes"
        assert case["message"].endswith(f"(ERROR_CODE: {case['expected_error_code']})")


@pytest.mark.parametrize(
    ("script", "status", "reason"),
    [
        ('echo "empty (ERROR_CODE: EMPTY_FILE)" > "$0"; exit 2', "pass", None),
        ('echo "ERROR: empty (ERROR_CODE: EMPTY_FILE)" >&2; exit 2', "pass", None),
        (
            'echo "empty" > "$0"; exit 2',
            "fail",
            "the reason does not carry (ERROR_CODE: EMPTY_FILE): empty",
        ),
        ("exit 2", "fail", "no reason given: no message file and nothing on stderr"),
        (
            'echo "Traceback (most recent call last):" >&2; echo "E: x" > "$0"; exit 2',
            "fail",
            "crash: a Python traceback on stderr",
        ),
        ('echo "sh: 1: set: Illegal option -o pipefail" >&2; exit 2', "fail", None),
        ("kill -SEGV $$", "fail", "crash: killed by signal SIGSEGV"),
    ],
    ids=["message-file", "stderr", "no-code", "silent", "traceback", "shell-error", "signal"],
)
def test_a_failing_case_must_say_why_in_the_message_file_or_on_stderr(
    script: str,
    status: str,
    reason: str | None,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    impl = f"sh -c {shlex.quote(script)} {{message_file}}"
    _, report, _ = run(capsys, tmp_path, "--impl", impl, "-k", "corrupt-empty-file")
    (case,) = report["cases"]
    assert case["status"] == status, case
    if status == "fail":
        expected = reason or "crash: shell error: sh: 1: set: Illegal option -o pipefail"
        assert expected in case["reasons"]


def test_args_carry_the_message_file(tmp_path: Path) -> None:
    case = ALL["corrupt-empty-file"]
    root, message = tmp_path / "root", tmp_path / "message"
    argv = conformance.command("impl {args} -- {message_file}", case, root, message)
    assert argv == ["impl", "--root", str(root), "--message-file", str(message), "--", str(message)]


def test_contract_paths_give_each_case_a_private_opt_ml_output(
    confined: conformance.Sandbox, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    existed = Path("/opt/ml/output").exists()
    # Each case starts with an empty /opt/ml/output of its own.
    script = (
        'test ! -e /opt/ml/output/message && echo "x (ERROR_CODE: EMPTY_FILE)" '
        "> /opt/ml/output/message; exit 2"
    )
    impl = f"sh -c {shlex.quote(script)}"
    code, report, out = run(capsys, tmp_path, "--contract-paths", impl, "-k", "corrupt-e*")
    assert code == 1, out  # corrupt-empty-tar wants NO_REGULAR_FILE
    status = {c["id"]: (c["status"], c["message"]) for c in report["cases"]}
    assert status == {
        "corrupt-empty-file": ("pass", "x (ERROR_CODE: EMPTY_FILE)\n"),
        "corrupt-empty-tar": ("fail", "x (ERROR_CODE: EMPTY_FILE)\n"),
    }
    assert Path("/opt/ml/output").exists() == existed, "nothing is made on the host"


def test_signals_are_named_and_unknown_numbers_shown_as_numbers() -> None:
    assert conformance._signal_name(9) == "SIGKILL"
    assert conformance._signal_name(999) == "999"
