"""The library scan, found by mutation testing: what it records without being asked."""

from __future__ import annotations

from pathlib import Path

from archives import SMALL, write_model
from dummy_training import scan, validate_model


def test_scan_names_the_file_and_hashes_only_on_request(tmp_path: Path) -> None:
    model = write_model(tmp_path, SMALL)
    manifest = scan(model)
    assert manifest.path == str(model)
    # Hashing every member costs a pass over the data; validation alone does not need it.
    assert [m.sha256 for m in manifest.members] == [None, None]
    assert all(m.sha256 for m in scan(model, hash_data=True).members)
    assert validate_model(model).path == str(model)
