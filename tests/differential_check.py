"""The differential check: the scanner's verdict against what the real readers see.

For an archive the scanner refuses, the step must exit 2 and write nothing. For one it
accepts, every reader must list exactly the scanner's manifest in the input, and the
spliced output must list as ``hyperparameters.json`` followed by the same entries.
Anything else is a divergence.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import signal
import traceback
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

from differential import Case
from dummy_training import ValidationError, main, scan
from readers import Entry, Listing, ReaderError, list_many, manifest_entries

HYPERPARAMETERS = b'{"epochs": "3"}\n'
HYPERPARAMETERS_ENTRY = Entry("hyperparameters.json", "file", len(HYPERPARAMETERS), "", 0o644)
# A few KiB take milliseconds; a scan that runs this long is looping (a finding).
TIME_LIMIT = 10.0


class Hung(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise Hung in the main thread after ``seconds`` (SIGALRM: POSIX only)."""

    def expire(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Verdict(NamedTuple):
    seed: int | None  # None for a directed case
    case: Case
    outcome: str  # "refused", "accepted" or "diverged"
    detail: str  # the refusal message, or what diverged

    def report(self) -> str:
        origin = f"seed {self.seed}" if self.seed is not None else "directed"
        return f"[{self.case.family}] {origin}: {self.case.describe}\n  {self.detail}"


class _Accepted(NamedTuple):
    index: int
    model: Path
    output: Path | None  # None when the splice had to fall back to a repack
    expected: Listing


def _step(argv: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), time_limit(TIME_LIMIT):
            code = main([*argv, "--message-file", "/dev/null"])
    except Hung as exc:
        return -1, str(exc)
    return code, err.getvalue()


def _differs(expected: Listing, got: Listing | ReaderError) -> str | None:
    if isinstance(got, ReaderError):
        return f"failed: {got}"
    if got == expected:
        return None
    for index, (want, have) in enumerate(zip(expected, got)):
        if want != have:
            return f"entry {index}: manifest {want} but read {have}"
    longer, shorter = (got, expected) if len(got) > len(expected) else (expected, got)
    extra = longer[len(shorter)]
    side = "reader also lists" if longer is got else "reader misses"
    return f"{len(got)} entries for {len(expected)}: {side} {extra}"


class Checker:
    """Checks batches of cases in ``workdir`` with ``readers`` (tarfile of each python)."""

    def __init__(
        self,
        workdir: Path,
        readers: Sequence[str],
        pythons: Sequence[str | None] = (None,),
        save: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.readers = [
            (reader, python)
            for reader in readers
            for python in (pythons if reader == "tarfile" else [None])
        ]
        self.save = save

    def check(self, cases: Sequence[tuple[int | None, Case]]) -> list[Verdict]:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        hyper = self.workdir / "hyperparameters.json"
        hyper.write_bytes(HYPERPARAMETERS)
        verdicts: list[Verdict] = []
        accepted: list[_Accepted] = []
        for index, (seed, case) in enumerate(cases):
            where = self.workdir / str(index)
            model = where / "model.tar.gz"
            where.mkdir()
            model.write_bytes(case.gz())
            outcome, detail, listing, output = self._scan(model, where, hyper)
            verdicts.append(Verdict(seed, case, outcome, detail))
            if listing is not None:
                accepted.append(_Accepted(index, model, output, listing))
        for index, problems in self._read(accepted).items():
            seed, case = cases[index]
            verdicts[index] = Verdict(seed, case, "diverged", "; ".join(problems))
        for verdict in verdicts:
            if verdict.outcome == "diverged" and self.save is not None:
                self._keep(verdict)
        return verdicts

    def _scan(
        self, model: Path, where: Path, hyper: Path
    ) -> tuple[str, str, Listing | None, Path | None]:
        """Outcome, detail, and when accepted the manifest as a listing and the output."""
        out = where / "out"
        base = ["--model", str(model), "--hyperparameters", str(hyper), "--output-dir", str(out)]
        try:
            with time_limit(TIME_LIMIT):
                manifest = scan(model)
        except ValidationError as exc:
            code, log = _step([*base, "--strategy", "auto"])
            if code != 2 or (out / "model.tar.gz").exists():
                detail = f"scan refused ({exc}) but the step exited {code}: {log}"
                return "diverged", detail, None, None
            return "refused", str(exc), None, None
        except Hung as exc:
            return "diverged", f"scan hung: {exc}", None, None
        except Exception:
            return "diverged", f"scan crashed: {traceback.format_exc(limit=-3)}", None, None
        listing = manifest_entries(manifest.members)
        code, log = _step([*base, "--strategy", "splice"])
        if code != 0 or not (out / "model.tar.gz").exists():
            return "diverged", f"scan accepted but the splice exited {code}: {log}", None, None
        # With a hyperparameters.json of its own the splice falls back to a repack,
        # whose output is not the input's bytes: only the input is compared.
        spliced = out / "model.tar.gz" if manifest.root_hyperparameters is None else None
        return "accepted", "", listing, spliced

    def _read(self, accepted: list[_Accepted]) -> dict[int, list[str]]:
        """Problems per case index, from every reader over inputs and outputs at once."""
        problems: dict[int, list[str]] = {}
        outputs = [a for a in accepted if a.output is not None]
        for reader, python in self.readers:
            label = reader if python is None else f"{reader}[{python}]"
            inputs = list_many(reader, [a.model for a in accepted], python)
            for item, got in zip(accepted, inputs):
                problem = _differs(item.expected, got)
                if problem:
                    problems.setdefault(item.index, []).append(f"{label} input: {problem}")
            spliced = list_many(reader, [a.output for a in outputs if a.output], python)
            for item, got in zip(outputs, spliced):
                problem = _differs((HYPERPARAMETERS_ENTRY, *item.expected), got)
                if problem:
                    problems.setdefault(item.index, []).append(f"{label} output: {problem}")
        return problems

    def _keep(self, verdict: Verdict) -> None:
        assert self.save is not None
        self.save.mkdir(parents=True, exist_ok=True)
        stem = f"{verdict.case.family}-{verdict.seed if verdict.seed is not None else 'directed'}"
        (self.save / f"{stem}.tar.gz").write_bytes(verdict.case.gz())
        (self.save / f"{stem}.txt").write_text(verdict.report() + "\n", encoding="utf-8")
