"""Broken double: the reference CLI's exit codes, but every failure is a caught
exception printed as a traceback, and no message file is written."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import traceback

from common import reference

argv = sys.argv[1:]
at = argv.index("--message-file")
with contextlib.redirect_stderr(io.StringIO()):
    code = reference([*argv[:at], "--message-file", os.devnull, *argv[at + 2 :]])
if code:
    try:
        raise RuntimeError("the model could not be processed")
    except RuntimeError:
        traceback.print_exc()
sys.exit(code)
