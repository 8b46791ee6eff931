"""Tests of the JSON snapshot extension in tests/snapshot_json.py.

The format checks call the serializer directly; the workflow checks (files
written where documented, mismatches and unused snapshots failing the run)
run an inner pytest session through pytester with the real tests/conftest.py,
so they exercise whichever syrupy release this Python resolved to.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from snapshot_json import MAX_NAME_BYTES, MAX_PARAM_ID_CHARS, JSONSnapshotExtension, dumps

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).with_name("conftest.py")

# ---------------------------------------------------------------- the format

SAMPLE = {
    "zeta": [3, -1, 0, 10**20],
    "alpha": {"nested": {"b": True, "a": False}, "empty_list": [], "empty_dict": {}},
    "text": 'café "quoted" \\ tab\t line\nbreak \u2028 \U0001f600',
    "none": None,
}

# Written out by hand: this is the documented file format, byte for byte.
SAMPLE_TEXT = (
    "{\n"
    '  "alpha": {\n'
    '    "empty_dict": {},\n'
    '    "empty_list": [],\n'
    '    "nested": {\n'
    '      "a": false,\n'
    '      "b": true\n'
    "    }\n"
    "  },\n"
    '  "none": null,\n'
    '  "text": "café \\"quoted\\" \\\\ tab\\t line\\nbreak \u2028 \U0001f600",\n'
    '  "zeta": [\n'
    "    3,\n"
    "    -1,\n"
    "    0,\n"
    "    100000000000000000000\n"
    "  ]\n"
    "}\n"
)


def test_dumps_is_the_documented_format() -> None:
    assert dumps(SAMPLE) == SAMPLE_TEXT


def test_serialize_uses_dumps() -> None:
    assert JSONSnapshotExtension().serialize(SAMPLE) == SAMPLE_TEXT


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (None, "null\n"),
        (True, "true\n"),
        (7, "7\n"),
        ("x", '"x"\n'),
        ([], "[]\n"),
        ({}, "{}\n"),
    ],
)
def test_top_level_scalars_and_empty_containers(data: object, text: str) -> None:
    assert dumps(data) == text


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (1.5, "float at $ "),
        ((1, 2), "tuple at $ "),
        ({1, 2}, "set at $ "),
        (b"raw", "bytes at $ "),
        (object(), "object at $ "),
        ({"a": [1, 2.0]}, "float at $['a'][1] "),
        ({"a": {"b": (1,)}}, "tuple at $['a']['b'] "),
        ({1: "one"}, "keys must be str, got int 1 at $"),
        ({"a": {None: 1}}, "keys must be str, got NoneType None at $['a']"),
    ],
)
def test_non_json_data_is_rejected(data: object, where: str) -> None:
    with pytest.raises(TypeError) as excinfo:
        dumps(data)
    assert where in str(excinfo.value)


def test_reference_cycle_is_rejected() -> None:
    cyclic: list[Any] = [1]
    cyclic.append({"again": cyclic})
    with pytest.raises(ValueError, match=r"reference cycle at \$\[1\]\['again'\]"):
        dumps(cyclic)


def test_shared_non_cyclic_values_are_fine() -> None:
    shared = [1]
    assert dumps({"a": shared, "b": shared}) == dumps({"a": [1], "b": [1]})


@pytest.mark.parametrize("data", ["\ud800", {"\udfff": 1}, ["ok", {"k": "x\udc80"}]])
def test_lone_surrogates_are_rejected(data: object) -> None:
    with pytest.raises(ValueError, match="not valid UTF-8"):
        dumps(data)


def _anything(**kwargs: object) -> bool:
    return True  # pragma: no cover - never called


@pytest.mark.parametrize("option", ["exclude", "include"])
def test_property_filters_are_rejected(option: str) -> None:
    with pytest.raises(TypeError, match="does not support"):
        JSONSnapshotExtension().serialize({}, **{option: _anything})


def test_matcher_is_ignored() -> None:
    # syrupy passes a matcher wrapper on every assertion.
    assert JSONSnapshotExtension().serialize([1], matcher=_anything) == "[\n  1\n]\n"


# -------------------------------------------------------------- the workflow


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A scratch test tree using the real conftest (and so the real fixture)."""
    pytester.makeconftest(CONFTEST.read_text(encoding="utf-8"))
    return pytester


