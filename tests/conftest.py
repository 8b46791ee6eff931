"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from dummy_training import cli
from snapshot_json import json_snapshot as _json_snapshot

# `json_snapshot`: syrupy's `snapshot` storing one plain JSON file per snapshot
# (see tests/snapshot_json.py for the format).
json_snapshot = pytest.fixture(_json_snapshot)


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees the caller's SOURCE_DATE_EPOCH or writes SageMaker's message file."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    monkeypatch.setattr(cli, "MESSAGE_FILE", Path("/nonexistent/dummy-training/message"))
