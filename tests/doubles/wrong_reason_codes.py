"""Broken double: the reference CLI, except that every failure's message names the
reason code INVALID_ARCHIVE, whatever the cause."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from common import reference

code = reference(sys.argv[1:])
message = Path(sys.argv[sys.argv.index("--message-file") + 1])
if message.exists():
    text = message.read_text(encoding="utf-8")
    message.write_text(re.sub(r"ERROR_CODE: \w+", "ERROR_CODE: INVALID_ARCHIVE", text))
sys.exit(code)
