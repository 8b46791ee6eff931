"""Broken double: no validation. Copies the members with plain tarfile, adds
hyperparameters.json and writes the result. Any error is an uncaught exception
(exit 1, a traceback): it never exits 2 or 3, and never says why."""

from __future__ import annotations

import argparse
import io
import tarfile
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--root", type=Path, default=Path("/opt/ml/processing"))
parser.add_argument("--model", type=Path)
parser.add_argument("--hyperparameters", type=Path)
parser.add_argument("--message-file", type=Path)  # never written: it never fails on purpose
args = parser.parse_args()
model = args.model or args.root / "input/model/model.tar.gz"
hyperparameters = args.hyperparameters or args.root / "input/config/hyperparameters.json"
output = args.root / "output/model/model.tar.gz"

if args.hyperparameters is None and not hyperparameters.exists():
    result = model.read_bytes()
else:
    buffer = io.BytesIO()
    with tarfile.open(model) as src, tarfile.open(fileobj=buffer, mode="w:gz") as dst:
        for member in src:
            if member.name not in ("hyperparameters.json", "./hyperparameters.json"):
                dst.addfile(member, src.extractfile(member) if member.isreg() else None)
        data = hyperparameters.read_bytes()
        info = tarfile.TarInfo("hyperparameters.json")
        info.size, info.mode = len(data), 0o644
        dst.addfile(info, io.BytesIO(data))
    result = buffer.getvalue()
output.parent.mkdir(parents=True, exist_ok=True)
output.write_bytes(result)
