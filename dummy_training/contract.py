"""The step's contract paths, and how flags move them."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

DEFAULT_ROOT = Path("/opt/ml/processing")
MODEL = Path("input/model/model.tar.gz")
HYPERPARAMETERS = Path("input/config/hyperparameters.json")
OUTPUT_DIR = Path("output/model")
OUTPUT_NAME = "model.tar.gz"
# SageMaker shows the first 1 KB of this file as the job's ExitMessage.
MESSAGE_FILE = Path("/opt/ml/output/message")


class Paths(NamedTuple):
    """Where one run reads and writes."""

    model: Path
    hyperparameters: Path
    hyperparameters_explicit: bool  # an explicit file must exist; the default is optional
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
) -> Paths:
    """Fill in every path not given from ``root`` (default ``/opt/ml/processing``)."""
    base = DEFAULT_ROOT if root is None else root
    return Paths(
        model=model or base / MODEL,
        hyperparameters=hyperparameters or base / HYPERPARAMETERS,
        hyperparameters_explicit=hyperparameters is not None,
        output_dir=output_dir or base / OUTPUT_DIR,
        work_dir=work_dir,
    )
