"""Read hyperparameters.json and check that it is a UTF-8 JSON object."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import InputNotFoundError, ValidationError

log = logging.getLogger(__name__)

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "number")


def load_hyperparameters(path: Path) -> bytes:
    """Return the file's bytes, unchanged, once they are known to be a JSON object.

    SageMaker passes hyperparameters as strings, so other value types only warn.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise InputNotFoundError(f"{path}: hyperparameters file not found") from None
    except IsADirectoryError:
        raise ValidationError(f"{path}: hyperparameters path is a directory") from None
    except OSError as exc:
        raise InputNotFoundError(
            f"{path}: hyperparameters file cannot be read: {exc.strerror}"
        ) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path}: hyperparameters are not valid UTF-8 (byte {exc.start})"
        ) from None

    def refuse_constant(name: str) -> Any:
        # Python's json accepts NaN and Infinity, which are not JSON.
        raise ValidationError(f"{path}: hyperparameters are not valid JSON ({name} is not allowed)")

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = Counter(key for key, _ in pairs)
        duplicates = sorted(key for key, n in counts.items() if n > 1)
        if duplicates:
            log.warning("%s: duplicate keys %s; the last value of each wins", path, duplicates)
        return dict(pairs)

    try:
        value = json.loads(text, parse_constant=refuse_constant, object_pairs_hook=keep_pairs)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ValidationError(
            f"{path}: hyperparameters are not valid JSON ({exc.msg} at {where})"
        ) from None
    if not isinstance(value, dict):
        raise ValidationError(
            f"{path}: hyperparameters must be a JSON object (got {_json_type(value)})"
        )
    odd = sorted(key for key, item in value.items() if not isinstance(item, str))
    if odd:
        log.warning("%s: SageMaker expects string values; not strings: %s", path, ", ".join(odd))
    log.info("hyperparameters: %d keys, %d bytes", len(value), len(data))
    return data
