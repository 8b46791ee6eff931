"""Broken double: writes model.tar.gz in place before validating (a plain copy of the
input, to be replaced later), then runs the reference CLI; a failure leaves it behind."""

from __future__ import annotations

import shutil
import sys

from common import paths, reference

where = paths(sys.argv[1:])
try:
    where.output_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(where.model, where.output)
except OSError:
    pass  # no model file, or no output directory: nothing partial to leave
sys.exit(reference(sys.argv[1:]))
