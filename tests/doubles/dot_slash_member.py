"""Broken double: the reference output, but the new member is named ./hyperparameters.json."""

from __future__ import annotations

import sys
import tarfile

from common import paths, reference, rewrite


def rename(member: tarfile.TarInfo) -> tarfile.TarInfo:
    if member.name == "hyperparameters.json":
        member.name = "./hyperparameters.json"
    return member


where = paths(sys.argv[1:])
code = reference(sys.argv[1:])
if code == 0 and where.hyperparameters.is_file():
    rewrite(where.output, rename)
sys.exit(code)
