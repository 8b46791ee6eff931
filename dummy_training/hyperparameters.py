"""Read hyperparameters.json and check that it is a UTF-8 JSON object."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import InputNotFoundError, ValidationError
from .progress import size

log = logging.getLogger(__name__)

# Large enough for any real set of hyperparameters (SageMaker itself allows 256 KB);
# --max-hyperparameters-bytes raises it.
HYPERPARAMETERS_MAX = 1 << 20
# Python 3.11+ refuses to convert longer integers (and older releases take quadratic
# time); one limit for every Python keeps the outcome alike.
INT_DIGITS_MAX = 4300
_READ_BLOCK = 1 << 20
_KINDS = (
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
    (stat.S_ISSOCK, "socket"),
)

_INVALID = "HYPERPARAMETERS_INVALID"
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def _json_type(value: object) -> str:
    return _JSON_TYPES.get(type(value), "number")


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise ValidationError(f"{path}: hyperparameters path is a directory", _INVALID)
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "special file")
        raise ValidationError(
            f"{path}: hyperparameters path is a {kind}, not a regular file", _INVALID
        )


def _too_large(path: Path, max_bytes: int) -> ValidationError:
    return ValidationError(
        f"{path}: hyperparameters file is larger than the cap of {max_bytes} bytes "
        "(raise it with --max-hyperparameters-bytes)",
        "CAP_EXCEEDED",
    )


def read_capped(path: Path, max_bytes: int = HYPERPARAMETERS_MAX) -> bytes:
    """The bytes of the regular file ``path``, refused when they exceed ``max_bytes``.

    The kind is checked before the file is opened for reading, so a FIFO never blocks,
    and at most ``max_bytes + 1`` bytes are read, so a device or a growing file cannot
    exhaust memory.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputNotFoundError(
                f"{path}: hyperparameters file not found "
                f"(dangling symbolic link to {os.readlink(path)})"
            ) from None
        raise InputNotFoundError(f"{path}: hyperparameters file not found") from None
    except OSError as exc:
        raise InputNotFoundError(
            f"{path}: hyperparameters file cannot be read: {exc.strerror}"
        ) from exc
    _require_regular(path, st.st_mode)
    if st.st_size > max_bytes:
        raise _too_large(path, max_bytes)
    chunks: list[bytes] = []
    left = max_bytes + 1
    try:
        # Non-blocking, should the path have become a FIFO since the stat.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            _require_regular(path, os.fstat(fd).st_mode)
            while left > 0:
                chunk = os.read(fd, min(left, _READ_BLOCK))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
    except OSError as exc:
        raise InputNotFoundError(
            f"{path}: hyperparameters file cannot be read: {exc.strerror}"
        ) from exc
    if left <= 0:
        raise _too_large(path, max_bytes)
    return b"".join(chunks)


def load_hyperparameters(path: Path, max_bytes: int = HYPERPARAMETERS_MAX) -> bytes:
    """Return the file's bytes, unchanged, once they are known to be a JSON object.

    SageMaker passes hyperparameters as strings, so other value types only warn.
    """
    data = read_capped(Path(path), max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path}: hyperparameters are not valid UTF-8 (byte {exc.start})", _INVALID
        ) from None

    def refuse_constant(name: str) -> Any:
        # Python's json accepts NaN and Infinity, which are not JSON.
        raise ValidationError(
            f"{path}: hyperparameters are not valid JSON ({name} is not allowed)", _INVALID
        )

    def keep_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        counts = Counter(key for key, _ in pairs)
        duplicates = sorted(key for key, n in counts.items() if n > 1)
        if duplicates:
            log.warning("%s: duplicate keys %s; the last value of each wins", path, duplicates)
        return dict(pairs)

    def parse_int(digits: str) -> int:
        count = len(digits) - digits.startswith("-")
        if count > INT_DIGITS_MAX:
            raise ValidationError(
                f"{path}: hyperparameters are not usable JSON (an integer of {count} digits; "
                f"Python reads at most {INT_DIGITS_MAX})",
                _INVALID,
            )
        return int(digits)

    try:
        value = json.loads(
            text,
            parse_constant=refuse_constant,
            parse_int=parse_int,
            object_pairs_hook=keep_pairs,
        )
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ValidationError(
            f"{path}: hyperparameters are not valid JSON ({exc.msg} at {where})", _INVALID
        ) from None
    except ValidationError:
        raise
    except RecursionError:
        raise ValidationError(
            f"{path}: hyperparameters are not usable JSON (nested too deeply for Python's json)",
            _INVALID,
        ) from None
    except ValueError as exc:
        # Whatever else the stdlib cannot take (e.g. a lower PYTHONINTMAXSTRDIGITS).
        raise ValidationError(
            f"{path}: hyperparameters are not usable JSON ({exc})", _INVALID
        ) from None
    if not isinstance(value, dict):
        raise ValidationError(
            f"{path}: hyperparameters must be a JSON object (got {_json_type(value)})", _INVALID
        )
    odd = sorted(key for key, item in value.items() if not isinstance(item, str))
    if odd:
        log.warning("%s: SageMaker expects string values; not strings: %s", path, ", ".join(odd))
    log.info("hyperparameters: %d keys, %s", len(value), size(len(data)))
    return data
