"""hyperparameters.json that is valid JSON but not an object: the message names its type."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dummy_training import ValidationError
from dummy_training.hyperparameters import load_hyperparameters


@pytest.mark.parametrize(
    ("text", "kind"),
    [("3.5", "number"), ("-1", "number"), ("true", "boolean"), ("null", "null"), ('"x"', "string")],
)
def test_a_non_object_is_refused_with_its_json_type(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text(text)
    with pytest.raises(ValidationError) as refused:
        load_hyperparameters(path)
    assert (
        str(refused.value) == f"{path}: hyperparameters must be a JSON object (got {kind}) "
        "(ERROR_CODE: HYPERPARAMETERS_INVALID)"
    )


def test_duplicate_keys_warning_names_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "hyperparameters.json"
    path.write_text('{"lr": "0.1", "lr": "0.2"}')
    caplog.set_level(logging.WARNING, logger="dummy_training")
    assert load_hyperparameters(path) == path.read_bytes()
    assert caplog.messages == [f"{path}: duplicate keys ['lr']; the last value of each wins"]
