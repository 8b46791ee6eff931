"""Shared pytest fixtures."""

from __future__ import annotations

import pytest

from snapshot_json import json_snapshot as _json_snapshot

# `json_snapshot`: syrupy's `snapshot` storing one plain JSON file per snapshot
# (see tests/snapshot_json.py for the format).
json_snapshot = pytest.fixture(_json_snapshot)
