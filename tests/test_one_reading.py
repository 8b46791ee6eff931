"""Issue 9: an accepted archive means one tree to GNU tar, bsdtar and tarfile.

The splice and the fallback copy pass the input's tar bytes through unchanged, so the
step may only accept archives that every reader of its output reads alike. Each attack
below is a class of bytes on which the readers are known to part ways. For each one the
tests show, with the real readers, that the disagreement is real, and then that the step
refuses it in every mode, writes nothing and leaves the input alone.

The bytes are built by hand, with the differential harness's raw headers, because no
honest writer produces them.
"""

from __future__ import annotations

import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from differential import END, GNU, V7, gnu_long, gz, header, pax, pax_record, record
from dummy_training import main
from readers import READERS, ReaderError, list_archive, unavailable


def member(name: bytes, data: bytes = b"", flag: bytes = b"0", **kwargs: object) -> bytes:
    return record(header(name, flag, len(data), **kwargs), data)  # type: ignore[arg-type]


def extension(flag: bytes, data: bytes, *, size: int) -> bytes:
    """Extension data of which only ``size`` bytes are declared: the rest lies in the padding."""
    if flag in (b"L", b"K"):
        return record(header(b"././@LongLink", flag, size, mode=0, magic=GNU), data)
    return pax(data, flag, size=size)


def archive(*parts: bytes) -> bytes:
    return b"".join(parts) + END


OURS = b'{"learning_rate": "0.1"}\n'
OWN = b'{"learning_rate": "999", "note": "the archive\'s own"}\n'
WEIGHTS = member(b"model/weights.bin", bytes(range(256)) * 3)
AFTER = member(b"model/after.txt", b"read by everyone\n")
# Members that must never reach a disk: a device, a setuid file, a symlink out of the root.
DANGER = (
    header(b"model/dev", b"3", mode=0o666)
    + header(b"model/suid", mode=0o4755)
    + header(b"model/shadow", b"2", linkname=b"/etc/shadow")
)
PWNED = member(b"../pwned.txt", b"pwned\n")
SHADOW = header(b"model/shadow", b"2", linkname=b"/etc/shadow")
N_DANGER = b"%d" % len(DANGER)
N_PWNED = len(PWNED)
MTIME_1 = pax_record(b"mtime", b"1")
COMMENT = pax_record(b"comment", b"hi")


def plus_record(key: bytes, value: bytes) -> bytes:
    """A pax record whose (correct) length carries a '+' sign, which int() accepts."""
    length = len(b"+00 " + key + b"=" + value + b"\n")
    assert 10 <= length < 100
    return pax_record(key, value, length=b"+%d" % length)


@dataclass(frozen=True)
class Attack:
    cls: int
    id: str
    tar: bytes
    # A member name that some readers list and others do not, where the difference is
    # one of names; None where it lies in link targets or in who fails.
    seen: str | None = None

    def __str__(self) -> str:
        return f"{self.cls}-{self.id}"


def attack(cls: int, id: str, *parts: bytes, seen: str | None = None) -> Attack:
    return Attack(cls, id, archive(WEIGHTS, *parts, AFTER), seen)


def sized(name: bytes, size_field: bytes, data: bytes, **kwargs: object) -> bytes:
    """A member whose size field holds ``size_field`` verbatim, followed by ``data``."""
    return header(name, fields={"size": size_field}, **kwargs) + data  # type: ignore[arg-type]


