"""Hostile hyperparameters and paths end at once with their exit code: work is counted here."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path
from typing import Any, Iterator, SupportsIndex

import pytest

from archives import SMALL, write_model
from dummy_training import ValidationError, main, process_model_with_hyperparameters
from dummy_training.errors import InputNotFoundError
from dummy_training.hyperparameters import HYPERPARAMETERS_MAX, INT_DIGITS_MAX, read_capped
from dummy_training.splice import stored_blocks

MiB = 1 << 20


def _config(root: Path) -> Path:
    return root / "input" / "config" / "hyperparameters.json"


def _output(root: Path) -> Path:
    return root / "output" / "model" / "model.tar.gz"


def _run(root: Path, *args: str) -> tuple[int, str]:
    """Run the CLI on ``root``; return the exit code and the failure message written."""
    message = root / "message"
    if message.exists():
        message.unlink()
    code = main(["--root", str(root), "--message-file", str(message), *args])
    return code, message.read_text(encoding="utf-8") if message.exists() else ""


@pytest.fixture
def no_hang() -> Iterator[None]:
    """A test that would block forever (a FIFO read) fails instead of hanging the suite."""

    def expire(signum: int, frame: object) -> None:
        raise AssertionError("blocked: the run did not end")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class _ReadCounter:
    """Wraps os.read to add up the bytes it returns."""

    def __init__(self) -> None:
        self.total = 0
        self._read = os.read

    def __call__(self, fd: int, n: int) -> bytes:
        data = self._read(fd, n)
        self.total += len(data)
        return data


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> _ReadCounter:
    counter = _ReadCounter()
    monkeypatch.setattr(os, "read", counter)
    return counter


# --- Finding 6: the hyperparameters file -------------------------------------------------


@pytest.mark.parametrize("where", ["default", "explicit", "symlink"])
def test_a_fifo_is_refused_before_it_is_opened(
    where: str, tmp_path: Path, no_hang: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nobody writes to the FIFO: opening it to read used to wait for a writer forever.
    write_model(tmp_path, SMALL, hyperparameters=None)
    fifo = tmp_path / "fifo" if where == "symlink" else _config(tmp_path)
    fifo.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(fifo)
    if where == "symlink":
        _config(tmp_path).parent.mkdir(parents=True)
        _config(tmp_path).symlink_to(fifo)
    opened: list[str] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        opened.append(os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    extra = ["--hyperparameters", str(fifo)] if where == "explicit" else []
    code, message = _run(tmp_path, *extra)
    assert code == 2
    shown = fifo if where == "explicit" else _config(tmp_path)
    assert (
        message == f"{shown}: hyperparameters path is a FIFO, not a regular file "
        "(ERROR_CODE: HYPERPARAMETERS_INVALID)"
    )
    assert not {str(fifo), str(_config(tmp_path))} & set(opened)
    assert not _output(tmp_path).exists()


def test_dev_zero_is_refused_without_reading_a_byte(tmp_path: Path, reads: _ReadCounter) -> None:
    # It used to be read until memory ran out: first in a child with 1 GiB of address
    # space, so that a regression fails this test instead of the machine.
    write_model(tmp_path, SMALL, hyperparameters=None)
    message = tmp_path / "message"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    args = ["--root", str(tmp_path), "--message-file", str(message)]
    child = subprocess.run(
        [sys.executable, "-m", "dummy_training", *args, "--hyperparameters", "/dev/zero"],
        preexec_fn=limit,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 2, child.stderr
    assert message.read_text() == (
        "/dev/zero: hyperparameters path is a character device, not a regular file "
        "(ERROR_CODE: HYPERPARAMETERS_INVALID)"
    )
    before = reads.total  # the pipes from the child
    with pytest.raises(ValidationError, match="is a character device, not a regular file"):
        read_capped(Path("/dev/zero"))
    assert reads.total == before


def test_a_socket_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        with pytest.raises(ValidationError, match="is a socket, not a regular file"):
            read_capped(path)


@pytest.mark.parametrize("size", [2 * MiB, 64 * MiB, 1 << 40])
def test_a_file_over_the_cap_is_refused_before_reading(
    size: int, tmp_path: Path, reads: _ReadCounter
) -> None:
    # Sparse files: the size is what counts, and none of it is read.
    path = tmp_path / "hyperparameters.json"
    with path.open("wb") as f:
        f.truncate(size)
    with pytest.raises(ValidationError) as refused:
        read_capped(path)
    assert str(refused.value) == (
        f"{path}: hyperparameters file is larger than the cap of {HYPERPARAMETERS_MAX} bytes "
        "(raise it with --max-hyperparameters-bytes) (ERROR_CODE: CAP_EXCEEDED)"
    )
    assert reads.total == 0


@pytest.mark.parametrize("size", [2 * MiB, 16 * MiB])
def test_a_file_larger_than_it_says_is_read_no_further_than_the_cap(
    size: int, tmp_path: Path, reads: _ReadCounter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /proc files, and files still being written, report fewer bytes than they hold.
    path = tmp_path / "hyperparameters.json"
    path.write_bytes(b" " * size)
    real_stat = os.stat

    def shrunk(target: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        st = real_stat(target, *args, **kwargs)
        if os.fspath(target) != str(path):
            return st
        fields = list(st)
        fields[6] = 0  # st_size
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", shrunk)
    cap = 100_000
    with pytest.raises(ValidationError, match=f"larger than the cap of {cap} bytes"):
        read_capped(path, cap)
    assert reads.total == cap + 1  # the same for every size


def test_the_cap_is_inclusive_and_the_flag_raises_it(tmp_path: Path) -> None:
    write_model(tmp_path, SMALL)
    body = b'{"a": "' + b"x" * (2 * MiB) + b'"}'
    _config(tmp_path).write_bytes(body)
    code, message = _run(tmp_path)
    assert code == 2
    assert "larger than the cap of 1048576 bytes (raise it with --max-hyperparameters-bytes)" in (
        message
    )
    assert _run(tmp_path, "--max-hyperparameters-bytes", str(len(body) - 1))[0] == 2
    assert _run(tmp_path, "--max-hyperparameters-bytes", str(len(body))) == (0, "")
    assert read_capped(_config(tmp_path), len(body)) == body


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply for Python's json"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "nested too deeply for Python's json"),
        ('{"a": ' + "9" * 5000 + "}", "an integer of 5000 digits; Python reads at most 4300"),
        ('{"a": -' + "9" * 4301 + "}", "an integer of 4301 digits; Python reads at most 4300"),
        ('{"a": [' + "9" * 10**6 + "]}", "an integer of 1000000 digits; Python reads at most 4300"),
    ],
    ids=["deep-array", "deep-object", "int-5000", "int-4301-negative", "int-1e6"],
)
def test_json_that_python_cannot_take_exits_2(text: str, cause: str, tmp_path: Path) -> None:
    write_model(tmp_path, SMALL, hyperparameters=text.encode())
    code, message = _run(tmp_path)
    assert code == 2
    assert (
        message == f"{_config(tmp_path)}: hyperparameters are not usable JSON ({cause}) "
        "(ERROR_CODE: HYPERPARAMETERS_INVALID)"
    )
    assert "\n" not in message
    assert not _output(tmp_path).exists()


def test_the_longest_integer_python_reads_is_accepted(tmp_path: Path) -> None:
    body = '{"a": -' + "9" * INT_DIGITS_MAX + "}"
    write_model(tmp_path, SMALL, hyperparameters=body.encode())
    assert _run(tmp_path) == (0, "")


@pytest.mark.skipif(
    not hasattr(sys, "set_int_max_str_digits"), reason="no integer digit limit on this Python"
)
def test_a_lower_interpreter_digit_limit_is_exit_2_too(tmp_path: Path) -> None:
    write_model(tmp_path, SMALL, hyperparameters=b'{"a": ' + b"7" * 1000 + b"}")
    before = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        code, message = _run(tmp_path)
    finally:
        sys.set_int_max_str_digits(before)
    assert code == 2
    assert message.startswith(f"{_config(tmp_path)}: hyperparameters are not usable JSON (")
    assert "640" in message


def test_a_dangling_symlink_is_not_found_and_says_where_it_points(tmp_path: Path) -> None:
    write_model(tmp_path, SMALL, hyperparameters=None)
    _config(tmp_path).parent.mkdir(parents=True)
    _config(tmp_path).symlink_to(tmp_path / "gone.json")
    # At the default path it is not silently taken for "no hyperparameters".
    assert _run(tmp_path) == (
        1,
        f"{_config(tmp_path)}: hyperparameters file not found "
        f"(dangling symbolic link to {tmp_path / 'gone.json'}) (ERROR_CODE: FILE_NOT_FOUND)",
    )
    assert not _output(tmp_path).exists()


def test_a_symlink_loop_cannot_be_read(tmp_path: Path) -> None:
    write_model(tmp_path, SMALL, hyperparameters=None)
    _config(tmp_path).parent.mkdir(parents=True)
    _config(tmp_path).symlink_to(_config(tmp_path))
    code, message = _run(tmp_path)
    assert code == 1
    assert message.startswith(f"{_config(tmp_path)}: hyperparameters file cannot be read: ")


def test_a_read_error_is_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_model(tmp_path, SMALL)

    def broken(fd: int, n: int) -> bytes:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "read", broken)
    assert _run(tmp_path) == (
        1,
        f"{_config(tmp_path)}: hyperparameters file cannot be read: Input/output error "
        "(ERROR_CODE: FILE_NOT_FOUND)",
    )


class _CountingBytes(bytes):
    """Bytes whose slices and concatenations add up the bytes each concatenation copies."""

    copied = 0

    def __getitem__(self, key: SupportsIndex | slice) -> Any:
        assert isinstance(key, slice)
        return _CountingBytes(bytes.__getitem__(self, key))

    def __add__(self, other: bytes) -> _CountingBytes:  # type: ignore[override]
        return self._count(bytes(self) + bytes(other))

    def __radd__(self, other: bytes) -> _CountingBytes:
        return self._count(bytes(other) + bytes(self))

    @staticmethod
    def _count(data: bytes) -> _CountingBytes:
        _CountingBytes.copied += len(data)
        return _CountingBytes(data)


def _copied(size: int) -> int:
    _CountingBytes.copied = 0
    data = os.urandom(size)
    blocks = stored_blocks(_CountingBytes(data))
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)
    assert inflate.decompress(blocks + b"\x03\x00") == data  # plus an empty final block
    return _CountingBytes.copied


def test_stored_blocks_copy_each_byte_a_bounded_number_of_times() -> None:
    # Appending each block to one bytes object copied all the blocks before it again:
    # 64 MB of hyperparameters took 39 s. Each block is built once now.
    small, large = _copied(1 * MiB), _copied(4 * MiB)
    assert small <= 1 * MiB + 5 * 17
    assert large <= 4 * MiB + 5 * 65
    assert large <= 4 * small + 5


def test_a_large_file_passes_when_the_cap_is_raised(tmp_path: Path) -> None:
    body = json.dumps({"blob": "x" * (8 * MiB)}).encode()
    write_model(tmp_path, SMALL, hyperparameters=body)
    assert _run(tmp_path, "--max-hyperparameters-bytes", str(16 * MiB)) == (0, "")
    with tarfile.open(_output(tmp_path)) as tf:
        member = tf.extractfile("hyperparameters.json")
        assert member is not None
        assert member.read() == body


# --- Finding 8: a model path that is not UTF-8 -------------------------------------------


class _StrictStderr:
    """A stderr that fails on anything it cannot encode, as a pipe with strict errors does.

    Installed inside the test itself: pytest puts its own capture back after the fixtures.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._raw = io.BytesIO()
        stream = io.TextIOWrapper(self._raw, "utf-8", "strict", write_through=True)
        monkeypatch.setattr(sys, "stderr", stream)

    def text(self) -> str:
        return self._raw.getvalue().decode("utf-8")


