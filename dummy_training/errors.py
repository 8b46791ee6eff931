"""The exception hierarchy: every class carries the exit code that ``main`` returns."""

from __future__ import annotations

import errno
from typing import NamedTuple


class Code(NamedTuple):
    """A stable reason code: the exit code it goes with and what it means."""

    exit_code: int
    meaning: str


# Log scrapers and conformance suites match these names: never rename one.
CODES = {
    "FILE_NOT_FOUND": Code(1, "the model, or a hyperparameters file given explicitly, is missing"),
    "IS_DIRECTORY": Code(2, "the model path is a directory"),
    "EMPTY_FILE": Code(2, "the model file is empty (0 bytes)"),
    "INVALID_FORMAT": Code(2, "the model's name does not end in .tar.gz or .tgz"),
    "INVALID_ARCHIVE": Code(2, "not a gzip-compressed tar at all: not gzip, or gzip of no tar"),
    "GZIP_CORRUPT": Code(2, "gzip framing broken: CRC32, length, header field, trailing data"),
    "TRUNCATED": Code(2, "the gzip stream or the tar data ends early"),
    "TAR_CORRUPT": Code(2, "a damaged tar header or tar member after a valid first header"),
    "NO_REGULAR_FILE": Code(2, "the archive holds no regular file"),
    "UNSAFE_MEMBER": Code(2, "a tar member extraction would make unsafe (see Member safety)"),
    "CAP_EXCEEDED": Code(2, "a cap against hostile input was exceeded (raise it with its flag)"),
    "REFUSED_DIALECT": Code(2, "tar encoded outside the dialect every reader reads alike"),
    "HYPERPARAMETERS_INVALID": Code(2, "the hyperparameters are not a JSON object in a file"),
    "OUTPUT_IS_INPUT": Code(2, "the output would overwrite the model or the hyperparameters"),
    "USAGE": Code(2, "bad command-line arguments"),
    "OUTPUT_NOT_WRITABLE": Code(3, "the output (or work) directory cannot be created or written"),
    "DISK_FULL": Code(3, "writing failed part-way for lack of space, or space is known short"),
    "ENVIRONMENT_ERROR": Code(
        3, "another environment failure: a read error, a bad SOURCE_DATE_EPOCH"
    ),
    "INTERNAL": Code(4, "a bug in dummy_training"),
}


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def with_code(message: str, code: str) -> str:
    """``message`` as the ``ERROR:`` line and the message file end it."""
    return f"{message} (ERROR_CODE: {code})"


class DummyTrainingError(Exception):
    """Root of the hierarchy; subclasses also derive from the builtin the spec implies.

    ``code`` names the cause (a key of ``CODES``); ``str()`` ends with it.
    """

    exit_code = 4
    code = "INTERNAL"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            if CODES[code].exit_code != self.exit_code:
                raise ValueError(f"code {code} does not go with exit code {self.exit_code}")
            self.code = code

    @property
    def message(self) -> str:
        """The cause without the code."""
        return str(self.args[0]) if self.args else ""

    def __str__(self) -> str:
        return with_code(self.message, self.code)


class InputNotFoundError(DummyTrainingError, FileNotFoundError):
    """A required input file does not exist or cannot be opened."""

    exit_code = 1
    code = "FILE_NOT_FOUND"


class ValidationError(DummyTrainingError, ValueError):
    """An input exists but is not acceptable: bad archive, unsafe member, bad JSON."""

    exit_code = 2
    code = "TAR_CORRUPT"


class ProcessingError(DummyTrainingError, RuntimeError):
    """The environment failed us: output not writable, disk full, unreadable bytes."""

    exit_code = 3
    code = "ENVIRONMENT_ERROR"


def os_code(exc: OSError, otherwise: str) -> str:
    """DISK_FULL when ``exc`` says space or a size limit ran out, else ``otherwise``."""
    return "DISK_FULL" if exc.errno in _NO_SPACE else otherwise


def not_an_archive(path: object, cause: str) -> ValidationError:
    """The original step's opening for input that is no gzip-compressed tar at all."""
    return ValidationError(f"File is not a valid tar archive: {path}: {cause}", "INVALID_ARCHIVE")