ATTACKS = [
    # 1. Two pax headers in a row: tarfile merges them, GNU tar and bsdtar keep only the
    # last, so a size in the first decides whether DANGER is data or members.
    attack(
        1,
        "size-then-path",
        pax([(b"size", N_DANGER)]),
        pax([(b"path", b"model/data.bin")]),
        header(b"model/data.bin") + DANGER,
        seen="model/shadow",
    ),
    attack(
        1,
        "size-then-mtime",
        pax([(b"size", N_DANGER)]),
        pax([(b"mtime", b"1700000000")]),
        header(b"model/data.bin") + DANGER,
        seen="model/shadow",
    ),
    attack(
        1,
        "size-zero-then-mtime",
        pax([(b"size", b"0")]),
        pax([(b"mtime", b"1700000000")]),
        header(b"model/data.bin", size=len(DANGER)) + DANGER,
        seen="model/shadow",
    ),
    # 2. A file named like a directory: GNU tar and bsdtar make it one and read its
    # data as further headers; tarfile skips the data.
    attack(
        2,
        "header-name-type-0",
        header(b"model/cache/", size=len(SHADOW)) + SHADOW,
        seen="model/shadow",
    ),
    attack(
        2,
        "header-name-type-7",
        header(b"model/cache/", b"7", len(SHADOW)) + SHADOW,
        seen="model/shadow",
    ),
    attack(
        2,
        "pax-path",
        pax([(b"path", b"model/cache/")]),
        header(b"model/cache", size=len(SHADOW)) + SHADOW,
        seen="model/shadow",
    ),
    attack(
        2,
        "gnu-long-name",
        gnu_long(b"L", b"model/" + b"c" * 100 + b"/"),
        header(b"model/cache", size=len(SHADOW)) + SHADOW,
        seen="model/shadow",
    ),
    # 3. Numbers that Python's int() reads and C parsers stop at: tarfile skips PWNED
    # as data, bsdtar reads a size of 0 (or 2) and lists it, GNU tar gives up.
    attack(3, "size-0o", sized(b"model/data.bin", b"0o%o" % N_PWNED, PWNED), seen="../pwned.txt"),
    attack(
        3,
        "size-underscore",
        sized(b"model/data.bin", b"0_%o" % N_PWNED, PWNED),
        seen="../pwned.txt",
    ),
    attack(3, "size-plus", sized(b"model/data.bin", b"+%o" % N_PWNED, PWNED), seen="../pwned.txt"),
    attack(
        3,
        "pax-size-fraction",
        pax([(b"size", b"%d.5" % N_PWNED)]),
        header(b"model/data.bin", size=N_PWNED) + PWNED,
        seen="../pwned.txt",
    ),
    # 4. Two extension headers of one kind: tarfile takes the first, GNU tar the last.
    attack(
        4,
        "L-L",
        gnu_long(b"L", b"model/first.txt"),
        gnu_long(b"L", b"model/second.txt"),
        member(b"model/x.txt", b"x"),
        seen="model/first.txt",
    ),
    attack(
        4,
        "K-K",
        member(b"model/t1", b"1") + member(b"model/t2", b"2"),
        gnu_long(b"K", b"t1"),
        gnu_long(b"K", b"t2"),
        header(b"model/link", b"2", linkname=b"t0"),
    ),
    attack(
        4,
        "x-path-x-path",
        pax([(b"path", b"model/first.txt")]),
        pax([(b"path", b"model/second.txt")]),
        member(b"model/x.txt", b"x"),
        seen="model/first.txt",
    ),
    attack(
        4,
        "L-then-x-path",
        gnu_long(b"L", b"model/first.txt"),
        pax([(b"path", b"model/second.txt")]),
        member(b"model/x.txt", b"x"),
        seen="model/first.txt",
    ),
    attack(
        4,
        "x-linkpath-x-linkpath",
        member(b"model/t1", b"1") + member(b"model/t2", b"2"),
        pax([(b"linkpath", b"t1")]),
        pax([(b"linkpath", b"t2")]),
        header(b"model/link", b"2", linkname=b"t0"),
    ),
    # 5. A prefix field without POSIX magic: tarfile joins it, GNU tar and bsdtar do not.
    attack(
        5,
        "gnu-magic",
        member(b"x.bin", b"x", magic=GNU, fields={"prefix": b"../.."}),
        seen="../../x.bin",
    ),
    attack(
        5,
        "no-magic",
        member(b"x.bin", b"x", magic=V7, fields={"prefix": b"../.."}),
        seen="../../x.bin",
    ),
    attack(
        5,
        "gnu-magic-harmless-looking",
        member(b"x.bin", b"x", magic=GNU, fields={"prefix": b"model/sub"}),
        seen="model/sub/x.bin",
    ),
    # 6. Extension data framed so that readers find different records in it.
    attack(
        6,
        "pax-length-plus",
        pax(plus_record(b"path", b"model/never-applied.txt")),
        member(b"model/x.txt", b"x"),
    ),
    attack(
        6,
        "pax-record-runs-into-padding",
        extension(b"x", pax_record(b"path", b"model/hidden.txt"), size=15),
        member(b"model/x.txt", b"x"),
        seen="model/hidden.txt",
    ),
    attack(
        6,
        "pax-record-in-padding",
        extension(b"x", MTIME_1 + pax_record(b"path", b"model/hidden.txt"), size=len(MTIME_1)),
        member(b"model/x.txt", b"x"),
        seen="model/hidden.txt",
    ),
    attack(
        6,
        "long-name-nul-in-padding",
        extension(b"L", b"model/x.txt.hidden\0", size=len(b"model/x.txt")),
        member(b"model/x", b"x"),
        seen="model/x.txt.hidden",
    ),
    attack(
        6,
        "global-path-in-padding",
        extension(b"g", COMMENT + pax_record(b"path", b"model/hidden.txt"), size=len(COMMENT)),
        pax([(b"mtime", b"1700000000")]),
        member(b"model/x.txt", b"x"),
        seen="model/hidden.txt",
    ),
    # 7. The archive's own root hyperparameters.json, which tarfile finds and a reader
    # reading like the old scanner does not: the step would splice instead of replacing
    # it, and tarfile's getmember() on the output would return the archive's copy.
    attack(
        7,
        "L-L",
        gnu_long(b"L", b"hyperparameters.json"),
        gnu_long(b"L", b"model/notes.json"),
        member(b"model/notes.json", OWN),
        seen="hyperparameters.json",
    ),
    attack(
        7,
        "x-path-x-path",
        pax([(b"path", b"hyperparameters.json")]),
        pax([(b"path", b"model/notes.json")]),
        member(b"model/notes.json", OWN),
        seen="hyperparameters.json",
    ),
    attack(
        7,
        "pax-size-fraction",
        pax([(b"size", b"%d.5" % (512 + len(OWN) + -len(OWN) % 512))]),
        header(b"model/data.bin", size=512 + len(OWN) + -len(OWN) % 512),
        member(b"hyperparameters.json", OWN),
        seen="hyperparameters.json",
    ),
    attack(
        7,
        "long-name-nul-in-padding",
        extension(b"L", b"hyperparameters.json\0", size=len(b"hyperparameters")),
        member(b"model/notes.json", OWN),
        seen="hyperparameters.json",
    ),
    attack(
        7,
        "pax-record-in-padding",
        extension(b"x", MTIME_1 + pax_record(b"path", b"hyperparameters.json"), size=len(MTIME_1)),
        member(b"model/notes.json", OWN),
        seen="hyperparameters.json",
    ),
    # 8. Fields that GNU tar and bsdtar ignore for these members, but tarfile parses:
    # garbage there ends tarfile's archive early, dropping every later member.
    attack(
        8,
        "devmajor-garbage",
        member(b"model/x.txt", b"x", fields={"devmajor": b"zz"}),
        seen="model/after.txt",
    ),
    attack(
        8,
        "devminor-not-octal",
        member(b"model/x.txt", b"x", fields={"devminor": b"9"}),
        seen="model/after.txt",
    ),
    attack(
        8,
        "mtime-garbage-under-pax-mtime",
        pax([(b"mtime", b"1700000000")]),
        member(b"model/x.txt", b"x", fields={"mtime": b"garbage"}),
        seen="model/after.txt",
    ),
    attack(
        8,
        "uid-garbage-under-pax-uid",
        pax([(b"uid", b"1000")]),
        member(b"model/x.txt", b"x", fields={"uid": b"xx"}),
        seen="model/after.txt",
    ),
]
MODES = ("auto", "splice", "repack", "fallback")
# The same scaffolding without an attack: the controls below show that the readers'
# disagreement and the step's refusal come from the attack bytes, not from rawtar.
PLAIN = archive(WEIGHTS, member(b"model/x.txt", b"x"), AFTER)


