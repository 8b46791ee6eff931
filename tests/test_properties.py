"""Properties over random archives, valid and broken: exit codes, outputs, no strays."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from invariants import check_run
from strategies import archives, mutated_archives

# Enough to run on all six Pythons in CI; `tox -e fuzz` runs the long campaign.
EXAMPLES = int(os.environ.get("DUMMY_TRAINING_EXAMPLES", "80"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(archives())
def test_valid_archives_always_succeed(tmp_path: Path, archive: bytes) -> None:
    code, log = check_run(archive, tmp_path)
    assert code == 0, log


@SETTINGS
@given(mutated_archives())
def test_broken_archives_never_pass_and_never_crash(tmp_path: Path, archive: bytes) -> None:
    check_run(archive, tmp_path)


@SETTINGS
@given(mutated_archives())
def test_broken_archives_under_the_repack(tmp_path: Path, archive: bytes) -> None:
    check_run(archive, tmp_path, strategy="repack")
