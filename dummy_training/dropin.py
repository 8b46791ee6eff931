"""Build the drop-in single file: a zip application of this package that ``python3 FILE`` runs."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path
from typing import Sequence

PACKAGE = Path(__file__).resolve().parent
DEFAULT_TARGET = Path("dist/dummy_training.pyz")
_MAIN = b"from dummy_training.cli import main\n\nraise SystemExit(main())\n"
# A fixed timestamp makes the file the same on every build of the same sources.
_EPOCH = (1980, 1, 1, 0, 0, 0)
# Tools around the step that a pipeline container never runs.
_TOOLS = ("conformance.py", "dropin.py")


def build(target: Path = DEFAULT_TARGET) -> Path:
    """Write the zip application to ``target`` and return its path."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(zipfile.ZipInfo("__main__.py", _EPOCH), _MAIN)
            for source in sorted(PACKAGE.glob("*.py")):
                if source.name in _TOOLS:
                    continue
                info = zipfile.ZipInfo(f"dummy_training/{source.name}", _EPOCH)
                archive.writestr(info, source.read_bytes(), zipfile.ZIP_DEFLATED)
    target.chmod(0o755)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dummy_training.dropin [TARGET]``: build the drop-in file."""
    args = list(sys.argv[1:] if argv is None else argv)
    print(build(Path(args[0]) if args else DEFAULT_TARGET))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
