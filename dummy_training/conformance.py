"""Conformance runner: judge any implementation of the step against the fixture suite.

``python -m dummy_training.conformance --impl 'python3 my_step.py {args}'`` runs the
command once per case in ``fixtures/cases/`` on a private copy of the case and
checks the exit code, the output, the inputs and the case root afterwards, and for a
failing case why it failed: a reason that is no crash, carrying the case's error code.
``--contract-paths CMD`` runs implementations that hard-code ``/opt/ml/processing``
unmodified, each case bound there (and a private ``/opt/ml/output``). Every command
runs in a sandbox (bwrap, else unshare): the host read-only, /tmp, /var/tmp and HOME
private, no network, the case's own directory the only one it can write. See
CONFORMANCE.md.

Placeholders in the command (replaced by shell-quoted values, then split like a
shell would): ``{args}`` the case's arguments for the reference CLI, ``{root}``,
``{model}``, ``{hyperparameters}``, ``{output_dir}``, ``{message_file}`` absolute
paths, and ``{python}`` the interpreter running this module.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fnmatch
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from pathlib import Path
from typing import Any, Dict, NamedTuple, Sequence, Tuple

from . import __version__
from .contract import DEFAULT_ROOT, HYPERPARAMETERS, MODEL, OUTPUT_DIR, OUTPUT_NAME
from .errors import DummyTrainingError
from .repack import extract_tarfile


def default_cases(package: Path) -> Path:
    """The checkout's ``fixtures/cases`` beside ``package``, else the wheel's packaged copy."""
    checkout = package.parent / "fixtures" / "cases"
    return checkout if checkout.is_dir() else package / "_fixtures" / "cases"


CASES = default_cases(Path(__file__).resolve().parent)
CATEGORIES = (
    "valid",
    "corrupt",
    "extension",
    "hyperparameters",
    "missing",
    "unsafe",
    "environment",
)
STATUSES = ("pass", "fail", "skip", "xpass")
MEMBER = "hyperparameters.json"
TAIL_LINES = 20
DIFF_LINES = 10
TAIL_SHOWN = 5
MESSAGE_READ = 4096
PLACEHOLDER = re.compile(r"\{(python|args|root|model|hyperparameters|output_dir|message_file)\}")
# What a failing case must show, weakest first; --level picks the one that must hold.
LEVELS = ("exit codes", "reasons", "codes")
ML = DEFAULT_ROOT.parent  # /opt/ml, made private to each case
OUTPUT_AT = ML / "output"  # SageMaker's: the message file's directory
MESSAGE_NAME = "message"
# The sandbox (see CONFORMANCE.md): the host read-only, these directories private
# (empty tmpfs), HOME an empty directory in the private /tmp, no network, and the
# case's scratch directory the only writable host path.
PRIVATE = (Path("/tmp"), Path("/var/tmp"))
HOME = Path("/tmp/home")
_BWRAP = [
    *("--die-with-parent", "--unshare-net", "--unshare-ipc", "--unshare-pid"),
    *("--cap-drop", "ALL"),  # as root bwrap keeps them all: enough to remount / writable
]
_UNSHARE = ["--mount", "--net", "--ipc", "--propagation", "private"]
# Tried in order: bwrap (as root, setuid or with user namespaces), then unshare as
# root, then unshare in a user namespace.
SANDBOXES = (
    ("bwrap", _BWRAP),
    ("unshare", _UNSHARE),
    ("unshare", ["--user", "--map-root-user", *_UNSHARE]),
)
ENVIRONMENT_ERROR = 3  # no sandbox: the machine, not the implementation, is the problem
NO_SANDBOX = (
    "error: no sandbox works here (tried bwrap, unshare as root and in a user namespace): "
    "install bubblewrap, or give --no-sandbox to run the implementation unconfined"
)
_BANNER = "!" * 78
UNCONFINED = (
    f"{_BANNER}\nWARNING: --no-sandbox: the implementation runs unconfined, with your rights.\n"
    "It can write anywhere you can (an unsafe tar member it extracts to an absolute path\n"
    "lands on this machine), and use the network. Run only code you trust this way.\n"
    f"{_BANNER}"
)
# A crash rather than a refusal: the shell's own diagnostics (dash "sh: 3: ...",
# bash "x.sh: line 3: ...", zsh "zsh:3: ...") and a Python traceback.
SHELL_ERROR = re.compile(
    r"^(?:[\w./-]+: (?:line )?\d+: |[\w./-]+:\d+: |(?:ba|da|k|z)?sh: )"
    r"|: (?:command not found|Illegal option)\b"
)
TRACEBACK = "Traceback (most recent call last):"
# The kernel follows at most 40 symlinks resolving one path (ELOOP beyond).
MAX_LINK_HOPS = 40

Case = Dict[str, Any]
Entry = Tuple[Any, ...]  # ("file", sha256, owner-executable) | ("dir",) | ("symlink", target)


class Result(NamedTuple):
    """One case's outcome; ``status`` is one of STATUSES, ``level`` the highest of
    LEVELS it reached (None when it did not run or the exit code or output is wrong)."""

    case: Case
    status: str
    reasons: list[str]
    exit_code: int | None
    duration: float
    stdout: str
    stderr: str
    level: str | None = None
    message: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.case["id"],
            "category": self.case["category"],
            "status": self.status,
            "reasons": self.reasons,
            "exit_code": self.exit_code,
            "expected_exit_code": self.case["exit_code"],
            "duration": round(self.duration, 3),
            "level": self.level,
            "expected_error_code": self.case.get("error_code"),
            "message": self.message,
            "stdout_tail": _tail(self.stdout),
            "stderr_tail": _tail(self.stderr),
        }


class Runner(NamedTuple):
    """How to run the implementation: the command template, whether it uses the
    contract's paths, and the sandbox (``None`` under --no-sandbox)."""

    template: str
    contract: bool
    sandbox: Sandbox | None
    timeout: float
    level: str = LEVELS[-1]


