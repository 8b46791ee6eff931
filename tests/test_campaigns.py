"""The long campaigns outside CI draw from every hostile shape the tests know."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fuzz_campaign import HOSTILE_SCALES
from hostile import SHAPES
from test_bounded import SMALL_SCALES


def test_every_hostile_shape_has_a_scale_everywhere_it_is_drawn() -> None:
    spec = importlib.util.spec_from_file_location(
        "hostile_bench", Path(__file__).resolve().parent.parent / "benchmarks" / "hostile.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert set(HOSTILE_SCALES) == set(SHAPES)  # tox -e fuzz
    assert set(bench.SCALES) == set(SHAPES)  # tox -e hostile
    assert set(SMALL_SCALES) == set(SHAPES)  # tests/test_bounded.py
