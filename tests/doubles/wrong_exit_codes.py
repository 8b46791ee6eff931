"""Broken double: the reference CLI, with exit codes 1 and 2 swapped and 3 reported as 2."""

from __future__ import annotations

import sys

from common import reference

code = reference(sys.argv[1:])
sys.exit({1: 2, 2: 1, 3: 2}.get(code, code))