def write_input(root: Path, tar: bytes) -> Path:
    model = root / "input" / "model" / "model.tar.gz"
    model.parent.mkdir(parents=True)
    model.write_bytes(gz(tar))
    return model


def outcomes(path: Path) -> dict[str, object]:
    """What each reader makes of the archive: its listing, or that it failed."""
    for reader in READERS:
        why = unavailable(reader)
        if why is not None:
            pytest.skip(f"the attack is shown with all readers; {why}")
    seen: dict[str, object] = {}
    for reader in READERS:
        try:
            seen[reader] = list_archive(reader, path)
        except ReaderError:
            seen[reader] = "fails"
    return seen


def lists(outcome: object, name: str) -> bool:
    return outcome != "fails" and any(entry.name == name for entry in outcome)  # type: ignore[attr-defined]


@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_the_readers_disagree(attack: Attack, tmp_path: Path) -> None:
    seen = outcomes(write_input(tmp_path, attack.tar))
    assert len({repr(outcome) for outcome in seen.values()}) > 1, seen
    if attack.seen is not None:
        # One reader lists it; another lists the archive without it, or fails outright.
        assert any(lists(outcome, attack.seen) for outcome in seen.values()), seen
        assert not all(lists(outcome, attack.seen) for outcome in seen.values()), seen
    if attack.cls == 7:
        # tarfile is the reader that getmember() uses, so it must be the one that finds it.
        own = [e for e in seen["tarfile"] if e.name == "hyperparameters.json"]  # type: ignore[attr-defined]
        assert [e.size for e in own] == [len(OWN)], seen


