"""A SageMaker dummy training step: validate a model.tar.gz, add hyperparameters.json."""

# No `from __future__ import annotations` here: this file must parse on Python 3.6,
# so that `oldest` can refuse it in one line.
__version__ = "0.1.0"

from . import oldest  # noqa: F401  (first: exits 4 on a Python older than 3.7)
from .atomic import copy_file, ensure_directory
from .cli import original_main as main
from .contract import HYPERPARAMS_INPUT_PATH, MODEL_INPUT_PATH, MODEL_OUTPUT_DIR
from .errors import (
    CODES,
    DummyTrainingError,
    InputNotFoundError,
    ProcessingError,
    ValidationError,
)
from .job import process_model_with_hyperparameters, run, validate_model
from .repack import create_tarfile, extract_tarfile
from .scan import Manifest, scan

__all__ = [
    "CODES",
    "HYPERPARAMS_INPUT_PATH",
    "MODEL_INPUT_PATH",
    "MODEL_OUTPUT_DIR",
    "DummyTrainingError",
    "InputNotFoundError",
    "Manifest",
    "ProcessingError",
    "ValidationError",
    "__version__",
    "copy_file",
    "create_tarfile",
    "ensure_directory",
    "extract_tarfile",
    "main",
    "process_model_with_hyperparameters",
    "run",
    "scan",
    "validate_model",
]
