"""The step's contract paths, and how flags move them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Tuple

DEFAULT_ROOT = Path("/opt/ml/processing")
MODEL = Path("input/model/model.tar.gz")
HYPERPARAMETERS = Path("input/config/hyperparameters.json")
OUTPUT_DIR = Path("output/model")
OUTPUT_NAME = "model.tar.gz"
# SageMaker shows the first 1 KB of this file as the job's ExitMessage.
MESSAGE_FILE = Path("/opt/ml/output/message")

# The original script's module-level constants, under its names. `dummy_training`
# re-exports them, and main() reads them from there at call time, so that tests
# written against the original (which patch `dummy_training.MODEL_INPUT_PATH`) keep
# working. Strings, as in the original; a patched Path works too.
MODEL_INPUT_PATH = str(DEFAULT_ROOT / MODEL)
HYPERPARAMS_INPUT_PATH = str(DEFAULT_ROOT / HYPERPARAMETERS)
MODEL_OUTPUT_DIR = str(DEFAULT_ROOT / OUTPUT_DIR)

# The model, hyperparameters and output directory paths used when no --root is given.
Defaults = Tuple[Path, Path, Path]
# Entries a directory listing names in a message before "and N more": the message
# file keeps only 1 KB.
LISTING_NAMES = 10


class Paths(NamedTuple):
    """Where one run reads and writes."""

    model: Path
    hyperparameters: Path
    # Whether the file must exist: given explicitly, or --require-hyperparameters.
    # Otherwise its absence means fallback mode.
    hyperparameters_explicit: bool
    output_dir: Path
    work_dir: Path | None  # None: beside the output directory

    @property
    def output(self) -> Path:
        return self.output_dir / OUTPUT_NAME


def resolve(
    root: Path | None = None,
    model: Path | None = None,
    hyperparameters: Path | None = None,
    output_dir: Path | None = None,
    work_dir: Path | None = None,
    *,
    require_hyperparameters: bool = False,
    defaults: Defaults | None = None,
) -> Paths:
    """Fill in every path not given from ``root`` (default ``/opt/ml/processing``).

    Without ``root``, ``defaults`` (model, hyperparameters, output directory), when
    given, stand in for the contract paths.
    """
    base = DEFAULT_ROOT if root is None else root
    fallback = (base / MODEL, base / HYPERPARAMETERS, base / OUTPUT_DIR)
    if root is None and defaults is not None:
        fallback = defaults
    return Paths(
        model=model or fallback[0],
        hyperparameters=hyperparameters or fallback[1],
        hyperparameters_explicit=hyperparameters is not None or require_hyperparameters,
        output_dir=output_dir or fallback[2],
        work_dir=work_dir,
    )


def describe_directory(directory: Path) -> str:
    """What ``directory`` holds, for a message about a file that is not there.

    A SageMaker ProcessingInput keeps the S3 object's name, so the file the step
    looks for is often there under another name; naming what is there shows it.
    Names are sorted (the same text on every Python and file system) and shown with
    repr, so that a newline in a name cannot forge a log line.
    """
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return f"{directory} does not exist"
    except OSError as exc:
        return f"{directory} cannot be listed: {exc.strerror}"
    if not names:
        return f"{directory} is empty"
    shown = ", ".join(repr(name) for name in names[:LISTING_NAMES])
    more = len(names) - LISTING_NAMES
    return f"{directory} holds {shown}" + (f" and {more} more" if more > 0 else "")


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same inode, or else the same resolved path.

    The inode catches hard links and symlinked directories; the path is compared where
    either cannot be looked at (an output that does not exist yet).
    """
    try:
        first, second = os.stat(a), os.stat(b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)
    return (first.st_dev, first.st_ino) == (second.st_dev, second.st_ino)
