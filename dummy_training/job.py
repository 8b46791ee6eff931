"""One run of the step: validate, then copy (fallback) or add hyperparameters.json."""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path

from . import __version__
from .atomic import Written, atomic_write, ensure_directory
from .contract import Paths, describe_directory, resolve, same_file
from .errors import ProcessingError, ValidationError
from .hyperparameters import HYPERPARAMETERS_MAX, load_hyperparameters
from .progress import Phases, one_schedule, rate, size
from .repack import repack
from .scan import LISTING_MAX, Manifest, check_model_path, scan
from .splice import Splicer
from .tarstream import DEFAULT_LIMITS, Limits

log = logging.getLogger(__name__)


def validate_model(input_path: Path) -> Manifest:
    """Validate a model archive completely (gzip, tar, member safety) and log its manifest."""
    manifest = scan(Path(input_path))
    log_manifest(manifest)
    return manifest


def log_manifest(manifest: Manifest) -> None:
    """Log sizes, counts, the compression ratio and a capped member listing."""
    kinds = ("file", "dir", "symlink", "hardlink")
    counts = ", ".join(f"{manifest.count(kind)} {kind}" for kind in kinds)
    file_bytes = sum(m.size for m in manifest.members)
    log.info(
        "archive: %s in %s, holding %s of tar data (compressed to %.1f%%): %s (%s), "
        "%s of file data",
        size(manifest.compressed_size),
        _count(manifest.gzip_members, "gzip member"),
        size(manifest.uncompressed_size),
        100.0 * manifest.compressed_size / manifest.uncompressed_size,
        _count(len(manifest.members), "tar member"),
        counts,
        size(file_bytes),
    )
    for member in manifest.members[:LISTING_MAX]:
        link = f" -> {member.linkname}" if member.kind in ("symlink", "hardlink") else ""
        log.info("  %-8s %04o %12d %s%s", member.kind, member.mode, member.size, member.name, link)
    if len(manifest.members) > LISTING_MAX:
        log.info("  ... and %s", _count(len(manifest.members) - LISTING_MAX, "more tar member"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def derived_mtime(manifest: Manifest) -> int:
    """The added member's mtime: SOURCE_DATE_EPOCH if set, else the newest member's."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if value is None:
        newest = manifest.newest_mtime
        mtime = min(max(newest, 0), MTIME_MAX)
        if mtime != newest:
            # Both strategies write this entry in ustar: the same capped time for each.
            log.info(
                "hyperparameters.json gets mtime %d: the newest tar member's, %d, is outside "
                "ustar's range (0 to %d)",
                mtime,
                newest,
                MTIME_MAX,
            )
        return mtime
    try:
        epoch = int(value)
    except ValueError:
        raise ProcessingError(
            f"SOURCE_DATE_EPOCH={value!r} is not an integer", "ENVIRONMENT_ERROR"
        ) from None
    if not 0 <= epoch <= MTIME_MAX:
        raise ProcessingError(f"SOURCE_DATE_EPOCH={value!r} is out of range", "ENVIRONMENT_ERROR")
    return epoch


STRATEGIES = ("auto", "splice", "repack")
# The added member's mtime must fit ustar's 11 octal digits, so that the spliced
# entry written before the scan keeps its length when its real time is patched in.
MTIME_MAX = 8**11 - 1


class _Shadowed(Exception):
    """The archive holds a root hyperparameters.json, which a splice would only hide."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__(manifest.path)
        self.manifest = manifest


def _splice(paths: Paths, data: bytes, limits: Limits, phases: Phases) -> tuple[Manifest, Written]:
    """Validate and splice in the same single pass; _Shadowed when that would be wrong."""
    started = time.monotonic()
    with atomic_write(paths.output, patched=True) as out:
        splicer = Splicer(out, data)
        manifest = scan(
            paths.model,
            on_segment=splicer.segment,
            on_member_end=splicer.member_end,
            limits=limits,
        )
        if manifest.root_hyperparameters is not None:
            phases.add("scan", time.monotonic() - started)
            raise _Shadowed(manifest)  # atomic_write discards the spliced file
        splicer.finish(derived_mtime(manifest))
    phases.add_write("scan and splice", started, out.synced_in)
    return manifest, out.result()


def _add(
    paths: Paths, data: bytes, strategy: str, limits: Limits, phases: Phases
) -> tuple[Manifest, Written]:
    if strategy == "repack":
        with phases.timed("scan"):
            manifest = scan(paths.model, limits=limits)
        why = "requested"
    else:
        try:
            manifest, written = _splice(paths, data, limits, phases)
        except _Shadowed as shadowed:
            manifest, why = shadowed.manifest, "a splice would only shadow the existing file"
            if strategy == "splice":
                why = f"splice was asked for, but {why}"
        else:
            log_manifest(manifest)
            log.info("strategy: splice (%s; original deflate data copied as is)", strategy)
            return manifest, written
    log_manifest(manifest)
    if manifest.root_hyperparameters is not None:
        log.warning(
            "%s: archive already holds %r; it is replaced by %s",
            paths.model,
            manifest.root_hyperparameters,
            paths.hyperparameters,
        )
    log.info("strategy: repack (%s)", why)
    # Extraction needs room for every file plus the new one, before anything is written.
    needed = sum(m.size for m in manifest.members) + len(data)
    mtime = derived_mtime(manifest)
    written = repack(
        paths.model,
        data,
        mtime,
        paths.output,
        paths.work_dir,
        needed,
        members=manifest.members,
        phases=phases,
    )
    return manifest, written


def _refuse_same(output: Path, what: str, path: Path) -> None:
    """Refuse an output that is one of the inputs: the inputs are never modified."""
    if same_file(output, path):
        raise ValidationError(
            f"{output}: the output is the {what} {path} itself, which would be replaced "
            "(refused: inputs are never modified); choose another --output-dir",
            "OUTPUT_IS_INPUT",
        )


def run(
    paths: Paths,
    strategy: str = "auto",
    limits: Limits = DEFAULT_LIMITS,
    *,
    max_hyperparameters: int = HYPERPARAMETERS_MAX,
) -> Path:
    """Carry out the step for ``paths``; return the output archive's path."""
    with one_schedule():
        return _run(paths, strategy, limits, max_hyperparameters)


def _run(paths: Paths, strategy: str, limits: Limits, max_hyperparameters: int) -> Path:
    started = time.monotonic()
    phases = Phases()
    log.info(
        "dummy_training %s on Python %s (%s), %s %s %s",
        __version__,
        platform.python_version(),
        platform.python_implementation(),
        platform.system(),
        platform.release(),
        platform.machine(),
    )
    log.info(
        "model: %s; hyperparameters: %s%s; output: %s",
        paths.model,
        paths.hyperparameters,
        "" if paths.hyperparameters_explicit else " (optional)",
        paths.output,
    )
    check_model_path(paths.model, "--model")
    _refuse_same(paths.output, "model archive", paths.model)
    data: bytes | None = None
    if paths.hyperparameters_explicit or os.path.lexists(paths.hyperparameters):
        data = load_hyperparameters(paths.hyperparameters, max_hyperparameters)
        _refuse_same(paths.output, "hyperparameters file", paths.hyperparameters)
        log.info("mode: add hyperparameters.json")
    else:
        log.info("mode: fallback, no hyperparameters file: validate and copy unchanged")
        # A warning, though fallback is a documented mode: the usual cause is a
        # hyperparameters file under another name, and the model then ships silently
        # without it.
        log.warning(
            "no hyperparameters file at %s: the output has no hyperparameters.json; %s "
            "(a SageMaker ProcessingInput keeps the S3 object's name: name the file %s, or "
            "give --hyperparameters PATH; --require-hyperparameters makes this an error)",
            paths.hyperparameters,
            describe_directory(paths.hyperparameters.parent),
            paths.hyperparameters.name,
        )
    ensure_directory(paths.output_dir)
    if data is None:
        copying = time.monotonic()
        with atomic_write(paths.output) as out:
            manifest = scan(
                paths.model,
                on_segment=lambda kind, index, chunk: out.write(chunk),
                limits=limits,
            )
        phases.add_write("scan and copy", copying, out.synced_in)
        written = out.result()
        log_manifest(manifest)
    else:
        manifest, written = _add(paths, data, strategy, limits, phases)
    log.info("wrote %s: %s, sha256 %s", paths.output, size(written.size), written.sha256)
    elapsed = time.monotonic() - started
    # The rate is on the tar data: on compressed bytes a fast run of a
    # well-compressed archive would read like a slow one.
    log.info(
        "done in %.2f s (%s): %s of tar data at %s",
        elapsed,
        phases.describe(),
        size(manifest.uncompressed_size),
        rate(manifest.uncompressed_size, elapsed),
    )
    return paths.output


def process_model_with_hyperparameters(
    model_path: Path, hyperparams_path: Path, output_dir: Path, *, work_dir: Path | None = None
) -> Path:
    """Validate the model, add ``hyperparams_path`` as hyperparameters.json, write the result."""
    return run(
        resolve(
            model=Path(model_path),
            hyperparameters=Path(hyperparams_path),
            output_dir=Path(output_dir),
            work_dir=None if work_dir is None else Path(work_dir),
        )
    )
