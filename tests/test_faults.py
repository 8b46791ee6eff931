"""Real faults in real processes: SIGKILL part-way, a file size limit, a read-only output."""

from __future__ import annotations

import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from archives import gz, tar_bytes
from casekit import REPO, tree_of

# About 24 MB of barely compressible data: long enough to kill runs part-way.
BIG = [("weights.bin", "file", os.urandom(24 << 20)), ("config.json", "file", b"{}")]


@pytest.fixture(scope="module")
def big_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "model.tar.gz"
    path.write_bytes(gz(tar_bytes(BIG)))
    return path


def job_root(base: Path, model: Path, hyperparameters: bool) -> Path:
    (base / "input" / "model").mkdir(parents=True)
    shutil.copyfile(model, base / "input" / "model" / "model.tar.gz")
    if hyperparameters:
        (base / "input" / "config").mkdir(parents=True)
        (base / "input" / "config" / "hyperparameters.json").write_bytes(b'{"a": "1"}')
    return base


def command(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "dummy_training", "--root", str(root), "-q", *args]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


MODES = {
    "splice": (True, ["--strategy", "splice"]),
    "repack": (True, ["--strategy", "repack"]),
    "fallback-copy": (False, []),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_sigkill_leaves_nothing_or_a_complete_output(
    big_model: Path, tmp_path: Path, mode: str
) -> None:
    hyperparameters, args = MODES[mode]
    root = job_root(tmp_path / "job", big_model, hyperparameters)
    output = root / "output" / "model" / "model.tar.gz"
    # How long a whole run takes here, so kills land throughout it.
    started = time.monotonic()
    subprocess.run(command(root, *args), env=env(), check=True)
    whole = time.monotonic() - started
    expected = tree_of(output)
    rng = random.Random(mode)
    for _ in range(6):
        shutil.rmtree(root / "output")
        process = subprocess.Popen(command(root, *args), env=env())
        time.sleep(rng.uniform(0.05, 1.0) * whole)
        process.send_signal(signal.SIGKILL)
        process.wait()
        entries = (
            os.listdir(root / "output" / "model") if (root / "output" / "model").exists() else []
        )
        assert entries in ([], ["model.tar.gz"]), entries  # never a temporary file
        if entries:
            assert tree_of(output) == expected  # complete and valid, never partial
        # A stale work directory from the killed run must not break the next one.
        assert subprocess.run(command(root, *args), env=env()).returncode == 0
        assert tree_of(output) == expected
    assert (root / "input" / "model" / "model.tar.gz").read_bytes() == big_model.read_bytes()


@pytest.mark.parametrize("mode", list(MODES))
def test_file_size_limit_is_a_clean_exit_3(big_model: Path, tmp_path: Path, mode: str) -> None:
    hyperparameters, args = MODES[mode]
    root = job_root(tmp_path / "job", big_model, hyperparameters)

    def limit() -> None:
        # Writes past 1 MiB then fail with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    done = subprocess.run(
        command(root, *args), env=env(), preexec_fn=limit, capture_output=True, text=True
    )
    assert done.returncode == 3, done.stderr
    assert "File too large" in done.stderr
    assert done.stderr.count("ERROR:") == 1
    assert os.listdir(root / "output" / "model") == []
    assert sorted(os.listdir(root / "output")) == ["model"]  # the work directory is gone
    assert (root / "input" / "model" / "model.tar.gz").read_bytes() == big_model.read_bytes()


def test_read_only_output_directory_exits_3(tmp_path: Path) -> None:
    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1) to mount the output directory read-only")
    root = job_root(tmp_path / "job", write_small(tmp_path), True)
    out = root / "output" / "model"
    out.mkdir(parents=True)
    script = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && shift && exec "$@"'
    done = subprocess.run(
        [
            unshare,
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            str(out),
            "x",
            *command(root),
        ],
        env=env(),
        capture_output=True,
        text=True,
    )
    if "mount:" in done.stderr:
        pytest.skip(f"this machine cannot make private read-only mounts: {done.stderr.strip()}")
    assert done.returncode == 3, done.stderr
    assert "Read-only file system" in done.stderr
    assert os.listdir(out) == []


def write_small(tmp_path: Path) -> Path:
    path = tmp_path / "small.tar.gz"
    path.write_bytes(gz(tar_bytes([("w.bin", "file", b"x" * 100)])))
    return path
