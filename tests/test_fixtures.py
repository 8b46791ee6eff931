"""The committed fixtures: schema-valid, unaltered, and counted truly in the README."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import jsonschema
import pytest

from casekit import CASES, REPO, case_ids, load_case

FIXTURES = REPO / "fixtures"


@pytest.mark.parametrize("case_id", case_ids())
def test_case_json_matches_the_schema(case_id: str) -> None:
    schema = json.loads((FIXTURES / "case.schema.json").read_text(encoding="utf-8"))
    case = load_case(case_id)
    jsonschema.validate(case, schema)
    assert case["id"] == case_id


def test_every_committed_byte_is_as_generated() -> None:
    """Any changed byte in any fixture file fails here, on every Python."""
    listed = {}
    for line in (FIXTURES / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    actual = {
        str(p.relative_to(FIXTURES)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(CASES.rglob("*"))
        if p.is_file()
    }
    assert actual == listed


def test_readme_lists_every_category_with_its_count() -> None:
    counts = Counter(load_case(c)["category"] for c in case_ids())
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\w+) \| (\d+) \|$", readme, re.M))
    assert {k: int(v) for k, v in table.items()} == dict(counts)
    assert f"| **total** | **{sum(counts.values())}** |" in readme
    assert len(counts) >= 7 and sum(counts.values()) >= 40
