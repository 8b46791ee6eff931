"""The log as an on-call engineer reads it: who ran, how big, how long each phase, which member."""

from __future__ import annotations

import ast
import json
import logging
import platform
import re
import time
from pathlib import Path

import pytest

from archives import SMALL, write_model
from dummy_training import __version__, atomic, main, progress, scan

PACKAGE = Path(__file__).resolve().parents[1] / "dummy_training"
SNAPSHOTS = Path(__file__).resolve().parent / "__snapshots__" / "test_cases"
# "member" with nothing to say which kind; "--max-members" is a flag's name.
BARE_MEMBER = re.compile(r"(?<!gzip )(?<!tar )(?<!-)\bmembers?\b")
DONE = re.compile(
    r"^INFO: done in (?P<elapsed>[0-9.]+) s \((?P<phases>[^)]*)\): (?P<tar>\d+) bytes "
    r"\([0-9.]+ [kMG]B\) of tar data at (?P<rate>[0-9.]+) MB/s$"
)


def slow_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock that advances a quarter second per reading: each run takes seconds."""
    now = [0.0]

    def tick() -> float:
        now[0] += 0.25
        return now[0]

    monkeypatch.setattr(time, "monotonic", tick)
    return now


def run_logged(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    assert main(["--root", str(root), *args]) == 0
    return capsys.readouterr().err.splitlines()


def phases_of(line: str) -> dict[str, float]:
    done = DONE.match(line)
    assert done is not None, line
    pairs = (part.rsplit(" ", 2) for part in done["phases"].split(", "))
    return {name: float(seconds) for name, seconds, unit in pairs}


def test_the_first_line_names_the_tool_python_and_platform(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, SMALL)
    first = run_logged(tmp_path, capsys)[0]
    assert first == (
        f"INFO: dummy_training {__version__} on Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()} "
        f"{platform.machine()}"
    )


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["--strategy", "auto"], ["scan and splice", "fsync"]),
        (["--strategy", "repack"], ["scan", "repack extract", "repack pack", "fsync"]),
        ([], ["scan and copy", "fsync"]),
    ],
    ids=["splice", "repack", "fallback"],
)
def test_the_last_line_times_each_phase_and_rates_the_tar_data(
    args: list[str], names: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hyperparameters = b'{"a": "1"}\n' if args else None  # none: the fallback copy
    model = write_model(tmp_path, SMALL, hyperparameters=hyperparameters)
    last = run_logged(tmp_path, capsys, *args)[-1]
    phases = phases_of(last)
    assert list(phases) == names
    done = DONE.match(last)
    assert done is not None
    elapsed, tar = float(done["elapsed"]), int(done["tar"])
    assert tar == 10240 and tar != model.stat().st_size  # the tar data, not the gzip bytes
    assert sum(phases.values()) <= elapsed + 0.005 * len(phases)  # rounding only


def test_the_rate_is_the_tar_data_over_the_whole_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = write_model(tmp_path, [("zeros.bin", "file", bytes(4_000_000))])  # 0.1% gzip
    tar = scan(model).uncompressed_size
    slow_clock(monkeypatch)
    done = DONE.match(run_logged(tmp_path, capsys)[-1])
    assert done is not None
    elapsed = float(done["elapsed"])
    assert elapsed >= 1.0
    assert done["rate"] == f"{tar / elapsed / 1e6:.1f}"
    assert done["rate"] != f"{model.stat().st_size / elapsed / 1e6:.1f}"  # not the gzip's


def test_the_fsync_phase_is_the_time_spent_getting_the_output_on_disk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_fsync = atomic.os.fsync

    def slow_fsync(fd: int) -> None:
        time.sleep(0.2)
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", slow_fsync)
    write_model(tmp_path, SMALL)
    phases = phases_of(run_logged(tmp_path, capsys)[-1])
    # Two fsyncs (the file and its directory), both in the fsync phase, none in the scan.
    assert phases["fsync"] >= 0.4
    assert phases["scan and splice"] < 0.2


def test_the_archive_line_gives_human_sizes_beside_bytes_and_kinds_of_member(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = write_model(tmp_path, [("weights.bin", "file", bytes(1_500_000))])
    size, tar = model.stat().st_size, scan(model).uncompressed_size
    archive = next(line for line in run_logged(tmp_path, capsys) if "INFO: archive:" in line)
    assert archive == (
        f"INFO: archive: {size} bytes ({size / 1000:.1f} kB) in 1 gzip member, holding "
        f"{tar} bytes (1.5 MB) of tar data (compressed to {100 * size / tar:.1f}%): "
        "1 tar member (1 file, 0 dir, 0 symlink, 0 hardlink), 1500000 bytes (1.5 MB) of file data"
    )


def test_no_log_line_of_any_fixture_says_member_without_saying_which() -> None:
    lines = []
    for snapshot in sorted(SNAPSHOTS.glob("*.json")):
        recorded = json.loads(snapshot.read_text())
        lines += recorded["log"] + recorded.get("repack", {}).get("log", [])
    assert len(lines) > 1000
    # A member's own name may contain the word: only the words around names count.
    bare = [line for line in lines if BARE_MEMBER.search(re.sub(r"'[^']*'", "''", line))]
    assert bare == []


def _strings(tree: ast.AST) -> list[str]:
    """Every string literal of a module that is not a docstring."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and not node.value.isidentifier()  # a key, such as the manifest's "members"
        and id(node) not in docstrings
    ]


def test_no_message_in_the_package_says_member_without_saying_which() -> None:
    # Messages are built from pieces, so every literal is checked, not only whole lines.
    bare = {}
    for module in sorted(PACKAGE.glob("*.py")):
        found = [s for s in _strings(ast.parse(module.read_text())) if BARE_MEMBER.search(s)]
        if found:
            bare[module.name] = found
    assert bare == {}


def test_the_bare_member_check_can_fail() -> None:
    assert BARE_MEMBER.search("unsafe member 'x'")
    assert BARE_MEMBER.search("2 members")
    assert not BARE_MEMBER.search("1 gzip member, 2 tar members (cap: --max-members 3)")


def test_progress_lines_are_evenly_spaced_across_the_phases_of_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class When(logging.Handler):
        def __init__(self) -> None:
            super().__init__()
            self.lines: list[tuple[float, str]] = []

        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("progress:"):
                self.lines.append((now[0], record.getMessage().split(" ")[1]))

    when = When()
    logging.getLogger("dummy_training").addHandler(when)
    monkeypatch.setattr(progress, "FIRST", 1.0)
    monkeypatch.setattr(progress, "INTERVAL", 2.0)
    write_model(tmp_path, [(f"w{i}.bin", "file", bytes(300_000)) for i in range(12)])
    now = slow_clock(monkeypatch)
    try:
        run_logged(tmp_path, capsys, "--strategy", "repack")
    finally:
        logging.getLogger("dummy_training").removeHandler(when)
    phases = {phase for _, phase in when.lines}
    assert {"scan", "extract", "pack"} <= phases, when.lines
    times = [at for at, _ in when.lines]
    assert times[0] >= 1.0
    assert all(b - a >= 2.0 for a, b in zip(times, times[1:])), when.lines
