"""Build the drop-in single file: a zip application of this package that ``python3 FILE`` runs."""

from __future__ import annotations

import argparse
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python3 -m dummy_training.dropin",
        description="Build the drop-in single file: a zip application of dummy_training "
        "that 'python3 FILE' runs as the step.",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="PATH",
        help=f"where the file goes (default: {DEFAULT_TARGET})",
    )
    parser.add_argument("target", nargs="?", type=Path, metavar="TARGET", help="same as -o PATH")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dummy_training.dropin [-o PATH | TARGET]``: build the drop-in file."""
    parser = _parser()
    try:  # argparse exits on --help and on a bad command line: return its code instead
        ns = parser.parse_args(argv)
        if ns.output is not None and ns.target is not None:
            parser.error("give the target once: -o PATH or TARGET, not both")
    except SystemExit as exc:
        return 0 if exc.code is None else int(exc.code)
    print(build(ns.output or ns.target or DEFAULT_TARGET))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
