"""The splice strategy: same trees as the repack, valid for gzip, GNU tar and tarfile."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archives import SMALL, write_model
from casekit import case_ids, comparable, copy_case, expand, load_case, tree_of
from dummy_training import main, scan
from dummy_training.splice import crc32_combine, stored_blocks
from strategies import archives

TREE_CASES = [c for c in case_ids() if load_case(c)["output"] == "tree"]


def run(root: Path, args: list[str], strategy: str) -> Path:
    assert main([*args, "--strategy", strategy, "-q"]) == 0
    return root / "output" / "model" / "model.tar.gz"


def check_with_tools(output: Path) -> None:
    for tool, args in (("gzip", ["-t"]), ("tar", ["-tzf"])):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed; .ci/run installs it")
        done = subprocess.run([tool, *args, str(output)], capture_output=True)
        assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("case_id", TREE_CASES)
def test_splice_and_repack_agree_on_every_valid_fixture(case_id: str, tmp_path: Path) -> None:
    case = load_case(case_id)
    outputs = {}
    for strategy in ("splice", "repack"):
        root = copy_case(case_id, tmp_path / strategy)
        outputs[strategy] = run(root, expand(case["args"], case, root), strategy)
        given_bytes = (root / case["hyperparameters"]).read_bytes()
        with tarfile.open(outputs[strategy], "r:gz") as tf:
            member = tf.getmember("hyperparameters.json")
            assert tf.extractfile(member).read() == given_bytes  # type: ignore[union-attr]
        check_with_tools(outputs[strategy])
    splice_tree = comparable(tree_of(outputs["splice"]), case["tree"])
    repack_tree = comparable(tree_of(outputs["repack"]), case["tree"])
    assert splice_tree == repack_tree == case["tree"]
    # The splice joins only the first gzip member; later ones are copied as they were.
    model = tmp_path / "splice" / case_id / case["model"]
    assert scan(outputs["splice"]).gzip_members == scan(model).gzip_members
    assert scan(outputs["repack"]).gzip_members == 1


def test_auto_splices_and_says_why(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_model(tmp_path, SMALL)
    assert main(["--root", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "strategy: splice (auto; original deflate data copied as is)" in err
    output = tmp_path / "output" / "model" / "model.tar.gz"
    original = (tmp_path / "input" / "model" / "model.tar.gz").read_bytes()
    # The original deflate data is in the output byte for byte.
    assert original[10:-8] in output.read_bytes()
    assert sorted(os.listdir(tmp_path / "output")) == ["model"]  # no work directory


def test_existing_hyperparameters_fall_back_to_repack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_model(tmp_path, [*SMALL, ("hyperparameters.json", "file", b'{"old": "1"}')])
    assert main(["--root", str(tmp_path), "--strategy", "splice"]) == 0
    err = capsys.readouterr().err
    assert (
        "INFO: strategy: repack (splice was asked for, but a splice would only shadow "
        "the existing file)\n" in err
    )
    with tarfile.open(tmp_path / "output" / "model" / "model.tar.gz", "r:gz") as tf:
        assert tf.getnames().count("hyperparameters.json") == 1
    # auto chose nothing, so it says only why a splice was not used.
    assert main(["--root", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "INFO: strategy: repack (a splice would only shadow the existing file)\n" in err


def test_a_failed_splice_leaves_nothing(tmp_path: Path) -> None:
    model = write_model(tmp_path, SMALL)
    model.write_bytes(model.read_bytes()[:-3])
    assert main(["--root", str(tmp_path), "--strategy", "splice", "-q"]) == 2
    assert os.listdir(tmp_path / "output" / "model") == []


def test_stored_blocks_split_at_the_format_limit() -> None:
    data = os.urandom(70_000)
    blocks = stored_blocks(data)
    assert len(blocks) == len(data) + 10
    inflated = zlib.decompressobj(-15)
    assert inflated.decompress(blocks) == data and not inflated.eof


@given(st.binary(max_size=300), st.binary(max_size=300))
def test_crc32_combine_matches_zlib(a: bytes, b: bytes) -> None:
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(archives())
def test_generated_archives_splice_like_they_repack(tmp_path: Path, archive: bytes) -> None:
    trees = {}
    for strategy in ("splice", "repack"):
        root = tmp_path / strategy
        shutil.rmtree(root, ignore_errors=True)
        model = root / "input" / "model" / "model.tar.gz"
        model.parent.mkdir(parents=True)
        model.write_bytes(archive)
        (root / "input" / "config").mkdir()
        (root / "input" / "config" / "hyperparameters.json").write_bytes(b'{"seed": "7"}')
        output = run(root, ["--root", str(root)], strategy)
        assert gzip.decompress(output.read_bytes())  # stdlib gzip reads it too
        with tarfile.open(output, "r:gz") as tf:
            assert tf.extractfile("hyperparameters.json").read() == b'{"seed": "7"}'  # type: ignore[union-attr]
        trees[strategy] = tree_of(output)
    assert comparable(trees["repack"], trees["splice"]) == trees["splice"]
