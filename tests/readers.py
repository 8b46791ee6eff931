"""List a tar.gz the way each real reader of the step's output sees it.

Every reader's view is normalized to the same ``Entry`` so that listings compare with
``==``: names are the stored bytes (decoded UTF-8 with surrogateescape) without
trailing slashes, kinds use the scanner's vocabulary, sizes count only for regular
files, link targets only for links, modes keep the permission bits.

- ``gnutar``: GNU tar's verbose listing of the decompressed stream, C-quoted.
- ``bsdtar``: bsdtar copies the archive to a GNU-format tar on stdout, which is parsed
  here; its ``-tv`` listing cannot be split exactly (" -> " in names, raw user names).
- ``tarfile``: Python's ``tarfile.open(path, "r:gz")`` in a child interpreter, any
  Python; ``list_many`` lists many archives in one child.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence, Tuple

READERS: tuple[str, ...] = ("gnutar", "bsdtar", "tarfile")

# Escapes are in terms of bytes; a UTF-8 locale would let GNU tar print raw
# multibyte text, while C makes it escape every byte above 0x7f the same way.
GNUTAR_ENV = {"LC_ALL": "C", "TZ": "UTC"}
# libarchive converts pax (UTF-8) names to the locale's charset; in the C locale that
# turns every non-ASCII character into '?', which no real user would see.
BSDTAR_ENV = {"LC_ALL": "C.UTF-8", "TZ": "UTC"}
TIMEOUT = 60

KIND_OF_GNU_LETTER = {
    "-": "file",
    "C": "file",
    "d": "dir",
    "l": "symlink",
    "h": "hardlink",
    "c": "chardev",
    "b": "blockdev",
    "p": "fifo",
}
KIND_OF_TYPEFLAG = {
    b"0": "file",
    b"\0": "file",
    b"7": "file",
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "chardev",
    b"4": "blockdev",
    b"5": "dir",
    b"6": "fifo",
}


class ReaderError(Exception):
    """A reader failed (non-zero exit, or output it cannot have meant)."""

    def __init__(self, reader: str, message: str, stderr: str = "") -> None:
        super().__init__(f"{reader}: {message}" + (f"\n{stderr.strip()}" if stderr else ""))
        self.reader = reader
        self.stderr = stderr


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    size: int
    linkname: str
    mode: int


Listing = Tuple[Entry, ...]


def entry(name: bytes | str, kind: str, size: int, linkname: bytes | str, mode: int) -> Entry:
    """The normalized entry; the one place that applies the rules in the module doc."""
    if isinstance(name, bytes):
        name = name.decode("utf-8", "surrogateescape")
    if isinstance(linkname, bytes):
        linkname = linkname.decode("utf-8", "surrogateescape")
    return Entry(
        name=name.rstrip("/"),
        kind=kind,
        size=size if kind == "file" else 0,
        linkname=linkname if kind in ("symlink", "hardlink") else "",
        mode=mode & 0o7777,
    )


def manifest_entries(members: Iterable[object]) -> Listing:
    """The scanner's manifest (``Member`` records) as entries."""
    return tuple(
        entry(m.name, m.kind, m.size, m.linkname, m.mode)  # type: ignore[attr-defined]
        for m in members
    )


def unavailable(reader: str) -> str | None:
    """None when ``reader`` can run here, else why not (for ``pytest.skip``)."""
    if reader == "tarfile":
        return None
    if reader not in READERS:
        return f"unknown reader {reader!r}"
    exe = "tar" if reader == "gnutar" else "bsdtar"
    version = _version(exe)
    if version is None:
        return f"{exe} is not installed (CI installs it: .ci/run)"
    if reader == "gnutar" and "GNU tar" not in version:
        return f"`tar` is not GNU tar: {version}"
    if reader == "bsdtar" and "libarchive" not in version:
        return f"`bsdtar` is not libarchive's: {version}"
    return None


@lru_cache(maxsize=None)
def _version(exe: str) -> str | None:
    if shutil.which(exe) is None:
        return None
    try:
        done = subprocess.run([exe, "--version"], capture_output=True, timeout=TIMEOUT)
    except OSError:
        return None
    return done.stdout.decode("utf-8", "replace").splitlines()[0] if done.stdout else ""


def list_archive(reader: str, path: Path, python: str | None = None) -> Listing:
    """The members ``reader`` sees in the tar.gz at ``path``; ReaderError if it fails."""
    if reader == "gnutar":
        return _gnutar(path)
    if reader == "bsdtar":
        return _bsdtar(path)
    if reader == "tarfile":
        result = _tarfile([path], python)[0]
        if isinstance(result, ReaderError):
            raise result
        return result
    raise ValueError(f"unknown reader {reader!r}")