def load_cases(directory: Path) -> list[Case]:
    """Every case under ``directory``, sorted by id, with ``dir`` added."""
    cases = []
    for case_dir in sorted(p for p in directory.iterdir() if (p / "case.json").is_file()):
        case = json.loads((case_dir / "case.json").read_text(encoding="utf-8"))
        cases.append({**case, "dir": case_dir})
    return cases


def suite_version(directory: Path) -> str:
    version = directory.parent / "SUITE_VERSION"
    return version.read_text(encoding="utf-8").strip() if version.is_file() else "unknown"


def needs_explicit_paths(case: Case) -> bool:
    """True when the case cannot run with the contract's default paths alone."""
    defaults = (MODEL.as_posix(), HYPERPARAMETERS.as_posix(), OUTPUT_DIR.as_posix())
    paths = (case["model"], case["hyperparameters"], case["output_dir"])
    return bool(case["hyperparameters_explicit"]) or paths != defaults


def command(template: str, case: Case, root: Path, message_file: Path) -> list[str]:
    """The argv for one case: placeholders replaced by quoted values, then shell-split."""
    plain = {
        "python": sys.executable,
        "root": str(root),
        "model": str(root / case["model"]),
        "hyperparameters": str(root / case["hyperparameters"]),
        "output_dir": str(root / case["output_dir"]),
        "message_file": str(message_file),
    }
    args = [_fill(arg, plain) for arg in [*case["args"], "--message-file", "{message_file}"]]
    quoted = {key: shlex.quote(value) for key, value in plain.items()}
    quoted["args"] = " ".join(shlex.quote(arg) for arg in args)
    return shlex.split(_fill(template, quoted))


