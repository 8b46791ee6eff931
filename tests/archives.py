"""Build small real archives in memory for the unit tests."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path
from typing import Iterable, Tuple, Union

# (name, kind, payload): payload is file bytes, or the link target for links.
Spec = Tuple[str, str, Union[bytes, str]]
TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "chardev": tarfile.CHRTYPE,
}


def tar_bytes(specs: Iterable[Spec], fmt: int = tarfile.PAX_FORMAT, mode: int = 0o644) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for name, kind, payload in specs:
            info = tarfile.TarInfo(name)
            info.type = TYPES[kind]
            info.mtime = 1_700_000_000
            info.mode = 0o755 if kind == "dir" else mode
            if kind == "file":
                assert isinstance(payload, bytes)
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
            else:
                info.linkname = payload if isinstance(payload, str) else ""
                tf.addfile(info)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def write_model(
    root: Path, specs: Iterable[Spec], *, hyperparameters: bytes | None = b'{"a": "1"}\n'
) -> Path:
    """A contract-layout root holding the model and, optionally, hyperparameters."""
    model = root / "input" / "model" / "model.tar.gz"
    model.parent.mkdir(parents=True, exist_ok=True)
    model.write_bytes(gz(tar_bytes(specs)))
    if hyperparameters is not None:
        config = root / "input" / "config" / "hyperparameters.json"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_bytes(hyperparameters)
    return model


SMALL: list[Spec] = [
    ("model/weights.bin", "file", b"\x00\x01" * 600),
    ("model/config.json", "file", b"{}"),
]
