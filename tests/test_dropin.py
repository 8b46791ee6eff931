"""The drop-in single file runs with nothing installed, on the oldest and newest Python.

Python 3.7 has no tox env (its last syrupy and jsonschema cannot run this suite): the
conformance runner, on this Python, drives the drop-in under ``python3.7`` instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from casekit import REPO, case_ids, copy_case, expand, load_case
from dummy_training import conformance, dropin, main


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("dist") / "dummy_training.pyz"
    assert dropin.main([str(target)]) == 0
    return target


def test_build_is_reproducible_and_holds_only_the_step(pyz: Path, tmp_path: Path) -> None:
    again = dropin.build(tmp_path / "again.pyz")
    assert again.read_bytes() == pyz.read_bytes()
    assert os.access(pyz, os.X_OK)
    with zipfile.ZipFile(pyz) as archive:
        names = archive.namelist()
    assert "__main__.py" in names and "dummy_training/cli.py" in names
    assert "dummy_training/conformance.py" not in names
    assert "dummy_training/dropin.py" not in names


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_documents_the_options_and_writes_nothing(
    flag: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "1000")
    assert dropin.main([flag]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: python3 -m dummy_training.dropin [-h] [-o PATH] [TARGET] ")
    # Python 3.13's argparse writes "-o, --output PATH"; older ones "-o PATH, --output PATH".
    option = r"-o( PATH)?, --output PATH where the file goes \(default: dist/dummy_training\.pyz\)"
    assert re.search(option, out), out
    assert list(tmp_path.iterdir()) == []  # no zip named --help, no dist/


def test_dash_o_and_the_positional_target_and_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert dropin.main(["-o", "a/step.pyz"]) == 0
    assert dropin.main(["b.pyz"]) == 0
    assert dropin.main([]) == 0
    assert capsys.readouterr().out.split() == ["a/step.pyz", "b.pyz", "dist/dummy_training.pyz"]
    built = [tmp_path / "a" / "step.pyz", tmp_path / "b.pyz", tmp_path / dropin.DEFAULT_TARGET]
    assert len({path.read_bytes() for path in built}) == 1


@pytest.mark.parametrize(
    ("argv", "cause"),
    [
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["-o"], "argument -o/--output: expected one argument"),
        (["-o", "a.pyz", "b.pyz"], "give the target once: -o PATH or TARGET, not both"),
    ],
)
def test_a_bad_command_line_exits_2_and_writes_nothing(
    argv: list[str],
    cause: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert dropin.main(argv) == 2
    assert capsys.readouterr().err.endswith(f"python3 -m dummy_training.dropin: error: {cause}\n")
    assert list(tmp_path.iterdir()) == []


def test_dash_m_help_exits_0_without_writing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dummy_training.dropin", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python3 -m dummy_training.dropin")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("python", ["python3.8", "python3.13", sys.executable])
def test_smoke_under_isolated_mode(python: str, pyz: Path, tmp_path: Path) -> None:
    interpreter = shutil.which(python)
    # A pyenv shim exists for every installed version but answers only when
    # PYENV_VERSION lists it, as .ci/run arranges.
    if (
        interpreter is None
        or subprocess.run([interpreter, "-c", ""], capture_output=True).returncode
    ):
        pytest.skip(f"{python} is not available here; .ci/run makes every pyenv Python visible")
    root = copy_case("valid-small", tmp_path)
    # -I -S: no site-packages, no environment, no current directory on sys.path.
    done = subprocess.run(
        [interpreter, "-I", "-S", str(pyz), "--root", str(root)],
        cwd="/",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr
    with tarfile.open(root / "output" / "model" / "model.tar.gz", "r:gz") as tf:
        assert tf.getmember("hyperparameters.json").size > 0
    failed = subprocess.run(
        [interpreter, "-I", "-S", str(pyz), "--root", str(tmp_path / "none")], capture_output=True
    )
    assert failed.returncode == 1


def interpreter(python: str) -> str | None:
    """The real executable behind ``python``, or None where it does not run here.

    A pyenv shim exists for every installed version but answers only when
    PYENV_VERSION lists it, as .ci/run arranges; the real path also spares each run
    the shim's start-up.
    """
    found = shutil.which(python)
    if found is None:
        return None
    done = subprocess.run(
        [found, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True
    )
    executable = done.stdout.strip()
    return executable if done.returncode == 0 and executable else None


@pytest.fixture(scope="module")
def python37() -> str:
    found = interpreter("python3.7")
    if found is None:
        why = "python3.7 is not available here; .ci/run makes every pyenv Python visible"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must prove Python 3.7: {why}")
        pytest.skip(why)
    return found


def test_python37_passes_every_fixture_through_the_conformance_runner(
    python37: str, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The step is this project's own: where the runner can run it unconfined, it does,
    # so that the test needs no sandbox (the runner's own tests cover the sandbox).
    with contextlib.suppress(SystemExit):
        conformance.main(["--help"])
    unconfined = ["--no-sandbox"] if "--no-sandbox" in capsys.readouterr().out else []
    report = tmp_path / "report.json"
    command = f"{shlex.quote(python37)} -I -S {shlex.quote(str(pyz))} {{args}}"
    argv = ["--impl", command, "--jobs", "4", "--json", str(report), *unconfined]
    code = conformance.main(argv)
    out = capsys.readouterr().out
    assert code == 0, out
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["summary"] == {"pass": len(case_ids()), "fail": 0, "skip": 0, "xpass": 0}
    assert result["level_reached"] == "codes"


def test_python37_runs_the_package_with_dash_m(python37: str, tmp_path: Path) -> None:
    root = copy_case("valid-small", tmp_path)
    # -E -s -S: nothing from the environment or site-packages; -B: no bytecode in the
    # checkout. `-m` finds the package in the current directory.
    argv = ["--root", str(root), "--message-file", str(tmp_path / "message")]
    done = subprocess.run(
        [python37, "-B", "-E", "-s", "-S", "-m", "dummy_training", *argv],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (root / "output" / "model" / "model.tar.gz").is_file()


VALID = [case_id for case_id in case_ids() if load_case(case_id)["exit_code"] == 0]
_ZLIB_VERSION = "import zlib; print(zlib.ZLIB_RUNTIME_VERSION)"
# Runs the step from the drop-in file once per argument list (a JSON list on stdin) in
# one process: one start-up and one compilation of the file's modules for all runs.
_RUN_EACH = """
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])
from dummy_training import main
done = []
for argv in json.load(sys.stdin):
    log = io.StringIO()
    with contextlib.redirect_stderr(log):
        done.append([main(argv), log.getvalue()])