def list_many(
    reader: str, paths: Sequence[Path], python: str | None = None
) -> list[Listing | ReaderError]:
    """``list_archive`` over many archives; ``tarfile`` reads them all in one child."""
    if reader == "tarfile":
        return _tarfile(paths, python)
    results: list[Listing | ReaderError] = []
    for path in paths:
        try:
            results.append(list_archive(reader, path))
        except ReaderError as exc:
            results.append(exc)
    return results


def _run(reader: str, argv: list[str], env: dict[str, str], stdin: bytes | None) -> bytes:
    done = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        env={**os.environ, **env},
        timeout=TIMEOUT,
        check=False,
    )
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise ReaderError(reader, f"exit status {done.returncode}", stderr)
    return done.stdout


def _decompressed(reader: str, path: Path) -> bytes:
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError) as exc:
        raise ReaderError(reader, f"cannot decompress: {exc}") from None


# --- GNU tar -----------------------------------------------------------------------

C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("t"): 9,
    ord("n"): 10,
    ord("v"): 11,
    ord("f"): 12,
    ord("r"): 13,
    ord("e"): 27,
    ord("\\"): ord("\\"),
    ord('"'): ord('"'),
    ord("'"): ord("'"),
    ord("?"): ord("?"),
}


def c_unquote(line: bytes, start: int) -> tuple[bytes, int]:
    """The C-quoted string whose opening quote is at ``start``, and the index after it."""
    if line[start : start + 1] != b'"':
        raise ValueError(f"no quoted string at {start} in {line!r}")
    out = bytearray()
    i = start + 1
    while i < len(line):
        c = line[i]
        if c == ord('"'):
            return bytes(out), i + 1
        if c != ord("\\"):
            out.append(c)
            i += 1
            continue
        nxt = line[i + 1 : i + 2]
        if nxt.isdigit() and b"0" <= nxt <= b"7":
            digits = line[i + 1 : i + 4]
            out.append(int(digits, 8))
            i += 4
        elif nxt and nxt[0] in C_ESCAPES:
            out.append(C_ESCAPES[nxt[0]])
            i += 2
        else:
            raise ValueError(f"unknown escape at {i} in {line!r}")
    raise ValueError(f"unterminated string in {line!r}")


def parse_mode(text: str) -> int:
    """Permission bits from an ``ls``-style mode string such as ``rwsr-xr-T``."""
    if len(text) != 9:
        raise ValueError(f"mode string {text!r}")
    mode = 0
    for index, char in enumerate(text):
        bit = 1 << (8 - index)
        if char in "rwxst":
            mode |= bit
        elif char not in "-ST":
            raise ValueError(f"mode string {text!r}")
    specials = {2: 0o4000, 5: 0o2000, 8: 0o1000}
    for index, special in specials.items():
        if text[index] in "sStT":
            mode |= special
    return mode


def parse_gnutar_line(line: bytes) -> Entry:
    """One line of ``tar -tv --numeric-owner --quoting-style=c`` output."""
    quote = line.find(b'"')
    if quote < 0:
        raise ValueError(f"no name in {line!r}")
    fields = line[:quote].decode("ascii").split()
    mode_string, size_field = fields[0], fields[2]
    kind = KIND_OF_GNU_LETTER.get(mode_string[0], f"other:{mode_string[0]}")
    name, end = c_unquote(line, quote)
    linkname = b""
    rest = line[end:]
    for marker in (b" -> ", b" link to "):
        if rest.startswith(marker + b'"'):
            linkname, end = c_unquote(line, end + len(marker))
            rest = line[end:]
    if rest:
        raise ValueError(f"trailing text {rest!r} in {line!r}")
    size = int(size_field) if "," not in size_field else 0
    return entry(name, kind, size, linkname, parse_mode(mode_string[1:]))


def _gnutar(path: Path) -> Listing:
    data = _decompressed("gnutar", path)
    argv = ["tar", "--list", "--verbose", "--numeric-owner", "--quoting-style=c", "-f", "-"]
    out = _run("gnutar", argv, GNUTAR_ENV, data)
    try:
        return tuple(parse_gnutar_line(line) for line in out.split(b"\n") if line)
    except (ValueError, IndexError, UnicodeDecodeError) as exc:
        raise ReaderError("gnutar", f"unparsable listing: {exc}") from None


# --- bsdtar ------------------------------------------------------------------------