def write_test(pytester: pytest.Pytester, source: str) -> None:
    pytester.makepyfile(test_mod=textwrap.dedent(source))
    # A rewrite within the same second and of the same size would otherwise
    # reuse the stale bytecode that pytest's assertion rewriting cached.
    shutil.rmtree(pytester.path / "__pycache__", ignore_errors=True)


def snapshot_files(pytester: pytest.Pytester) -> dict[str, bytes]:
    root = pytester.path / "__snapshots__"
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_round_trip(project: pytest.Pytester) -> None:
    write_test(
        project,
        """
        def test_data(json_snapshot):
            assert {"b": [1, 2], "a": "é"} == json_snapshot
        """,
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert snapshot_files(project) == {
        "test_mod/test_data.json": '{\n  "a": "é",\n  "b": [\n    1,\n    2\n  ]\n}\n'.encode()
    }
    # Read back and compared without updating: the same data matches.
    project.runpytest().assert_outcomes(passed=1)


def test_missing_snapshot_fails(project: pytest.Pytester) -> None:
    write_test(
        project,
        """
        def test_data(json_snapshot):
            assert [1] == json_snapshot
        """,
    )
    project.runpytest().assert_outcomes(failed=1)
    assert snapshot_files(project) == {}


def test_changed_value_fails_until_updated(project: pytest.Pytester) -> None:
    source = """
        def test_data(json_snapshot):
            assert {"value": VALUE} == json_snapshot
        """
    write_test(project, source.replace("VALUE", "1"))
    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    before = snapshot_files(project)

    write_test(project, source.replace("VALUE", "2"))
    result = project.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*-*1*", "*+*2*"])  # syrupy's diff of the two texts
    assert snapshot_files(project) == before

    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert snapshot_files(project) == {"test_mod/test_data.json": b'{\n  "value": 2\n}\n'}


def test_unused_snapshot_fails_the_run(project: pytest.Pytester) -> None:
    write_test(
        project,
        """
        def test_kept(json_snapshot):
            assert 1 == json_snapshot

        def test_dropped(json_snapshot):
            assert 2 == json_snapshot
        """,
    )
    project.runpytest("--snapshot-update").assert_outcomes(passed=2)
    assert sorted(snapshot_files(project)) == [
        "test_mod/test_dropped.json",
        "test_mod/test_kept.json",
    ]

    write_test(
        project,
        """
        def test_kept(json_snapshot):
            assert 1 == json_snapshot
        """,
    )
    result = project.runpytest()
    result.assert_outcomes(passed=1)  # every test passed, yet the run fails:
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*1 snapshot unused*"])

    project.runpytest("--snapshot-update").assert_outcomes(passed=1)
    assert sorted(snapshot_files(project)) == ["test_mod/test_kept.json"]
    assert project.runpytest().ret == pytest.ExitCode.OK


def test_non_json_data_fails_the_assertion(project: pytest.Pytester) -> None:
    write_test(
        project,
        """
        def test_data(json_snapshot):
            assert {"loss": 0.5} == json_snapshot
        """,
    )
    result = project.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    result.stdout.re_match_lines([r".*TypeError: float at \$\['loss'\] is not JSON data"])
    assert snapshot_files(project) == {}


def test_file_names(project: pytest.Pytester) -> None:
    write_test(
        project,
        """
        import pytest

        @pytest.mark.parametrize("value", ["plain", "sp ace", "dots.and-dashes", 3, None])
        def test_ids(json_snapshot, value):
            assert value == json_snapshot

        def test_two(json_snapshot):
            assert 1 == json_snapshot
            assert 2 == json_snapshot

        def test_named(json_snapshot):
            assert 3 == json_snapshot(name="custom")

        class TestGroup:
            def test_method(self, json_snapshot):
                assert 4 == json_snapshot
        """,
    )
    project.runpytest("--snapshot-update", "-W", "error").assert_outcomes(passed=8)
    assert sorted(snapshot_files(project)) == [
        "test_mod/TestGroup.test_method.json",
        "test_mod/test_ids[3].json",
        "test_mod/test_ids[None].json",
        "test_mod/test_ids[dots.and-dashes].json",
        "test_mod/test_ids[plain].json",
        "test_mod/test_ids[sp ace].json",
        "test_mod/test_named[custom].json",
        "test_mod/test_two.1.json",
        "test_mod/test_two.json",
    ]
    project.runpytest("-W", "error").assert_outcomes(passed=8)


def test_unsafe_names_are_refused(project: pytest.Pytester) -> None:
    # Syrupy would strip these characters from the file name (and warn); the
    # non-ASCII value becomes the id caf\xe9, whose backslash it would strip.
    write_test(
        project,
        """
        import pytest

        @pytest.mark.parametrize("value", ["a/b", "c:d", 'e"f', "x?*<>|y", "caf\u00e9"])
        def test_ids(json_snapshot, value):
            assert value == json_snapshot

        def test_named(json_snapshot):
            assert 1 == json_snapshot(name="tab\there")
        """,
    )
    result = project.runpytest("--snapshot-update")
    result.assert_outcomes(failed=6)
    result.stdout.re_match_lines(
        [
            r".*ValueError: snapshot name 'test_ids\[a/b\]' contains '/', which syrupy strips",
            r".*ValueError: snapshot name 'test_ids\[c:d\]' contains ':'",
            r".*ValueError: snapshot name 'test_ids\[e\"f\]' contains '\"'",
            r".*ValueError: snapshot name 'test_ids\[x\?\*<>\|y\]' contains '\*<>\?\|'",
            r".*ValueError: snapshot name 'test_ids\[caf\\\\xe9\]' contains '\\\\'",
            r".*ValueError: snapshot name 'test_named\[tab\\there\]' contains '\\t'",
        ],
        consecutive=False,
    )
    assert snapshot_files(project) == {}


def test_overlong_param_ids_are_refused(project: pytest.Pytester) -> None:
    # Explicit ids, which every pytest keeps as given: this checks the limit.
    # (Auto-generated ids over the limit are the ones pytest 9 rewrites.)
    ok_id, long_id = "x" * MAX_PARAM_ID_CHARS, "y" * (MAX_PARAM_ID_CHARS + 1)
    write_test(
        project,
        f"""
        import pytest

        @pytest.mark.parametrize("value", [0, 1], ids=["{ok_id}", "{long_id}"])
        def test_long(json_snapshot, value):
            assert value == json_snapshot
        """,
    )
    result = project.runpytest("--snapshot-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [f"*ValueError: snapshot name *has a parametrize id over {MAX_PARAM_ID_CHARS} characters*"]
    )
    assert snapshot_files(project) == {f"test_mod/test_long[{ok_id}].json": b"0\n"}


def test_overlong_names_are_refused(project: pytest.Pytester) -> None:
    write_test(
        project,
        f"""
        import pytest

        @pytest.mark.parametrize("value", [0], ids=["{"x" * MAX_PARAM_ID_CHARS}"])
        def test_{"long_name_" * 10}(json_snapshot, value):
            assert value == json_snapshot
        """,
    )
    result = project.runpytest("--snapshot-update")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*ValueError: snapshot name * is over {MAX_NAME_BYTES} bytes*"])
    assert snapshot_files(project) == {}
