"""Shim: ``python benchmarks/bench.py ARGS`` runs ``python -m benchmarks.bench ARGS``.

The harness is the package benchmarks/bench/ (see its __init__.py); this file keeps
the old command line, which the README quotes, working.
"""

import sys
from pathlib import Path

# Run as a script, sys.path[0] is benchmarks/, where `benchmarks` is not importable:
# put the repository root first so that the package (a directory, which the import
# system prefers to this module of the same name) is found as benchmarks.bench.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
