"""The command line: parse flags, run, and turn exceptions into exit codes in one place."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import NoReturn, Sequence

import dummy_training

from . import __version__
from .contract import MESSAGE_FILE, Defaults, resolve, same_file
from .errors import CODES, DummyTrainingError, with_code
from .hyperparameters import HYPERPARAMETERS_MAX
from .job import STRATEGIES, run
from .scan import scan
from .tarstream import DEFAULT_LIMITS, Limits

log = logging.getLogger("dummy_training")

MESSAGE_MAX = 1024
USAGE = "USAGE"
USAGE_EXIT = CODES[USAGE].exit_code


class _UsageError(Exception):
    """A bad command line, raised where argparse would print and exit."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _cap(text: str) -> int:
    """A cap flag's value: an integer of at least 1 (argparse names the flag)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    model, hyperparameters, output_dir = _contract_defaults()
    parser = _Parser(
        prog="dummy-training",
        description="Validate a pre-trained model.tar.gz and add hyperparameters.json to it "
        "(a SageMaker 'dummy training' Processing step). "
        "'dummy-training manifest FILE' prints an archive's manifest as JSON.",
        epilog="See 'dummy-training manifest --help' for the manifest command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--root",
        type=Path,
        help="stands in for /opt/ml/processing in all paths (default: unset, the paths below)",
    )
    parser.add_argument(
        "--model", type=Path, help=f"model archive (.tar.gz or .tgz) (default: {model})"
    )
    parser.add_argument(
        "--hyperparameters",
        type=Path,
        help="hyperparameters JSON; must exist when given "
        f"(default: {hyperparameters}, optional there)",
    )
    parser.add_argument(
        "--require-hyperparameters",
        action="store_true",
        help="fail (exit 1) when the hyperparameters file is missing, instead of fallback mode",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        help=f"directory that receives model.tar.gz (default: {output_dir})",
    )
    parser.add_argument(
        "--work-dir", type=Path, help="where the repack extracts (default: beside the output dir)"
    )
    parser.add_argument(
        "--message-file",
        type=Path,
        help=f"where a failure's one-line reason goes (default: {MESSAGE_FILE}, "
        "if its directory exists)",
    )
    parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help="splice: add the tar member without recompressing; repack: extract and repack; "
        "auto (default): splice whenever that is correct",
    )
    caps = parser.add_argument_group(
        "caps against hostile archives (raise for rare legitimate ones; each at least 1)"
    )
    defaults = DEFAULT_LIMITS
    for flag, default, what in (
        ("--max-members", defaults.max_members, "tar members, and directories implied by names"),
        ("--max-header-bytes", defaults.max_extension_header, "one pax or GNU long name header"),
        ("--max-name-bytes", defaults.max_name, "one tar member name, in bytes"),
        ("--max-link-bytes", defaults.max_link, "one link target, in bytes"),
        ("--max-depth", defaults.max_depth, "path components of one tar member name"),
        (
            "--max-metadata-bytes",
            defaults.max_metadata,
            "total bytes of tar member names and link targets kept in memory",
        ),
        (
            "--max-hyperparameters-bytes",
            HYPERPARAMETERS_MAX,
            "largest hyperparameters file accepted",
        ),
    ):
        caps.add_argument(
            flag, type=_cap, default=default, metavar="N", help=f"{what} (default: {default})"
        )
    noise = parser.add_mutually_exclusive_group()
    noise.add_argument("-q", "--quiet", action="store_true", help="log warnings and errors only")
    noise.add_argument("-v", "--verbose", action="store_true", help="log debug detail too")
    return parser


def _manifest_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dummy-training manifest",
        description="Validate an archive and print its manifest as JSON: gzip header fields "
        "and the ordered tar members with the sha256 of their data.",
    )
    parser.add_argument("archive", type=Path)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace | int:
    # argparse exits on --help and --version; only __main__ may exit.
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code is None else int(exc.code)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        message = with_code(f"{parser.prog}: {exc}", USAGE)
        print(f"ERROR: {_printable(message)}", file=sys.stderr)
        if parser.prog == "dummy-training":
            _write_message(_message_file(argv), message)
        return USAGE_EXIT


def _message_file(argv: Sequence[str]) -> Path | None:
    """``--message-file`` from a command line that did not parse as a whole."""
    lenient = _Parser(add_help=False)  # it raises instead of printing and exiting
    lenient.add_argument("--message-file", type=Path)
    try:
        found, _ = lenient.parse_known_args(argv)
    except _UsageError:  # --message-file without its value
        return None
    path: Path | None = found.message_file
    return path


def _printable(text: str) -> str:
    """``text`` that any stream can take: a path's undecodable bytes shown as ``\\xNN``."""
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name decodes to (JSON can hold one)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