json.dump(done, sys.stdout)
"""


def test_python37_writes_the_same_bytes_as_this_python(
    python37: str, pyz: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A repack compresses anew, and zlib releases may compress differently.
    theirs = subprocess.run([python37, "-c", _ZLIB_VERSION], capture_output=True, text=True)
    ours = subprocess.run([sys.executable, "-c", _ZLIB_VERSION], capture_output=True, text=True)
    if theirs.stdout != ours.stdout:
        pytest.skip(f"python3.7 has zlib {theirs.stdout.strip()}, this Python {ours.stdout}")
    runs: list[tuple[str, str, dict[str, tuple[list[str], Path]]]] = []
    for case_id in VALID:
        case = load_case(case_id)
        for strategy in ("auto", "repack"):
            by_python = {}
            for python in ("python3.7", "this"):
                root = copy_case(case_id, tmp_path / python / strategy)
                argv = [*expand(case["args"], case, root), "--strategy", strategy]
                argv += ["--message-file", str(root.parent / f"{case_id}.message")]
                by_python[python] = (argv, root / case["output_dir"] / "model.tar.gz")
            runs.append((case_id, strategy, by_python))
    done = subprocess.run(
        [python37, "-I", "-S", "-c", _RUN_EACH, str(pyz)],
        input=json.dumps([by_python["python3.7"][0] for _, _, by_python in runs]),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == len(runs)
    for (case_id, strategy, by_python), (code, log) in zip(runs, results):
        assert code == 0, f"{case_id} --strategy {strategy} under python3.7:\n{log}"
        argv, output = by_python["this"]
        assert main(argv) == 0, capsys.readouterr().err
        assert by_python["python3.7"][1].read_bytes() == output.read_bytes(), (case_id, strategy)


@pytest.mark.parametrize("how", ["drop-in", "python -m"])
@pytest.mark.parametrize("python", ["python3.6", "python2.7"])
def test_an_older_python_is_refused_in_one_line(python: str, how: str, pyz: Path) -> None:
    found = interpreter(python)
    if found is None:
        pytest.skip(f"{python} is not available here; .ci/run makes every pyenv Python visible")
    version = subprocess.run(
        [found, "-c", "import sys; print('.'.join(str(n) for n in sys.version_info[:3]))"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    # -E -s -S: nothing from the environment or site-packages; -B: no bytecode in the
    # checkout. `-m` finds the package in the current directory.
    where = [str(pyz)] if how == "drop-in" else ["-m", "dummy_training"]
    done = subprocess.run(
        [found, "-B", "-E", "-s", "-S", *where, "--root", "/nonexistent"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    line = f"dummy_training needs Python 3.7 or newer; this is {version}\n"
    assert (done.returncode, done.stdout, done.stderr) == (4, "", line)
