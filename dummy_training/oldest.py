"""Refuse a Python older than 3.7 in one line, before any module that needs 3.7 is read.

The package's ``__init__`` imports this module first, so that the drop-in and
``python -m dummy_training`` on Python 3.6 (or 2.7) print why they cannot run and exit
4, instead of ending in a SyntaxError traceback. It must parse on every Python: no
annotations, no f-strings, no ``from __future__ import annotations``.
"""

import sys

OLDEST = (3, 7)

if sys.version_info < OLDEST:
    wanted = ".".join(str(n) for n in OLDEST)
    found = ".".join(str(n) for n in sys.version_info[:3])
    sys.stderr.write("dummy_training needs Python " + wanted + " or newer; this is " + found + "\n")
    raise SystemExit(4)