class _PrintableFormatter(logging.Formatter):
    """Log lines that never fail to encode, whatever bytes a path held."""

    def format(self, record: logging.LogRecord) -> str:
        return _printable(super().format(record))


def _write_message(path: Path | None, message: str, inputs: Sequence[Path] = ()) -> None:
    target = path if path is not None else MESSAGE_FILE
    if path is None and not os.path.isdir(target.parent):
        return
    clash = next((p for p in inputs if same_file(target, p)), None)
    if clash is not None:
        # The inputs are never modified, not even by a mistyped --message-file.
        log.warning("%s: the failure message is not written: that is the input %s", target, clash)
        return
    try:
        # Cut at a character boundary: SageMaker shows only the first KB.
        text = _printable(message).encode("utf-8")[:MESSAGE_MAX].decode("utf-8", "ignore")
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        log.warning("%s: cannot write the failure message: %s", target, exc.strerror)


def _contract_defaults() -> Defaults:
    """The contract paths, read now from the package's module-level constants.

    The original was a single module named dummy_training, so its tests patch
    ``dummy_training.MODEL_INPUT_PATH`` and the like; reading them at call time, from
    that same place, keeps such tests pointing the step at their files.
    """
    return (
        Path(dummy_training.MODEL_INPUT_PATH),
        Path(dummy_training.HYPERPARAMS_INPUT_PATH),
        Path(dummy_training.MODEL_OUTPUT_DIR),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the step (or the ``manifest`` command); return the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["manifest"]:
        return _manifest(args[1:])
    ns = _parse(_parser(), args)
    if isinstance(ns, int):
        return ns
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(levelname)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if ns.quiet else logging.DEBUG if ns.verbose else logging.INFO)
    inputs: list[Path] = []
    try:
        paths = resolve(
            ns.root,
            ns.model,
            ns.hyperparameters,
            ns.output_dir,
            ns.work_dir,
            require_hyperparameters=ns.require_hyperparameters,
            defaults=_contract_defaults(),
        )
        inputs += [paths.model, paths.hyperparameters]
        limits = Limits(
            ns.max_header_bytes,
            ns.max_members,
            ns.max_name_bytes,
            ns.max_depth,
            max_link=ns.max_link_bytes,
            max_metadata=ns.max_metadata_bytes,
        )
        run(paths, ns.strategy, limits, max_hyperparameters=ns.max_hyperparameters_bytes)
        return 0
    except DummyTrainingError as exc:
        # The message file first: a warning about it must not follow the ERROR line,
        # which stays the last line of the log.
        _write_message(ns.message_file, str(exc), inputs)
        log.error("%s", exc)
        return exc.exit_code
    except Exception as exc:
        message = with_code(f"unexpected error (a bug in dummy_training): {exc!r}", "INTERNAL")
        _write_message(ns.message_file, message, inputs)
        log.exception("%s", message)
        return CODES["INTERNAL"].exit_code
    finally:
        log.removeHandler(handler)


def original_main(argv: Sequence[str] | None = None) -> int:
    """The original step's ``main()``: called bare, the contract paths, as in a job.

    ``main()`` reads sys.argv when called bare, as a command line does; the
    original's tests call ``main()`` under pytest, whose arguments are not the step's.
    """
    return main([] if argv is None else argv)


def _manifest(argv: Sequence[str]) -> int:
    ns = _parse(_manifest_parser(), argv)
    if isinstance(ns, int):
        return ns
    try:
        manifest = scan(ns.archive, hash_data=True)
    except DummyTrainingError as exc:
        print(f"ERROR: {_printable(str(exc))}", file=sys.stderr)
        return exc.exit_code
    text = json.dumps(manifest.as_json(), indent=2, ensure_ascii=False)
    try:
        print(text, flush=True)
    except BrokenPipeError:  # `manifest FILE | head`: the reader has all it wants
        # Python flushes stdout again at exit; point it at nothing so that it is quiet.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return 0