def _fill(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


class Sandbox(NamedTuple):
    """A working sandbox: ``tool`` is "bwrap" or "unshare", ``prefix`` its path and
    namespace options."""

    tool: str
    prefix: list[str]


def find_sandbox(contract: bool) -> Sandbox | None:
    """The first of SANDBOXES that confines a probe run here (with a private /opt/ml
    when ``contract``), or None."""
    for tool, options in SANDBOXES:
        path = shutil.which(tool)
        sandbox = Sandbox(tool, [path or tool, *options])
        if path is not None and _confines(sandbox, contract):
            return sandbox
    return None


def _confines(sandbox: Sandbox, contract: bool) -> bool:
    """Whether a probe in ``sandbox`` sees and writes its case, and its /tmp stays private."""
    with tempfile.TemporaryDirectory(prefix="dummy-training-probe-") as probe:
        scratch = Path(probe)
        root, output = scratch / "case", scratch / "output"
        for directory in (root, output):
            directory.mkdir()
            (directory / "marker").touch()
        stray = PRIVATE[0] / f"{scratch.name}-stray"
        seen = DEFAULT_ROOT if contract else root
        check = f"test -f {shlex.quote(str(seen / 'marker'))}"
        if contract:
            check += f" && test -f {shlex.quote(str(OUTPUT_AT / 'marker'))}"
        check += f" && touch {shlex.quote(str(seen / 'written'))} {shlex.quote(str(stray))}"
        try:
            argv = confine(
                sandbox, ["sh", "-c", check], scratch, (root, output) if contract else None
            )
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        except (ValueError, OSError, subprocess.SubprocessError):
            return False
        leaked = stray.exists()
        if leaked:
            stray.unlink()
        return done.returncode == 0 and (root / "written").is_file() and not leaked


# ("ro-bind" | "bind", source, at) | ("symlink", target, at) | ("tmpfs" | "dir" | "dev" |
# "proc" | "remount-ro", at): bwrap's options of the same names.
Op = Tuple[str, ...]


def confine(
    sandbox: Sandbox, argv: list[str], scratch: Path, contract: tuple[Path, Path] | None
) -> list[str]:
    """``argv`` run in ``sandbox``, in the runner's current directory, with ``scratch``
    writable and, when ``contract`` gives (case root, output), a private /opt/ml that
    shows them at /opt/ml/processing and /opt/ml/output. ValueError when the sandbox
    cannot build that here."""
    cwd = Path.cwd()
    ops = mounts(scratch, contract, _named(argv, cwd))
    env = {"HOME": str(HOME), "TMPDIR": str(PRIVATE[0])}
    if sandbox.tool == "bwrap":
        setenv = [arg for name, value in env.items() for arg in ("--setenv", name, value)]
        return [
            *sandbox.prefix,
            *(arg for op in ops for arg in (f"--{op[0]}", *op[1:])),
            *(*setenv, "--chdir", str(cwd), "--"),
            *argv,
        ]
    return [*sandbox.prefix, "sh", "-c", _unshare_script(ops, cwd, env), "sh", *argv]


def mounts(scratch: Path, contract: tuple[Path, Path] | None, named: list[Path]) -> list[Op]:
    """What the sandbox mounts, in order: the host read-only, private /dev and /proc
    (bwrap's), the private directories (with what the command names inside them bound
    back read-only), the scratch directory writable and, for contract paths, a private
    /opt/ml. Nothing is created on the host: where /opt/ml is missing, the deepest
    directory above it that exists is hidden under a tmpfs that holds its entries, bound
    read-only, and /opt/ml."""
    base = _base(ML) if contract is not None else None
    # bwrap's own root is a tmpfs: when / lacks /opt, it gets /'s entries instead of /.
    ops: list[Op] = (
        [("ro-bind", "/", "/")] if base != Path("/") else _entries(Path("/"), ML.parts[1])
    )
    ops += [("dev", "/dev"), ("proc", "/proc")]
    private = [path for path in PRIVATE if _real_dir(path)]
    ops += [("tmpfs", str(path)) for path in private]
    ops.append(("dir", str(HOME)))
    shown: list[Path] = []
    for path in sorted(set(named)):
        if (
            any(path != p and _within(path, p) for p in private)
            and not _within(path, scratch)
            and not any(_within(path, s) for s in shown)
            and path.exists()
        ):
            shown.append(path)
            ops.append(("ro-bind", str(path), str(path)))
    ops.append(("bind", str(scratch), str(scratch)))
    if base is None or contract is None:
        return ops
    if base not in (Path("/"), ML):
        ops += [("tmpfs", str(base)), *_entries(base, ML.relative_to(base).parts[0])]
    ops += [
        ("tmpfs", str(ML)),
        ("bind", str(contract[0]), str(DEFAULT_ROOT)),
        ("bind", str(contract[1]), str(OUTPUT_AT)),
    ]
    if base != ML:
        ops.append(("remount-ro", str(base)))
    return ops


def _named(argv: list[str], cwd: Path) -> list[Path]:
    """The host directories a command needs: the current directory, and where its
    program (as PATH finds it, and every file its symlinks lead through) and each
    absolute argument live: a file's directory, or the installation above it when that
    is a ``bin`` (a venv in /tmp works, and so does one made from another venv there,
    whose python links to that venv's)."""
    named = [cwd]
    for arg in [*_hops(shutil.which(argv[0]) or argv[0]), *argv[1:]]:
        if os.path.isabs(arg):
            parent = Path(arg).parent
            named.append(parent.parent if parent.name == "bin" else parent)
    return named


def _hops(program: str) -> list[str]:
    """``program`` and each path its chain of symlinks passes, up to the kernel's limit."""
    hops = [program]
    while os.path.islink(hops[-1]) and len(hops) <= MAX_LINK_HOPS:
        hops.append(os.path.join(os.path.dirname(hops[-1]), os.readlink(hops[-1])))
    return hops


def _base(path: Path) -> Path:
    """The deepest real directory (no symlink) on the way to ``path``, or ``path``."""
    found = Path("/")
    for part in path.parts[1:]:
        if not _real_dir(found / part):
            break
        found = found / part
    return found


def _entries(directory: Path, hidden: str) -> list[Op]:
    """``directory``'s entries but ``hidden``, to rebuild it read-only elsewhere."""
    ops: list[Op] = []
    for name in sorted(os.listdir(directory)):
        path = str(directory / name)
        if name != hidden:
            link = os.path.islink(path)
            ops.append(("symlink", os.readlink(path), path) if link else ("ro-bind", path, path))
    return ops


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _within(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


# unshare has no sandbox of its own: a script, run as root in the new namespaces,
# makes every mount read-only, checks that none stays writable (of a mount point
# listed twice, the later mount is the one on top), mounts the rest and drops every
# capability before it runs the implementation. What a tmpfs hides stays reachable
# through a descriptor opened on the hidden directory beforehand.
_SH_READ_ONLY = r"""fail() { echo "dummy-training-conformance sandbox: $*" >&2; exit 125; }
while read -r _ at _ _ _; do
  case $at in *\\*) at=$(printf '%b' "$at");; esac
  mount -o remount,bind,ro "$at" 2>/dev/null
done < /proc/self/mounts
awk '{ options[$2] = "," $4 "," }
  END { for (at in options) if (options[at] !~ /,ro,/) { print at; bad = 1 }; exit bad }' \
  /proc/self/mounts >&2 || fail "these host mounts stay writable"
"""
_SH_RUN = "exec setpriv --no-new-privs --inh-caps=-all --ambient-caps=-all --bounding-set=-all --"


def _unshare_script(ops: list[Op], cwd: Path, env: dict[str, str]) -> str:
    if ops[0] != ("ro-bind", "/", "/"):
        raise ValueError(f"unshare cannot make {ML} here: / has no {ML.parts[1]!r}")
    tmpfs = [Path(op[1]) for op in ops if op[0] == "tmpfs"]
    # At most /tmp, /var/tmp, the directory above /opt/ml and /opt/ml: dash has 3 to 9.
    hidden = {path: 3 + i for i, path in enumerate(p for p in tmpfs if _real_dir(p))}
    q = shlex.quote
    opened = [f"exec {fd}<{q(str(path))}" for path, fd in hidden.items()]
    steps: list[str] = []
    covered: list[Path] = []
    for kind, *args in ops[1:]:
        at = q(args[-1])
        if kind == "tmpfs":
            steps.append(f"mkdir -p {at} && mount -t tmpfs tmpfs {at}")
            covered.append(Path(args[0]))
        elif kind == "remount-ro":
            steps.append(f"mount -o remount,bind,ro {at}")
        elif kind == "dir":
            steps.append(f"mkdir -p {at}")
        elif kind in ("dev", "proc"):
            continue  # the host's stay, read-only: a new /proc needs a new PID namespace
        elif kind == "symlink":
            steps.append(f"ln -s {q(args[0])} {at}")
        else:  # -c: mount must not resolve /proc/self/fd/N to the path the tmpfs hides
            make = f"mkdir -p {at}" if os.path.isdir(args[0]) else f": > {at}"
            source = q(_reach(Path(args[0]), covered, hidden))
            mode = "ro" if kind == "ro-bind" else "rw"
            steps.append(
                f"{make} && mount -c --rbind {source} {at} && mount -o remount,bind,{mode} {at}"
            )
    steps += [f"cd {q(str(cwd))}", "export " + " ".join(f"{k}={q(v)}" for k, v in env.items())]
    checked = [f"{step} || fail {q(step)}" for step in [*opened, *steps]]
    return "\n".join([_SH_READ_ONLY + "\n".join(checked), f'{_SH_RUN} "$@"'])


def _reach(source: Path, covered: list[Path], hidden: dict[Path, int]) -> str:
    """A path to ``source`` that still works once the tmpfs mounts so far hide it."""
    for directory in sorted(covered, key=lambda p: len(p.parts), reverse=True):
        if directory in hidden and _within(source, directory):
            rest = source.relative_to(directory).as_posix()
            return f"/proc/self/fd/{hidden[directory]}" + ("" if rest == "." else f"/{rest}")
    return str(source)


def copy_case(case: Case, root: Path) -> None:
    """A private copy of the case without case.json and .keep placeholders."""
    shutil.copytree(case["dir"], root, symlinks=True)
    (root / "case.json").unlink()
    for keep in list(root.rglob(".keep")):
        keep.unlink()


def snapshot(root: Path) -> dict[str, Entry]:
    """Every path under ``root`` (POSIX, relative) with its type and content."""
    entries: dict[str, Entry] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            entries[Path(os.path.relpath(path, root)).as_posix()] = _entry(path)
    return entries


def _entry(path: str) -> Entry:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ("symlink", os.readlink(path))
    if stat.S_ISDIR(st.st_mode):
        return ("dir",)
    if not stat.S_ISREG(st.st_mode):
        return ("special",)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return ("file", digest.hexdigest(), bool(st.st_mode & stat.S_IXUSR))


def expected_tree(entries: list[dict[str, Any]]) -> dict[str, Entry]:
    """case.json's tree in snapshot form: only what the comparison looks at."""
    tree: dict[str, Entry] = {}
    for e in entries:
        if e["type"] == "file":
            tree[e["path"]] = ("file", e["sha256"], bool(int(e["mode"], 8) & stat.S_IXUSR))
        else:
            tree[e["path"]] = (e["type"], e["target"]) if e["type"] == "symlink" else ("dir",)
    return tree


def tree_diff(expected: dict[str, Entry], actual: dict[str, Entry]) -> list[str]:
    """Differences between two trees, at most DIFF_LINES of them plus a count."""
    lines = []
    for path in sorted(set(expected) | set(actual)):
        want, got = expected.get(path), actual.get(path)
        if want == got:
            continue
        if got is None:
            lines.append(f"tree: missing {path}")
        elif want is None:
            lines.append(f"tree: unexpected {_describe(got)} {path}")
        else:
            lines.append(f"tree: {path} is {_describe(got)}, expected {_describe(want)}")
    if len(lines) > DIFF_LINES:
        lines[DIFF_LINES:] = [f"tree: ... and {len(lines) - DIFF_LINES} more differences"]
    return lines


def _describe(entry: Entry) -> str:
    if entry[0] == "file":
        return f"file sha256 {entry[1][:12]}{' executable' if entry[2] else ''}"
    if entry[0] == "symlink":
        return f"symlink to {entry[1]!r}"
    return "directory" if entry[0] == "dir" else entry[0]


def check(case: Case, root: Path, before: dict[str, Entry], code: int, scratch: Path) -> list[str]:
    """Everything wrong with a finished run, as one line per problem."""
    reasons = []
    if code != case["exit_code"]:
        reasons.append(f"exit code {code}, expected {case['exit_code']}")
    if code < 0:
        reasons.append(f"crash: killed by signal {_signal_name(-code)}")
    after = snapshot(root)
    for path in sorted(before):
        if after.get(path) != before[path]:
            reasons.append(f"input {'changed' if path in after else 'removed'}: {path}")
    out_dir = case["output_dir"]
    output = f"{out_dir}/{OUTPUT_NAME}"
    for path in sorted(set(after) - set(before) - {output}):
        if out_dir == path or out_dir.startswith(path + "/"):
            continue  # the output directory and its parents may be created
        where = "in" if path.startswith(out_dir + "/") else "outside"
        reasons.append(f"{after[path][0]} created {where} the output directory: {path}")
    found = after.get(output)
    if case["output"] == "none":
        if found is not None:
            reasons.append(f"{output} written although the case expects no output")
    elif found is None or found[0] != "file":
        reasons.append(f"no output file {output}")
    elif case["output"] == "copy":
        if found[1] != before[case["model"]][1]:
            reasons.append(f"{output} is not a byte-for-byte copy of {case['model']}")
    else:
        reasons.extend(check_tree(case, root / output, scratch))
    return reasons


def check_tree(case: Case, output: Path, scratch: Path) -> list[str]:
    """Extract ``output`` safely and compare it with the case's tree."""
    extracted = scratch / "extracted"
    extracted.mkdir()
    try:
        extract_tarfile(output, extracted)
        with tarfile.open(output, "r:gz") as archive:
            names = archive.getnames()
    except (DummyTrainingError, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        return [f"output is not a safe archive: {str(exc).replace(str(output), OUTPUT_NAME)}"]
    reasons = tree_diff(expected_tree(case["tree"]), snapshot(extracted))
    if MEMBER not in names:
        reasons.append(f"no tar member named exactly {MEMBER!r}")
    return reasons


def execute(argv: list[str], timeout: float) -> tuple[int | None, str, str, str | None]:
    """Run ``argv`` in its own process group; (exit code, stdout, stderr, problem)."""
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        return None, "", "", f"cannot start {argv[0]!r}: {exc.strerror or exc}"
    problem = None
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        problem = f"timed out after {timeout:g} s"
    text = (out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
    return (None if problem else proc.returncode), text[0], text[1], problem


def run_case(case: Case, runner: Runner, skipped: bool, must_fail: bool) -> Result:
    """Run one case on a fresh copy; skipped cases run only when they ``must_fail``."""
    if skipped and not must_fail:
        return Result(case, "skip", ["skipped (--skip)"], None, 0.0, "", "")
    if runner.contract and needs_explicit_paths(case):
        return Result(case, "skip", ["needs explicit paths"], None, 0.0, "", "")
    start = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="dummy-training-conformance-"))
    message = ""
    try:
        root = scratch / case["id"]
        output = scratch / "output"  # the case's own /opt/ml/output
        output.mkdir()
        copy_case(case, root)
        before = snapshot(root)
        message_file = output / MESSAGE_NAME
        if runner.contract:
            argv = command(runner.template, case, DEFAULT_ROOT, OUTPUT_AT / MESSAGE_NAME)
        else:
            argv = command(runner.template, case, root, message_file)
        if runner.sandbox is None:
            code, out, err, problem = execute(argv, runner.timeout)
        else:
            contract = (root, output) if runner.contract else None
            code, out, err, problem = execute_confined(
                runner.sandbox, argv, scratch, contract, runner.timeout
            )
        message = _read_message(message_file)
        if code is None:
            reasons = [str(problem)]
        else:
            reasons = outside(scratch, {case["id"], output.name})
            reasons += check(case, root, before, code, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    level = None
    if not reasons:
        level, short = judge(case, message, err)
        if LEVELS.index(level) < LEVELS.index(runner.level):
            reasons = short
    if skipped:
        status = "skip" if reasons else "xpass"
        reasons = reasons or ["passes although skipped (--skip-must-fail)"]
    else:
        status = "fail" if reasons else "pass"
    duration = time.monotonic() - start
    return Result(case, status, reasons, code, duration, out, err, level, message)


def execute_confined(
    sandbox: Sandbox,
    argv: list[str],
    scratch: Path,
    contract: tuple[Path, Path] | None,
    timeout: float,
) -> tuple[int | None, str, str, str | None]:
    """``execute`` in the sandbox (see ``confine``), telling what it would hide: a
    program that cannot start (its exec fails inside), and a death by signal N, which
    bwrap, like a shell, reports as exit status 128 + N."""
    if shutil.which(argv[0]) is None:
        missing = "/" not in argv[0] or not os.path.exists(argv[0])
        why = os.strerror(errno.ENOENT if missing else errno.EACCES)
        return None, "", "", f"cannot start {argv[0]!r}: {why}"
    code, out, err, problem = execute(confine(sandbox, argv, scratch, contract), timeout)
    if code is not None and 128 < code < 128 + signal.NSIG:
        code = 128 - code
    return code, out, err, problem


def _read_message(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(MESSAGE_READ).decode("utf-8", "replace")
    except OSError:
        return ""


def outside(scratch: Path, own: set[str]) -> list[str]:
    """What the run left beside its case copy: written outside the case.

    The sandbox keeps the rest of the host read-only or private, but the case's scratch
    directory is writable: where a member named ``../x`` extracted at the root lands.
    """
    return [
        f"{_entry(str(scratch / name))[0]} written outside the case: ../{name}"
        for name in sorted(os.listdir(scratch))
        if name not in own
    ]


def judge(case: Case, message: str, stderr: str) -> tuple[str, list[str]]:
    """The highest of LEVELS a run with the right exit code and files reaches, and why
    it reaches no higher: a failing case must say why (no crash), with its error code."""
    if case["exit_code"] == 0:
        return LEVELS[-1], []
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    said = message.strip() or (lines[-1] if lines else "")
    crash = _crash(stderr, said)
    if crash is not None:
        return LEVELS[0], [crash]
    if not said:
        return LEVELS[0], ["no reason given: no message file and nothing on stderr"]
    code = case.get("error_code")
    if code is None or f"(ERROR_CODE: {code})" in said:
        return LEVELS[2], []
    shown = said if len(said) <= 200 else said[:200] + "..."
    return LEVELS[1], [f"the reason does not carry (ERROR_CODE: {code}): {shown}"]


def _crash(stderr: str, said: str) -> str | None:
    if TRACEBACK in stderr:
        return "crash: a Python traceback on stderr"
    for line in [said, *stderr.splitlines()]:
        if SHELL_ERROR.search(line):
            return f"crash: shell error: {line.strip()}"
    return None


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


def _tail(text: str) -> str:
    return "\n".join(text.splitlines()[-TAIL_LINES:])


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dummy-training-conformance",
        description="Run an implementation of the dummy training step against the fixture "
        "suite. Placeholders in CMD: {args} (the case's reference CLI arguments), {root}, "
        "{model}, {hyperparameters}, {output_dir}, {message_file} (absolute paths), {python}.",
    )
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--impl", metavar="CMD", help="command template run once per case")
    how.add_argument(
        "--contract-paths",
        metavar="CMD",
        help="command that uses /opt/ml/processing itself; each case is bound there "
        "in the sandbox's private /opt/ml",
    )
    parser.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run --impl unconfined, where no sandbox (bwrap or unshare) works; it warns",
    )
    parser.add_argument("--cases", type=Path, default=CASES, help=f"default: {CASES}")
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument(
        "-k", "--select", action="append", default=[], metavar="GLOB", help="run matching ids"
    )
    parser.add_argument(
        "--skip", action="append", default=[], metavar="GLOB", help="skip matching ids"
    )
    parser.add_argument(
        "--skip-must-fail",
        action="store_true",
        help="run skipped cases too; one that passes fails the run",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per case (60)")
    parser.add_argument("--jobs", "-j", type=_positive, default=1, help="cases run at once (1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write a JSON report")
    parser.add_argument(
        "--level",
        choices=[level.replace(" ", "-") for level in LEVELS],
        default=LEVELS[-1],
        help="what a failing case must show to pass: the exit code alone (exit-codes), "
        "also a reason that is no crash (reasons), also the case's error code (codes, "
        "the default)",
    )
    parser.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help=f"show {TAIL_LINES} lines of a failure's stderr rather than {TAIL_SHOWN}",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the suite; 0 when no selected case fails, 1 when one does, 2 on usage errors,
    3 when no sandbox works here."""
    try:
        ns = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and usage errors
        return int(exc.code or 0)
    if not ns.cases.is_dir():
        print(f"error: no fixture cases at {ns.cases} (give --cases DIR)", file=sys.stderr)
        return 2
    cases = [c for c in load_cases(ns.cases) if not ns.select or _matches(c["id"], ns.select)]
    if not cases:
        print(f"error: no case in {ns.cases} matches {ns.select}", file=sys.stderr)
        return 2
    skipped = {c["id"] for c in cases if _matches(c["id"], ns.skip)}
    if ns.list:
        for c in cases:
            mark = " (skipped)" if c["id"] in skipped else ""
            print(f"{c['id']:<45} {c['category']:<16} {c['description']}{mark}")
        return 0
    template = ns.impl if ns.contract_paths is None else ns.contract_paths
    try:
        if not shlex.split(template or ""):
            raise ValueError("no command given")
    except ValueError as exc:
        print(f"error: --impl or --contract-paths CMD is required: {exc}", file=sys.stderr)
        return 2
    contract = ns.contract_paths is not None
    sandbox = None
    if ns.no_sandbox and contract:
        print(
            "error: --no-sandbox works with --impl only: --contract-paths needs the "
            "sandbox's private /opt/ml",
            file=sys.stderr,
        )
        return 2
    if ns.no_sandbox:
        print(UNCONFINED, file=sys.stderr)
    else:
        sandbox = find_sandbox(contract)
        if sandbox is None:
            print(NO_SANDBOX, file=sys.stderr)
            return ENVIRONMENT_ERROR
    level = ns.level.replace("-", " ")
    runner = Runner(template, contract, sandbox, ns.timeout, level)
    version = suite_version(ns.cases)
    confined = "none" if sandbox is None else sandbox.tool
    print(
        f"conformance suite {version}: {len(cases)} cases, sandbox: {confined}, command: {template}"
    )
    results = []
    with ThreadPoolExecutor(max_workers=ns.jobs) as pool:
        flags = [c["id"] in skipped for c in cases]
        # In case order, each printed as soon as it and those before it are done.
        for result in pool.map(run_case, cases, repeat(runner), flags, repeat(ns.skip_must_fail)):
            results.append(result)
            _print_result(result, ns.verbose)
    ok = not any(r.status in ("fail", "xpass") for r in results)
    reached = level_reached(results)
    _print_summary(results, version, ok)
    print(f"level reached: {reached or 'none'} (required: {level})")
    _warn_if_nothing_runs(results)
    if ns.json is not None:
        report = {
            "suite_version": version,
            "runner_version": __version__,
            "command": template,
            "contract_paths": runner.contract,
            "sandbox": None if sandbox is None else sandbox.tool,
            "ok": ok,
            "level": level,
            "level_reached": reached,
            "summary": {s: sum(r.status == s for r in results) for s in STATUSES},
            "cases": [r.as_json() for r in results],
        }
        ns.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


def _matches(case_id: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(case_id, glob) for glob in globs)


def level_reached(results: list[Result]) -> str | None:
    """The highest level every case that ran reached; None when one got its exit code,
    output or files wrong, or when no case ran."""
    ran = [r for r in results if r.status != "skip"]
    if not ran or any(r.level is None for r in ran):
        return None
    return min((str(r.level) for r in ran), key=LEVELS.index)


def _print_result(result: Result, verbose: bool) -> None:
    print(f"{result.status.upper():<5} {result.case['id']} ({result.duration:.2f} s)")
    failed = result.status in ("fail", "xpass")
    if failed:
        print(f"        case: {result.case['description']}")
    for reason in result.reasons:
        print(f"        {reason}")
    if failed:
        lines = result.stderr.splitlines()[-(TAIL_LINES if verbose else TAIL_SHOWN) :]
        for line in lines:
            print(f"      | {line}")


def _warn_if_nothing_runs(results: list[Result]) -> None:
    valid = [r for r in results if r.case["category"] == "valid" and r.status != "skip"]
    if valid and all(r.status == "fail" for r in valid):
        print(
            f"\n{_BANNER}\nWARNING: every valid case failed: the command probably does not "
            f"run at all.\nFirst failure ({valid[0].case['id']}): "
            f"{'; '.join(valid[0].reasons)}\n{_BANNER}"
        )


def _print_summary(results: list[Result], version: str, ok: bool) -> None:
    order = {c: i for i, c in enumerate(CATEGORIES)}
    categories = sorted({r.case["category"] for r in results}, key=lambda c: (order.get(c, 99), c))
    print(f"\n{'category':<16}" + "".join(f"{s:>7}" for s in (*STATUSES, "total")))
    for name in [*categories, "all"]:
        rows = [r for r in results if name in ("all", r.case["category"])]
        counts = [sum(r.status == s for r in rows) for s in STATUSES]
        print(f"{name:<16}" + "".join(f"{n:>7}" for n in (*counts, len(rows))))
    verdict = "OK" if ok else "FAILED"
    print(f"suite {version}: {verdict} ({sum(r.status == 'pass' for r in results)} passed)")


if __name__ == "__main__":
    raise SystemExit(main())
