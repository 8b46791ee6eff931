"""The drop-in single file runs with nothing installed, on the oldest and newest Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from casekit import copy_case
from dummy_training import dropin


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
