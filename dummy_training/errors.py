"""The exception hierarchy: every class carries the exit code that ``main`` returns."""

from __future__ import annotations


class DummyTrainingError(Exception):
    """Root of the hierarchy; subclasses also derive from the builtin the spec implies."""

    exit_code = 4


class InputNotFoundError(DummyTrainingError, FileNotFoundError):
    """A required input file does not exist or cannot be opened."""

    exit_code = 1


class ValidationError(DummyTrainingError, ValueError):
    """An input exists but is not acceptable: bad archive, unsafe member, bad JSON."""

    exit_code = 2


class ProcessingError(DummyTrainingError, RuntimeError):
    """The environment failed us: output not writable, disk full, unreadable bytes."""

    exit_code = 3