def _bad_name(directory: Path, name: bytes) -> Path:
    return Path(os.fsdecode(os.fsencode(directory) + b"/" + name))


@pytest.mark.parametrize(
    ("setup", "code", "cause"),
    [
        (
            "missing",
            1,
            "{shown}: model archive not found; {tmp} is empty (a SageMaker ProcessingInput "
            "keeps the S3 object's name: name the archive {name}, or give its path with "
            "--model) (ERROR_CODE: FILE_NOT_FOUND)",
        ),
        (
            "directory",
            2,
            "{shown}: model path is a directory, not a .tar.gz file (ERROR_CODE: IS_DIRECTORY)",
        ),
        (
            "corrupt",
            2,
            "File is not a valid tar archive: {shown}: not a gzip file (bad magic bytes) "
            "(ERROR_CODE: INVALID_ARCHIVE)",
        ),
    ],
)
def test_a_non_utf8_model_path_gives_its_exit_code_and_message(
    setup: str, code: int, cause: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _StrictStderr(monkeypatch)
    model = _bad_name(tmp_path, b"x\xff.tar.gz")
    shown = f"{tmp_path}/x\\xff.tar.gz"
    if setup == "directory":
        model.mkdir()
    elif setup == "corrupt":
        model.write_bytes(b"not gzip")
    message = tmp_path / "message"
    args = ["--model", str(model), "--output-dir", str(tmp_path / "out")]
    assert main([*args, "--message-file", str(message)]) == code
    written = message.read_text(encoding="utf-8")
    assert written == cause.format(shown=shown, tmp=tmp_path, name="x\\xff.tar.gz")
    err = stderr.text()
    assert err.count("ERROR: ") == 1
    assert f"ERROR: {written}\n" in err
    assert "Traceback" not in err
    assert "Logging error" not in err


def test_a_non_utf8_model_path_that_is_valid_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _StrictStderr(monkeypatch)
    good = write_model(tmp_path, SMALL)
    model = _bad_name(good.parent, b"m\xe9\xff.tgz")
    good.rename(model)
    out = tmp_path / "out"
    args = ["--root", str(tmp_path), "--model", str(model), "--output-dir", str(out)]
    assert main(args) == 0
    assert (out / "model.tar.gz").exists()
    assert "m\\xe9\\xff.tgz" in stderr.text()


def test_a_json_key_with_a_lone_surrogate_is_logged_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _StrictStderr(monkeypatch)
    # JSON may escape a lone surrogate, which no path holds; the warning still prints.
    write_model(tmp_path, SMALL, hyperparameters=b'{"\\ud800": 1}')
    assert main(["--root", str(tmp_path)]) == 0
    err = stderr.text()
    assert "not strings: \\ud800\n" in err


def test_manifest_error_line_shows_the_bytes_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _StrictStderr(monkeypatch)
    assert main(["manifest", str(_bad_name(tmp_path, b"\xfe.tar.gz"))]) == 1
    err = stderr.text()
    assert (
        err
        == f"ERROR: {tmp_path}/\\xfe.tar.gz: model archive not found (ERROR_CODE: FILE_NOT_FOUND)\n"
    )


# --- Finding 9: an output that is one of the inputs --------------------------------------


def _snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        str(p.relative_to(directory)): (p.lstat().st_ino, p.lstat().st_mtime_ns, p.read_bytes())
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "message"
    }


