"""Splice edges found by mutation testing: what of the input's gzip framing is carried over."""

from __future__ import annotations

import gzip
import io
from pathlib import Path

from archives import SMALL, tar_bytes, write_model
from dummy_training import main
from dummy_training.gzipstream import inflate


def segment_kinds(data: bytes) -> list[tuple[str, int]]:
    """The (kind, member index) runs of a gzip file, consecutive repeats merged."""
    kinds: list[tuple[str, int]] = []

    def note(kind: str, index: int, chunk: bytes) -> None:
        if not kinds or kinds[-1] != (kind, index):
            kinds.append((kind, index))

    for _ in inflate(io.BytesIO(data), "out", on_segment=note):
        pass
    return kinds


def test_trailing_zero_padding_is_not_copied(tmp_path: Path) -> None:
    # Two gzip members, then zero padding: the later member is copied whole, the padding
    # (reported after the last member) is not.
    tar = tar_bytes(SMALL)
    model = write_model(tmp_path, [])
    model.write_bytes(gzip.compress(tar[:1024], mtime=0) + gzip.compress(tar[1024:]) + bytes(512))
    assert main(["--root", str(tmp_path), "-q", "--strategy", "splice"]) == 0
    out = (tmp_path / "output" / "model" / "model.tar.gz").read_bytes()
    assert segment_kinds(out) == [
        ("header", 0),
        ("deflate", 0),
        ("trailer", 0),
        ("header", 1),
        ("deflate", 1),
        ("trailer", 1),
    ]
