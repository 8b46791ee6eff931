"""Broken double: the reference output with directory and symlink entries dropped, as a
script that packs only the files it finds (rglob + is_file) would. Hard links stay."""

from __future__ import annotations

import sys
import tarfile

from common import paths, reference, rewrite


def files_only(member: tarfile.TarInfo) -> tarfile.TarInfo | None:
    return None if member.isdir() or member.issym() else member


where = paths(sys.argv[1:])
code = reference(sys.argv[1:])
if code == 0 and where.hyperparameters.is_file():
    rewrite(where.output, files_only)
sys.exit(code)