@pytest.mark.parametrize("hyperparameters", [True, False], ids=["add", "fallback"])
@pytest.mark.parametrize("how", ["same-dir", "symlinked-dir", "hard-link", "relative"])
def test_an_output_that_is_the_model_is_refused(
    how: str,
    hyperparameters: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = write_model(tmp_path, SMALL, hyperparameters=b"{}" if hyperparameters else None)
    out = model.parent
    if how == "symlinked-dir":
        out = tmp_path / "link"
        out.symlink_to(model.parent)
    elif how == "hard-link":
        out = tmp_path / "out"
        out.mkdir()
        os.link(model, out / "model.tar.gz")
    elif how == "relative":
        monkeypatch.chdir(tmp_path)
        out = Path("input/model/../model/.")
    before = _snapshot(tmp_path)
    code, message = _run(tmp_path, "--output-dir", str(out))
    assert code == 2
    assert message == (
        f"{out / 'model.tar.gz'}: the output is the model archive {model} itself, which would "
        "be replaced (refused: inputs are never modified); choose another --output-dir "
        "(ERROR_CODE: OUTPUT_IS_INPUT)"
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("how", ["same-path", "symlink"])
def test_an_output_that_is_the_hyperparameters_file_is_refused(how: str, tmp_path: Path) -> None:
    write_model(tmp_path, SMALL, hyperparameters=None)
    out = tmp_path / "out"
    out.mkdir()
    hyper = out / "model.tar.gz"
    hyper.write_bytes(b'{"lr": "0.1"}')
    if how == "symlink":
        hyper = tmp_path / "hyperparameters.json"
        hyper.symlink_to(out / "model.tar.gz")
    before = _snapshot(tmp_path)
    code, message = _run(tmp_path, "--hyperparameters", str(hyper), "--output-dir", str(out))
    assert code == 2
    assert message.startswith(
        f"{out / 'model.tar.gz'}: the output is the hyperparameters file {hyper} itself"
    )
    assert _snapshot(tmp_path) == before


def test_the_library_refuses_it_too(tmp_path: Path) -> None:
    model = write_model(tmp_path, SMALL)
    before = model.read_bytes()
    with pytest.raises(ValidationError, match="inputs are never modified"):
        process_model_with_hyperparameters(model, _config(tmp_path), model.parent)
    assert model.read_bytes() == before


def test_distinct_paths_still_run(tmp_path: Path) -> None:
    # An existing, different output is replaced as before; missing inputs keep exit 1.
    write_model(tmp_path, SMALL)
    _output(tmp_path).parent.mkdir(parents=True)
    _output(tmp_path).write_bytes(b"old")
    assert _run(tmp_path) == (0, "")
    missing = tmp_path / "output" / "model" / "nope.json"
    with pytest.raises(InputNotFoundError):
        process_model_with_hyperparameters(
            tmp_path / "input" / "model" / "model.tar.gz", missing, tmp_path / "output" / "model"
        )
