"""Hostile shapes end quickly: work is counted here, not timed (timings are in RELIABILITY.md)."""

from __future__ import annotations

import gzip
import io
import re
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from archives import SMALL, tar_bytes
from dummy_training import main, scan
from dummy_training.errors import ValidationError
from dummy_training.gzipstream import FIRST_FEED
from dummy_training.tarwrite import end_of_archive, header
from hostile import SHAPES
from invariants import check_run

gzipstream = sys.modules["dummy_training.gzipstream"]
_DECOMPRESSOBJ = zlib.decompressobj


class _CountingDecompress:
    """A raw-deflate decompressor that adds up the input it is handed."""

    fed = 0

    def __init__(self, wbits: int) -> None:
        self._inner = _DECOMPRESSOBJ(wbits)

    def decompress(self, data: bytes, max_length: int = 0) -> bytes:
        _CountingDecompress.fed += len(data)
        return self._inner.decompress(data, max_length)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.mark.parametrize("members", [1000, 4000])
def test_many_tiny_gzip_members_cost_linear_work(
    members: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each member used to hand zlib (and copy) the whole rest of a 1 MiB read.
    model = tmp_path / "model.tar.gz"
    model.write_bytes(gzip.compress(tar_bytes(SMALL), mtime=0) + gzip.compress(b"") * members)
    monkeypatch.setattr(gzipstream.zlib, "decompressobj", _CountingDecompress)
    _CountingDecompress.fed = 0
    assert scan(model).gzip_members == members + 1
    assert _CountingDecompress.fed <= model.stat().st_size + (members + 1) * 2 * FIRST_FEED


def _raw(block: bytes) -> bytes:
    block = block[:148] + b" " * 8 + block[156:]
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


@pytest.mark.parametrize(
    ("data", "cause"),
    [
        (
            _raw(
                header("file", "f", mode=0o644, mtime=0)[:124]
                + b"-0000000001\0"
                + header("file", "f", mode=0o644, mtime=0)[136:]
            ),
            "size field b'-0000000001\\x00' is not a plain octal number",
        ),
        (
            _raw(
                header("file", "f", mode=0o644, mtime=0)[:124]
                + b"\xff" * 12
                + header("file", "f", mode=0o644, mtime=0)[136:]
            ),
            "negative size",
        ),
    ],
    ids=["ustar-minus", "base256-negative"],
)
def test_negative_sizes_end_at_once(data: bytes, cause: str) -> None:
    # These made the data-skipping loop run forever or the stream move backwards.
    from dummy_training.tarstream import iter_members

    with pytest.raises(ValidationError, match=re.escape(cause)):
        list(iter_members([data + end_of_archive()], "m.tar.gz"))


@pytest.mark.parametrize(
    "records", [b"11 size=-1\n", b"14 size=-1000\n"], ids=["pax-size", "pax-size-1000"]
)
def test_negative_pax_sizes_exit_2(records: bytes, tmp_path: Path) -> None:
    pax = header("file", "PaxHeader/f", size=len(records), mode=0o644, mtime=0)
    pax = _raw(pax[:156] + b"x" + pax[157:])
    tar = pax + records + bytes(512 - len(records)) + header("file", "f", mode=0o644, mtime=0)
    model = tmp_path / "input" / "model" / "model.tar.gz"
    model.parent.mkdir(parents=True)
    model.write_bytes(gzip.compress(tar + end_of_archive(), mtime=0))
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 2
    assert "is not a plain decimal number (ERROR_CODE: REFUSED_DIALECT)" in message.read_text()
    assert not (tmp_path / "output" / "model" / "model.tar.gz").exists()


def test_an_extension_header_can_no_longer_declare_a_negative_size() -> None:
    # The -1000 of the report was a base-256 size; only an mtime may be negative now.
    block = header("file", "././@LongLink", mode=0o644, mtime=0)
    block = _raw(block[:124] + b"\xff" * 10 + b"\xfc\x18" + block[136:156] + b"L" + block[157:])
    from dummy_training.tarstream import iter_members

    with pytest.raises(ValidationError, match="negative size"):
        list(iter_members([io.BytesIO(block).read() + end_of_archive()], "m.tar.gz"))


SMALL_SCALES = {
    "deep-tree": (20, 0),
    "deep-unique-tree": (20, 0),
    "metadata-flood": (20, 0),
    "long-link-chain": (1000, 0),
    "many-empty-files": (2000, 0),
    "long-names-at-caps": (2000, 0),
    "implied-dirs": (2000, 0),
    "pax-header-flood": (3, 2),
    "long-name-flood": (20, 0),
    "tiny-gzip-members": (2000, 0),
    "huge-numbers": (11, 2),
    "bomb": (4, 0),
}


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_hostile_shape_ends_with_its_exit_code(name: str, tmp_path: Path) -> None:
    # The same shapes run at full size in benchmarks/hostile.py (RELIABILITY.md).
    scale, expected = SMALL_SCALES[name]
    code, log = check_run(SHAPES[name](scale), tmp_path)
    assert code == expected, log
