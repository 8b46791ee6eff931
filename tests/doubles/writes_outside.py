"""Broken double: the reference CLI, but it first leaves a file beside its case root
(where an unsafe member such as '../evil.txt' extracted from the root would land)."""

from __future__ import annotations

import sys
from pathlib import Path

from common import reference

root = Path(sys.argv[sys.argv.index("--root") + 1])
(root.parent / "evil.txt").write_text("written outside the case\n")
sys.exit(reference(sys.argv[1:]))