def test_the_readers_agree_without_an_attack(tmp_path: Path) -> None:
    seen = outcomes(write_input(tmp_path, PLAIN))
    assert "fails" not in seen.values()
    assert len({repr(outcome) for outcome in seen.values()}) == 1, seen


def run(root: Path, mode: str) -> tuple[int, Path]:
    message = root / "message"
    if mode == "fallback":
        code = main(["--root", str(root), "--message-file", str(message), "-q"])
        return code, root / "output" / "model"
    hyperparameters = root / "hyperparameters.json"
    hyperparameters.write_bytes(OURS)
    argv = ["--model", str(root / "input" / "model" / "model.tar.gz")]
    argv += ["--hyperparameters", str(hyperparameters), "--output-dir", str(root / "out")]
    argv += ["--strategy", mode, "--message-file", str(message), "-q"]
    return main(argv), root / "out"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("attack", ATTACKS, ids=str)
def test_the_step_refuses(attack: Attack, mode: str, tmp_path: Path) -> None:
    model = write_input(tmp_path, attack.tar)
    before = model.read_bytes()
    code, out_dir = run(tmp_path, mode)
    written = tmp_path / "message"
    message = written.read_text(encoding="utf-8") if written.exists() else ""
    assert code == 2, message
    assert "REFUSED_DIALECT" in message or "UNSAFE_MEMBER" in message, message
    assert not out_dir.exists() or not os.listdir(out_dir)
    assert model.read_bytes() == before
    # Nothing else was left behind either (the repack's work directory, say).
    left = {"input", "message", "hyperparameters.json", "out", "output"}
    assert set(os.listdir(tmp_path)) <= left


@pytest.mark.parametrize("mode", MODES)
def test_the_step_accepts_the_scaffolding_without_an_attack(mode: str, tmp_path: Path) -> None:
    write_input(tmp_path, PLAIN)
    code, out_dir = run(tmp_path, mode)
    assert code == 0
    assert os.listdir(out_dir) == ["model.tar.gz"]


SHADOWING = [a for a in ATTACKS if a.cls == 7]


@pytest.mark.parametrize("mode", ("auto", "splice", "repack"))
@pytest.mark.parametrize("attack", SHADOWING, ids=str)
def test_the_output_never_yields_the_archives_own_hyperparameters(
    attack: Attack, mode: str, tmp_path: Path
) -> None:
    write_input(tmp_path, attack.tar)
    code, out_dir = run(tmp_path, mode)
    out = out_dir / "model.tar.gz"
    if out.exists():
        with tarfile.open(out, "r:gz") as tf:
            got = tf.extractfile(tf.getmember("hyperparameters.json")).read()  # type: ignore[union-attr]
        assert got == OURS, "tarfile reads the archive's own hyperparameters.json"
    assert code == 2
    assert not out.exists()
