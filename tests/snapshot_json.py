"""Syrupy extension that stores each snapshot as its own plain JSON file.

Syrupy's default (amber) format and its bundled JSON extension both render
data with syrupy's own reprs, which have changed between syrupy releases.
The pip resolver gives this project syrupy 4.x on Python 3.8/3.9 and newer
majors on 3.10+, so snapshots are written in a format of our own instead:

* one snapshot per file, at ``tests/__snapshots__/<test module>/<test name>.json``
  (syrupy's single-file layout; a parametrized test gets ``<test name>[<id>].json``
  and a second assertion in one test ``<test name>.1.json``). A name that is
  not a safe file name as it stands, or that other pytest or syrupy releases
  would spell differently, fails the test with ``ValueError``: one containing
  ``\\ / ? * : | " < >`` or control characters (syrupy would strip them, and
  pytest writes non-ASCII parameters as ``\\x..`` escapes), a parametrize id
  over 100 characters, a name over 200 bytes. Pass ``ids=`` to fix it;
* the file's text is exactly
  ``json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\\n"``,
  UTF-8 encoded, ``\\n`` line endings;
* only JSON data is accepted: ``dict`` with ``str`` keys, ``list``, ``str``,
  ``int``, ``bool`` and ``None``. Anything else (floats, tuples, sets, bytes,
  objects) raises ``TypeError`` rather than being silently coerced, so a
  snapshot always round-trips to the value that was asserted;
* syrupy's ``exclude``/``include`` property filters are refused and its
  ``matcher`` is ignored: build the exact data to store instead.

Usage (``tests/conftest.py`` registers the fixture)::

    def test_report(json_snapshot):
        assert build_report() == json_snapshot

``pytest --snapshot-update`` writes or refreshes the files and deletes unused
ones; without it, a missing, different or unused snapshot fails the run.
"""

from __future__ import annotations

import json
import unicodedata
from typing import TYPE_CHECKING, Any

from syrupy.extensions.base import AbstractSyrupyExtension
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

if TYPE_CHECKING:
    from syrupy.assertion import SnapshotAssertion
    from syrupy.location import PyTestLocation
    from syrupy.types import SnapshotIndex

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PARAM_ID_CHARS",
    "JSONSnapshotExtension",
    "dumps",
    "json_snapshot",
]

# Syrupy cuts longer file names to fit 255 bytes, but the cut-off differs
# between releases (251 characters in 4.x/6.x, 250 in 7.x), so an overlong
# name would not be stable. Refuse names well below either limit instead.
MAX_NAME_BYTES = 200
# pytest 9 (Python 3.10+) replaces an auto-generated id part made from a str or
# bytes value over 100 characters by `<argname><index>`; pytest 8 (all that
# Python 3.8/3.9 get) keeps the value. Such an id is longer than 100 characters
# under pytest 8, so refusing ids over this length catches the divergence there.
MAX_PARAM_ID_CHARS = 100
# What every syrupy release drops from single-file names (besides Unicode
# category C). Syrupy then warns that it cannot relate the file to its test.
_UNSAFE_CHARS = frozenset('\\/?*:|"<>')


def dumps(data: object) -> str:
    """Return the snapshot text for ``data``: the exact bytes of the file, decoded.

    Raises ``TypeError`` for anything that is not JSON data (see the module
    docstring) and ``ValueError`` for a reference cycle or a string that cannot
    be encoded as UTF-8 (a lone surrogate).
    """
    _check(data, "$", set())
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _check(value: object, path: str, parents: set[int]) -> None:
    # Checked up front, with the path to the offending value in the message,
    # because json.dumps would quietly turn tuples into lists, int keys into
    # strings and floats into text whose round trip is not guaranteed.
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"string at {path} is not valid UTF-8: {exc.reason}") from None
        return
    if isinstance(value, (dict, list)):
        if id(value) in parents:
            raise ValueError(f"reference cycle at {path}")
        parents.add(id(value))
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TypeError(
                        f"JSON object keys must be str, got {type(key).__name__} {key!r} at {path}"
                    )
                _check(key, f"{path}[{key!r}]", parents)
                _check(item, f"{path}[{key!r}]", parents)
        else:
            for index, item in enumerate(value):
                _check(item, f"{path}[{index}]", parents)
        parents.discard(id(value))
        return
    raise TypeError(
        f"{type(value).__name__} at {path} is not JSON data "
        "(allowed: dict with str keys, list, str, int, bool, None)"
    )


class JSONSnapshotExtension(SingleFileSnapshotExtension):
    """One ``.json`` file per snapshot, in the format of :func:`dumps`."""

    # syrupy 4.x reads `_file_extension`; 5.0 renamed it to `file_extension`.
    _file_extension = "json"
    file_extension = "json"
    # Text mode: syrupy compares the str we return with the file read as UTF-8.
    _write_mode = WriteMode.TEXT

    def serialize(
        self,
        data: Any,
        *,
        exclude: Any = None,
        include: Any = None,
        matcher: Any = None,
        **kwargs: Any,
    ) -> str:
        # Property filters rewrite the data by syrupy's own rules, which differ
        # between releases; snapshot tests here pass the exact data they want
        # stored instead. `matcher` cannot be refused the same way: syrupy
        # always passes a wrapper of its own, so it is ignored, and a
        # `snapshot(matcher=...)` has no effect.
        if exclude is not None or include is not None:
            raise TypeError("JSONSnapshotExtension does not support exclude/include")
        return dumps(data)

    @classmethod
    def get_snapshot_name(cls, *, test_location: PyTestLocation, index: SnapshotIndex = 0) -> str:
        # Raised here, the error propagates out of syrupy's `==` and fails the
        # test before anything is read or written.
        raw: str = AbstractSyrupyExtension.get_snapshot_name(
            test_location=test_location, index=index
        )
        param_id: str = getattr(getattr(test_location.item, "callspec", None), "id", "")
        if len(param_id) > MAX_PARAM_ID_CHARS:
            problem = f"has a parametrize id over {MAX_PARAM_ID_CHARS} characters"
        elif len(raw.encode("utf-8")) > MAX_NAME_BYTES:
            problem = f"is over {MAX_NAME_BYTES} bytes"
        else:
            unsafe = sorted(
                {c for c in raw if c in _UNSAFE_CHARS or unicodedata.category(c).startswith("C")}
            )
            if not unsafe:
                # The same as syrupy's own name, which it only ever shortens or
                # strips of the characters checked above.
                return raw
            problem = f"contains {''.join(unsafe)!r}, which syrupy strips from file names"
        raise ValueError(
            f"snapshot name {raw[:80]!r} {problem}; give the test or parameters a "
            "short, plain name (e.g. parametrize(..., ids=[...]))"
        )


def json_snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Fixture body: syrupy's ``snapshot`` fixture switched to JSON files.

    Plain function so that ``tests/conftest.py`` can register it with
    ``pytest.fixture`` (and test modules can import this file without side effects).
    """
    return snapshot.use_extension(JSONSnapshotExtension)
