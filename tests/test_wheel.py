"""The conformance suite ships in the wheel: installed, the runner needs no clone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from casekit import CASES, REPO, case_ids
from dummy_training import conformance

# What a build reads; copied so that building never writes build/ or egg-info
# into the checkout while other runs use it.
SOURCES = ("pyproject.toml", "setup.py", "README.md", "dummy_training", "fixtures")
# pip never reaches an index: the wheel has no dependencies to fetch.
OFFLINE = ("--no-index", "--no-deps", "-q")


def _unavailable(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must build, venv and install a wheel: {why}")
    pytest.skip(f"cannot build and install a wheel here: {why}")


def _run(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built offline from a copy of the checkout's sources."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in SOURCES:
        if (REPO / name).is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(REPO / name, src / name, ignore=ignore)
        else:
            src.mkdir(exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    # Every step runs in tmp: a cwd that an earlier test left behind or removed
    # would otherwise decide what `-c` and `-m` import first.
    # Two probes: importing pip before setuptools in one process makes setuptools'
    # distutils shim step aside and the import fail.
    for probe in (["-m", "pip", "--version"], ["-c", "import setuptools.build_meta, venv"]):
        found = _run([sys.executable, *probe], cwd=tmp)
        if found.returncode != 0:
            _unavailable(f"pip, setuptools or venv missing: {found.stderr[-2000:]}")
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-build-isolation", *OFFLINE]
    build = _run([*pip_wheel, str(src), "-w", str(tmp / "dist")], cwd=tmp)
    assert build.returncode == 0, build.stderr
    wheels = list((tmp / "dist").glob("dummy_training-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no system site-packages) with only the wheel installed."""
    tmp = tmp_path_factory.mktemp("venv")
    env = tmp / "venv"
    made = _run([sys.executable, "-m", "venv", str(env)], cwd=tmp)
    if made.returncode != 0:
        _unavailable(f"python -m venv: {made.stderr.strip()[-2000:]}")
    pip_install = [str(env / "bin" / "python"), "-m", "pip", "install", *OFFLINE]
    install = _run([*pip_install, str(wheel)], cwd=tmp)
    assert install.returncode == 0, install.stderr
    return env


def test_wheel_ships_the_suite_data_and_no_generator(wheel: Path) -> None:
    prefix = "dummy_training/_fixtures/"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    shipped = {name[len(prefix) :] for name in names if name.startswith(prefix)}
    data = {"SUITE_VERSION", "case.schema.json", "SHA256SUMS", "CATEGORIES.md"}
    cases = {p.relative_to(CASES.parent).as_posix() for p in CASES.rglob("*") if p.is_file()}
    assert shipped == data | cases
    # fixtures/generate.py and the fixtures/generator/ package are the checkout's tools.
    tools = [n for n in names if n.endswith("/generate.py") or "generator/" in n]
    assert not tools, tools


def test_wheel_ships_the_typing_marker(wheel: Path) -> None:
    # PEP 561: without it, type checkers ignore the package's annotations, whatever
    # the "Typing :: Typed" classifier says.
    with zipfile.ZipFile(wheel) as archive:
        assert "dummy_training/py.typed" in archive.namelist()


def installed(env: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed console script, with the venv first on PATH as after `activate`."""
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    environ["PATH"] = f"{env / 'bin'}{os.pathsep}{environ.get('PATH', '')}"
    environ["VIRTUAL_ENV"] = str(env)
    return _run([str(env / "bin" / "dummy-training-conformance"), *args], cwd=cwd, env=environ)


def test_installed_runner_passes_the_reference_without_a_clone(venv: Path, tmp_path: Path) -> None:
    where = _run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import dummy_training; print(dummy_training.__file__)",
        ],
        cwd=tmp_path,
    )
    assert venv in Path(where.stdout.strip()).parents, "imported from the venv, not the clone"
    done = installed(
        venv, "--impl", "python3 -m dummy_training {args}", "--jobs", "4", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    version = (REPO / "fixtures" / "SUITE_VERSION").read_text(encoding="utf-8").strip()
    total = len(case_ids())
    assert f"conformance suite {version}: {total} cases" in done.stdout
    assert f"suite {version}: OK ({total} passed)" in done.stdout
    assert "level reached: codes (required: codes)" in done.stdout


def test_installed_runner_lists_its_cases_and_takes_another_directory(
    venv: Path, tmp_path: Path
) -> None:
    listed = installed(venv, "--list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == case_ids()
    mine = tmp_path / "mine"
    shutil.copytree(CASES / "valid-small", mine / "valid-small")
    listed = installed(venv, "--list", "--cases", str(mine), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["valid-small"]


def test_default_cases_prefer_the_checkout_then_the_packaged_copy(tmp_path: Path) -> None:
    package = tmp_path / "site-packages" / "dummy_training"
    assert conformance.default_cases(package) == package / "_fixtures" / "cases"
    (tmp_path / "site-packages" / "fixtures" / "cases").mkdir(parents=True)
    assert conformance.default_cases(package) == tmp_path / "site-packages" / "fixtures" / "cases"
    assert conformance.CASES == CASES
