"""One streaming pass over a model archive: validate it and build its manifest."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from .contract import describe_directory
from .crosscheck import TarfileWitness
from .errors import InputNotFoundError, ValidationError
from .gzipstream import GzipHeader, SegmentSink, inflating
from .progress import Progress
from .safety import TreeChecker
from .tarstream import DEFAULT_LIMITS, Limits, Member, iter_members

log = logging.getLogger(__name__)

EXTENSIONS = (".tar.gz", ".tgz")
LISTING_MAX = 20


class Manifest(NamedTuple):
    """What one pass learned about an archive; ``members`` are in archive order."""

    path: str
    compressed_size: int
    uncompressed_size: int
    gzip_members: int
    gzip_header: GzipHeader
    members: list[Member]
    root_hyperparameters: str | None  # the member name, when the archive has one

    @property
    def newest_mtime(self) -> int:
        return max(m.mtime for m in self.members)

    def count(self, kind: str) -> int:
        return sum(1 for m in self.members if m.kind == kind)

    def as_json(self) -> dict[str, object]:
        return {
            "gzip": {"members": self.gzip_members, **self.gzip_header.as_json()},
            "uncompressed_size": self.uncompressed_size,
            "members": [m.as_json() for m in self.members],
        }


def check_model_path(path: Path, flag: str | None = None) -> int:
    """Refuse paths that cannot be a model archive before reading a byte; return its size.

    ``flag`` is the option that names the model: a missing model's message then says
    what its directory holds and suggests the flag.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        raise InputNotFoundError(
            f"{path}: model archive not found{_look_around(path, flag)}"
        ) from None
    except OSError as exc:
        raise InputNotFoundError(
            f"{path}: model archive cannot be accessed: {exc.strerror}"
        ) from exc
    if path.is_dir():
        raise ValidationError(
            f"{path}: model path is a directory, not a .tar.gz file", "IS_DIRECTORY"
        )
    if not path.name.lower().endswith(EXTENSIONS):
        # The original step's own words, which log scrapers match.
        raise ValidationError(
            f"Expected a .tar.gz file, but got: {path} (the name must end in .tar.gz or .tgz)",
            "INVALID_FORMAT",
        )
    if st.st_size == 0:
        raise ValidationError(f"{path}: model archive is empty (0 bytes)", "EMPTY_FILE")
    return st.st_size


def _look_around(path: Path, flag: str | None) -> str:
    if flag is None:
        return ""
    # The commonest cause in a pipeline: the archive is there under its S3 name.
    return (
        f"; {describe_directory(path.parent)} (a SageMaker ProcessingInput keeps the S3 "
        f"object's name: name the archive {path.name}, or give its path with {flag})"
    )


def scan(
    path: Path,
    *,
    on_segment: SegmentSink | None = None,
    on_member_end: Callable[[int, int, int], object] | None = None,
    hash_data: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Manifest:
    """Read ``path`` once, validating gzip, tar and member safety; return its manifest.

    ``on_segment`` sees every raw byte of the file as it is read, so a caller can copy
    or splice the very bytes that were validated.
    """
    size = check_model_path(path)
    headers: list[GzipHeader] = []
    members: list[Member] = []
    checker = TreeChecker(str(path), max_implied=limits.max_members)
    progress = Progress("scan", size, "of gzip data", compressed=True)
    stream_size = 0
    gzip_members = 0

    def remember(index: int, header: GzipHeader) -> None:
        nonlocal gzip_members
        gzip_members = index + 1
        if index == 0:
            headers.append(header)

    try:
        # Opened apart from the with-block so an open failure has its own message.
        f = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputNotFoundError(f"{path}: model archive cannot be opened: {exc.strerror}") from exc
    # Reading and inflating run in a second thread; leaving the block, on any error
    # too, stops and joins it before the file is closed.
    with f, inflating(
        f,
        str(path),
        on_header=remember,
        on_segment=on_segment,
        on_read=progress.advance,
        on_member_end=on_member_end,
    ) as inflated:

        def measured() -> Iterator[bytes]:
            nonlocal stream_size
            for chunk in inflated:
                stream_size += len(chunk)
                progress.data(len(chunk))
                yield chunk

        members_read = iter_members(
            measured(),
            str(path),
            limits=limits,
            hash_data=hash_data,
            witness=TarfileWitness(str(path)),
        )
        for member in members_read:
            checker.add(member.name, member.kind, member.mode, member.linkname)
            members.append(member)
    checker.finish()
    if not any(m.kind == "file" for m in members):
        raise ValidationError(f"{path}: archive holds no regular file", "NO_REGULAR_FILE")
    return Manifest(
        path=str(path),
        compressed_size=size,
        uncompressed_size=stream_size,
        gzip_members=gzip_members,
        gzip_header=headers[0],
        members=members,
        root_hyperparameters=checker.root_hyperparameters,
    )