def parse_gnu_archive(data: bytes) -> Listing:
    """Members of a well-formed GNU-format tar as libarchive writes it (ustar + L/K)."""
    entries = []
    pos = 0
    long_name: bytes | None = None
    long_link: bytes | None = None
    while pos + 512 <= len(data):
        block = data[pos : pos + 512]
        if not block.strip(b"\0"):
            break
        flag = block[156:157]
        size = _gnu_number(block[124:136])
        body = data[pos + 512 : pos + 512 + size]
        pos += 512 + -(-size // 512) * 512
        if flag == b"L":
            long_name = body.split(b"\0", 1)[0]
            continue
        if flag == b"K":
            long_link = body.split(b"\0", 1)[0]
            continue
        name = long_name if long_name is not None else block[:100].split(b"\0", 1)[0]
        link = long_link if long_link is not None else block[157:257].split(b"\0", 1)[0]
        kind = KIND_OF_TYPEFLAG.get(flag, f"other:{flag.decode('latin-1')}")
        entries.append(entry(name, kind, size, link, _gnu_number(block[100:108])))
        long_name = long_link = None
    return tuple(entries)


def _gnu_number(field: bytes) -> int:
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    digits = field.split(b"\0", 1)[0].strip(b" ")
    return int(digits, 8) if digits else 0


def _bsdtar(path: Path) -> Listing:
    # -P: copy names as read (no stripping of '/' or '..'); the copy is a faithful
    # dump of libarchive's entries, which is what `bsdtar -t` and `-x` act on.
    argv = ["bsdtar", "-c", "-f", "-", "--format=gnutar", "-P", f"@{path}"]
    done = subprocess.run(
        argv, capture_output=True, env={**os.environ, **BSDTAR_ENV}, timeout=TIMEOUT
    )
    stderr = done.stderr.decode("utf-8", "replace")
    # bsdtar drops an entry it cannot copy with only a warning; a warning therefore
    # means the copy may not be the whole archive.
    if done.returncode != 0 or stderr:
        raise ReaderError("bsdtar", f"exit status {done.returncode}", stderr)
    try:
        return parse_gnu_archive(done.stdout)
    except ValueError as exc:
        raise ReaderError("bsdtar", f"unparsable copy: {exc}") from None


# --- tarfile -----------------------------------------------------------------------

# Runs in the reader's interpreter (3.8 and later), one archive per argument, one JSON
# line per archive. Names travel as hex of their bytes, so nothing is lost on the way.
TARFILE_SCRIPT = r"""
import json, sys, tarfile
KINDS = {b"0": "file", b"\0": "file", b"7": "file", b"1": "hardlink", b"2": "symlink",
         b"3": "chardev", b"4": "blockdev", b"5": "dir", b"6": "fifo"}
def raw(text):
    return text.encode("utf-8", "surrogateescape").hex()
for path in sys.argv[1:]:
    try:
        members = []
        with tarfile.open(path, "r:gz") as tf:
            for m in tf:
                kind = KINDS.get(m.type, "other:" + m.type.decode("latin-1"))
                members.append([raw(m.name), kind, m.size, raw(m.linkname), m.mode])
        line = {"members": members}
    except Exception as exc:
        line = {"error": "%s: %s" % (type(exc).__name__, exc)}
    print(json.dumps(line), flush=True)
"""


@lru_cache(maxsize=None)
def interpreter(python: str) -> str:
    """The real executable behind ``python`` (pyenv shims cost 0.2 s per start)."""
    done = subprocess.run(
        [python, "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise ReaderError("tarfile", f"{python} does not run", done.stderr.decode())
    return done.stdout.decode().strip()


def _tarfile(paths: Sequence[Path], python: str | None) -> list[Listing | ReaderError]:
    exe = sys.executable if python is None else interpreter(python)
    argv = [exe, "-I", "-c", TARFILE_SCRIPT, *map(str, paths)]
    out = _run("tarfile", argv, {"LC_ALL": "C.UTF-8"}, None)
    lines = out.decode().splitlines()
    if len(lines) != len(paths):
        raise ReaderError("tarfile", f"{len(lines)} results for {len(paths)} archives")
    results: list[Listing | ReaderError] = []
    for line in lines:
        result = json.loads(line)
        if "error" in result:
            results.append(ReaderError("tarfile", result["error"]))
            continue
        results.append(
            tuple(
                entry(bytes.fromhex(n), kind, size, bytes.fromhex(link), mode)
                for n, kind, size, link, mode in result["members"]
            )
        )
    return results
