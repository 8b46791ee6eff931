"""Valid archives written by real tools pass: the scan, every strategy, and every reader.

The accepted dialect (DIALECT.md) is a subset of tar. These archives come from the
writers people actually use (GNU tar, bsdtar, Python's tarfile, gzip, pigz) in each of
their formats, so a rule that is too strict shows up here as a refused real archive.
Each one must be accepted by ``scan``, listed by GNU tar, bsdtar and tarfile exactly as
the scan's manifest, spliced into an output that those readers list as
``hyperparameters.json`` plus the same entries, repacked, and copied in fallback mode.
"""

from __future__ import annotations

import base64
import gzip
import io
import os
import random
import re
import shutil
import stat
import struct
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from dummy_training import Manifest, main, scan
from readers import READERS, Entry, ReaderError, list_archive, manifest_entries, unavailable

MTIME = 1_700_000_000
HYPERPARAMETERS = b'{"epochs": "3", "lr": "0.001"}\n'
ADDED = Entry("hyperparameters.json", "file", len(HYPERPARAMETERS), "", 0o644)

# Names that need more than ustar's 100-byte name field but fit its 155-byte prefix.
LONG_DIR = "model/" + "d" * 60
LONG_FILE = LONG_DIR + "/" + "f" * 80 + ".bin"
# Names and link targets that no ustar header can hold (GNU L/K or pax path/linkpath).
HUGE_NAME = "model/" + "n" * 120 + ".txt"
LONG_TARGET = "../" + LONG_FILE[len("model/") :]
# Before 1970: GNU format writes base-256 with a leading 0xff, pax writes mtime=-N.
OLD = {"model/old-1960.txt": -302_486_400, "model/old-minus-one.txt": -1}
# Names that are not UTF-8, as a latin-1 system writes them, next to a UTF-8 one.
LEGACY = (b"model/caf\xe9.txt", b"model/d\xfcr/f.txt", "model/na\u00efve.txt".encode())
BIG = 4 << 20  # pigz starts a second thread and an independent block every 128 KiB
XATTRS = {"user.comment": b"trained on 2024-05-01", "user.mime_type": b"application/x-npy"}
# Binary values as com.apple.provenance or security.capability hold them: NULs, high bytes.
# GNU tar and libarchive write them raw into SCHILY.xattr.* records.
BINARY_XATTRS = {"user.checksum": b"\x01\x02\x00\xa1\xff\x00\x10"}


def payload(size: int, seed: int) -> bytes:
    """Incompressible but reproducible bytes (``random.randbytes`` is 3.9+)."""
    return random.Random(seed).getrandbits(8 * size).to_bytes(size, "little")


def make_tree(root: Path, features: frozenset[str]) -> None:
    """``root/model`` with every member kind the step keeps, plus the named features."""
    model = root / "model"
    (model / "sub").mkdir(parents=True)
    (model / "weights.bin").write_bytes(payload(3000, 1))
    (model / "config.json").write_bytes(b'{"hidden": 8}\n')
    (model / "empty.txt").write_bytes(b"")
    (model / "run.sh").write_bytes(b"#!/bin/sh\n")
    (model / "run.sh").chmod(0o755)
    os.symlink("../weights.bin", model / "sub" / "link")
    os.link(model / "weights.bin", model / "hard.bin")
    if "long" in features:
        (root / LONG_FILE).parent.mkdir()
        (root / LONG_FILE).write_bytes(b"long\n")
    if "huge" in features:
        (root / HUGE_NAME).write_bytes(b"huge\n")
        os.symlink(LONG_TARGET, model / "sub" / "longlink")
    if "legacy" in features:
        for name in LEGACY:
            path = os.fsencode(root) + b"/" + name
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(b"legacy\n")
    if "big" in features:
        (model / "big.bin").write_bytes(payload(BIG, 2))
    if features & {"xattr", "xattr-binary"}:
        binary = BINARY_XATTRS if "xattr-binary" in features else {}
        for key, value in {**XATTRS, **binary}.items():
            os.setxattr(model / "weights.bin", key, value)
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):  # children first
        os.utime(path, (MTIME, MTIME), follow_symlinks=False)
    if "old" in features:
        for name, when in OLD.items():
            (root / name).write_bytes(b"old\n")
            os.utime(root / name, (when, when))
        os.utime(model, (MTIME, MTIME))


def tree_names(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def normalized(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


def run_tool(argv: list[str], tolerated: str = "", **kwargs: object) -> bytes:
    """Run a writer; a warning fails, because writers drop what they cannot store.

    ``tolerated`` is a warning that says how something was stored, not that it was not.
    """
    done = subprocess.run(argv, capture_output=True, **kwargs)  # type: ignore[call-overload]
    stderr = re.sub(tolerated.encode(), b"", done.stderr) if tolerated else done.stderr
    assert done.returncode == 0 and not stderr.strip(), (argv, done.returncode, done.stderr)
    return done.stdout  # type: ignore[no-any-return]


def gnutar(fmt: str, compress: str, *extra: str) -> Callable[[Path, Path], None]:
    def write(src: Path, out: Path) -> None:
        argv = ["tar", f"--format={fmt}", *extra, "-C", str(src)]
        if compress == "czf":
            run_tool([*argv, "-czf", str(out), "model"])
        else:
            tar = run_tool([*argv, "-cf", "-", "model"])
            out.write_bytes(run_tool([*compress.split(), "-c"], input=tar))

    return write


def bsdtar(fmt: str, *extra: str, tolerated: str = "") -> Callable[[Path, Path], None]:
    def write(src: Path, out: Path) -> None:
        argv = ["bsdtar", *(["--format", fmt] if fmt else []), *extra]
        argv += ["-czf", str(out), "-C", str(src), "model"]
        run_tool(argv, tolerated)

    return write


Filter = Optional[Callable[[tarfile.TarInfo], tarfile.TarInfo]]


def pytarfile(fmt: int, extra: Filter = None) -> Callable[[Path, Path], None]:
    def write(src: Path, out: Path) -> None:
        with tarfile.open(out, "w:gz", format=fmt) as tf:
            tf.add(src / "model", arcname="model", filter=extra)

    return write


def xattr_records(info: tarfile.TarInfo) -> tarfile.TarInfo:
    """The records bsdtar writes for text xattrs, for the tarfile-built archive."""
    if info.isfile():
        for key, value in XATTRS.items():
            info.pax_headers["LIBARCHIVE.xattr." + key] = base64.b64encode(value).decode()
            info.pax_headers["SCHILY.xattr." + key] = value.decode("ascii")
    return info


def apple_double(finder_info: bytes) -> bytes:
    """An AppleDouble file holding one Finder-info entry, as copyfile(3) writes ``._x``."""
    head = struct.pack(">II16sH", 0x00051607, 0x00020000, b"Mac OS X        ", 1)
    entry_offset = len(head) + 12
    return head + struct.pack(">III", 9, entry_offset, len(finder_info)) + finder_info


def sidecars(src: Path) -> dict[Path, str]:
    """The AppleDouble member macOS writes for each regular file (not for hard links)."""
    out: dict[Path, str] = {}
    inodes = set()
    for path in sorted((src / "model").rglob("*")):
        st = path.lstat()
        if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) not in inodes:
            inodes.add((st.st_dev, st.st_ino))
            out[path] = f"{path.parent.relative_to(src).as_posix()}/._{path.name}"
    return out


def macos_shaped(src: Path, out: Path) -> None:
    """What macOS's tar (bsdtar) writes, rebuilt with tarfile: there is no macOS here.

    Before each file an AppleDouble ``._name`` member carries its Finder info, and the
    file's own pax header carries its xattrs twice: ``LIBARCHIVE.xattr.*`` base64
    encoded and ``SCHILY.xattr.*`` raw. The raw provenance value here stays below 0x80,
    since tarfile would add ``hdrcharset=BINARY`` for other bytes and macOS does not.
    """
    quarantine = "0083;6650a1b2;Safari;6C1F0B55-6A0E-4B62-9E0E-6B8E3B7A2C11"
    provenance = "\x01\x02\x00\x11\x22\x33\x44\x55\x66\x77\x08"
    double = apple_double(bytes(32))
    sides = sidecars(src)
    with tarfile.open(out, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for path in [src / "model", *sorted((src / "model").rglob("*"))]:
            info = tf.gettarinfo(str(path), arcname=path.relative_to(src).as_posix())
            info.uid, info.gid, info.uname, info.gname = 501, 20, "ml", "staff"
            if path not in sides:
                tf.addfile(info)
                continue
            side = tarfile.TarInfo(sides[path])
            side.size, side.mtime, side.mode = len(double), info.mtime, 0o644
            tf.addfile(side, io.BytesIO(double))
            for key, value in (
                ("com.apple.quarantine", quarantine),
                ("com.apple.provenance", provenance),
            ):
                raw = value.encode("latin-1")
                info.pax_headers["LIBARCHIVE.xattr." + key] = base64.b64encode(raw).decode()
                info.pax_headers["SCHILY.xattr." + key] = value
            with open(path, "rb") as f:
                tf.addfile(info, f)


@dataclass(frozen=True)
class Writer:
    id: str
    write: Callable[[Path, Path], None]
    features: frozenset[str] = frozenset()
    tools: tuple[str, ...] = ()
    # Prefixes of pax keys that must be in the archive, so that it shows what it claims.
    pax_keys: tuple[str, ...] = ()


FULL = frozenset({"long", "huge", "old"})
USTAR = frozenset({"long"})  # ustar holds no negative time and no link target over 100
V7 = frozenset()  # v7 has neither a prefix nor negative times


def _writers() -> list[Writer]:
    out: list[Writer] = []
    gnu_formats = {"gnu": FULL, "oldgnu": FULL, "pax": FULL, "posix": FULL, "ustar": USTAR}
    gnu_formats["v7"] = V7
    for fmt, features in gnu_formats.items():
        out.append(Writer(f"gnutar-{fmt}+gzip", gnutar(fmt, "gzip -n"), features, ("tar", "gzip")))
        out.append(Writer(f"gnutar-{fmt}-czf", gnutar(fmt, "czf"), features, ("tar", "gzip")))
    bsd_formats = {"ustar": USTAR, "pax": FULL, "paxr": FULL, "gnutar": FULL, "v7": V7}
    for fmt, features in bsd_formats.items():
        out.append(Writer(f"bsdtar-{fmt}", bsdtar(fmt), features, ("bsdtar",)))
    # No --format: what most people get (restricted pax, the same as paxr today).
    out.append(Writer("bsdtar-default", bsdtar(""), FULL, ("bsdtar",)))
    for name, fmt, features in (
        ("ustar", tarfile.USTAR_FORMAT, USTAR),
        ("gnu", tarfile.GNU_FORMAT, FULL),
        ("pax", tarfile.PAX_FORMAT, FULL),
    ):
        out.append(Writer(f"tarfile-{name}", pytarfile(fmt), features))
    out += [
        Writer("pigz", gnutar("gnu", "pigz"), FULL, ("tar", "pigz")),
        Writer("pigz-p2-big", gnutar("pax", "pigz -p 2"), FULL | {"big"}, ("tar", "pigz")),
        Writer(
            "pigz-independent-big",
            gnutar("gnu", "pigz -p 2 --independent"),
            FULL | {"big"},
            ("tar", "pigz"),
        ),
        Writer(
            "gnutar-pax-xattrs",
            gnutar("pax", "czf", "--xattrs", "--xattrs-include=user.*"),
            FULL | {"xattr"},
            ("tar", "gzip"),
            ("SCHILY.xattr.user.",),
        ),
        Writer(
            "gnutar-pax-xattrs-binary",
            gnutar("pax", "czf", "--xattrs", "--xattrs-include=user.*"),
            FULL | {"xattr-binary"},
            ("tar", "gzip"),
            ("SCHILY.xattr.user.checksum",),
        ),
        Writer(
            "bsdtar-pax-xattrs",
            bsdtar("pax", "--xattrs"),
            FULL | {"xattr"},
            ("bsdtar",),
            ("LIBARCHIVE.xattr.user.", "SCHILY.xattr.user."),
        ),
        Writer(
            "bsdtar-pax-xattrs-binary",
            bsdtar("pax", "--xattrs"),
            FULL | {"xattr-binary"},
            ("bsdtar",),
            ("LIBARCHIVE.xattr.user.checksum", "SCHILY.xattr.user.checksum"),
        ),
        Writer(
            "tarfile-pax-xattrs",
            pytarfile(tarfile.PAX_FORMAT, xattr_records),
            FULL,
            (),
            ("LIBARCHIVE.xattr.user.", "SCHILY.xattr.user."),
        ),
        Writer(
            "macos-shaped",
            macos_shaped,
            USTAR,
            (),
            ("LIBARCHIVE.xattr.com.apple.", "SCHILY.xattr.com.apple.quarantine"),
        ),
    ]
    legacy = frozenset({"legacy"})
    # (GNU tar's pax format is the exception: see the test at the end.)
    for fmt in ("gnu", "ustar", "v7"):
        out.append(Writer(f"gnutar-{fmt}-latin1", gnutar(fmt, "czf"), legacy, ("tar", "gzip")))
    for fmt in ("ustar", "gnutar"):
        out.append(Writer(f"bsdtar-{fmt}-latin1", bsdtar(fmt), legacy, ("bsdtar",)))
    # bsdtar warns that it stores such a name as raw bytes under hdrcharset=BINARY.
    raw = bsdtar("pax", tolerated=r": Can't translate pathname '[^']*' to UTF-8")
    out.append(Writer("bsdtar-pax-latin1", raw, legacy, ("bsdtar",), ("hdrcharset",)))
    out.append(Writer("tarfile-gnu-latin1", pytarfile(tarfile.GNU_FORMAT), legacy))
    out.append(
        Writer("tarfile-pax-latin1", pytarfile(tarfile.PAX_FORMAT), legacy, (), ("hdrcharset",))
    )
    return out


WRITERS = _writers()
MODES = ("auto", "splice", "repack", "fallback")


@dataclass
class Built:
    root: Path
    src: Path
    archive: Path
    expected: set[str]
    manifest: Manifest | None = None


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Writer], Built]:
    """Each writer's archive, built once for all the tests that read it."""
    cache: dict[str, Built] = {}

    def get(writer: Writer) -> Built:
        for tool in writer.tools:
            if shutil.which(tool) is None:
                pytest.skip(f"{tool} is not installed (CI installs it: .ci/run)")
        if writer.id not in cache:
            root = tmp_path_factory.mktemp(writer.id)
            src = root / "src"
            try:
                make_tree(src, writer.features)
            except OSError as exc:  # only setxattr can fail on a sane file system
                pytest.skip(f"the file system refuses user xattrs: {exc}")
            archive = root / "model.tar.gz"
            expected = tree_names(src)
            if writer.write is macos_shaped:
                expected |= set(sidecars(src).values())
            writer.write(src, archive)
            cache[writer.id] = Built(root, src, archive, expected)
        return cache[writer.id]

    return get


def scanned(built: Built) -> Manifest:
    if built.manifest is None:
        built.manifest = scan(built.archive)
    return built.manifest


def pax_keys(archive: Path) -> set[str]:
    with tarfile.open(archive, "r:gz") as tf:
        return {key for member in tf for key in member.pax_headers}


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.id)
def test_the_scan_accepts_the_whole_tree(writer: Writer, build: Callable[[Writer], Built]) -> None:
    built = build(writer)
    manifest = scanned(built)
    # The writer stored every path of the tree (none were dropped) and nothing else.
    assert {normalized(m.name) for m in manifest.members} == built.expected
    kinds = {normalized(m.name): m.kind for m in manifest.members}
    assert kinds["model/sub"] == "dir"
    assert kinds["model/sub/link"] == "symlink"
    assert {kinds["model/hard.bin"], kinds["model/weights.bin"]} == {"file", "hardlink"}
    if "old" in writer.features:
        mtimes = {normalized(m.name): m.mtime for m in manifest.members}
        if writer.id != "bsdtar-gnutar":  # libarchive's GNU writer clamps to 0
            assert {name: mtimes[name] for name in OLD} == OLD
    keys = pax_keys(built.archive)
    for prefix in writer.pax_keys:
        assert any(key.startswith(prefix) for key in keys), (prefix, sorted(keys))


def listing(reader: str, path: Path) -> tuple[Entry, ...]:
    why = unavailable(reader)
    if why is not None:
        pytest.skip(why)
    return list_archive(reader, path)


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.id)
def test_every_reader_lists_the_manifest(
    writer: Writer, reader: str, build: Callable[[Writer], Built]
) -> None:
    built = build(writer)
    assert listing(reader, built.archive) == manifest_entries(scanned(built).members)


def run_step(built: Built, mode: str, base: Path) -> tuple[int, Path]:
    if mode == "fallback":
        root = base / "root"
        model = root / "input" / "model" / "model.tar.gz"
        model.parent.mkdir(parents=True)
        shutil.copyfile(built.archive, model)
        code = main(["--root", str(root), "-q"])
        return code, root / "output" / "model" / "model.tar.gz"
    hyperparameters = base / "hyperparameters.json"
    hyperparameters.write_bytes(HYPERPARAMETERS)
    argv = ["--model", str(built.archive), "--hyperparameters", str(hyperparameters)]
    argv += ["--output-dir", str(base / "out"), "--work-dir", str(base), "--strategy", mode]
    return main([*argv, "-q"]), base / "out" / "model.tar.gz"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.id)
def test_the_step_keeps_the_tree(
    writer: Writer, mode: str, build: Callable[[Writer], Built], tmp_path: Path
) -> None:
    built = build(writer)
    before = built.archive.read_bytes()
    code, out = run_step(built, mode, tmp_path)
    assert code == 0
    assert built.archive.read_bytes() == before
    if mode == "fallback":
        assert out.read_bytes() == before
        return
    entries = manifest_entries(scanned(built).members)
    with tarfile.open(out, "r:gz") as tf:
        added = tf.extractfile(tf.getmember(ADDED.name))
        assert added is not None and added.read() == HYPERPARAMETERS
        names = {normalized(m.name) for m in tf}
    if mode == "repack":
        # Sorted, renamed without './' and re-moded by the data filter: only the tree stays.
        assert names == built.expected | {ADDED.name}
        return
    for reader in READERS:
        if unavailable(reader) is None:
            assert list_archive(reader, out) == (ADDED, *entries), reader


def test_gnu_tar_pax_names_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    """GNU tar 1.34 writes such a name raw into a pax ``path``, without hdrcharset=BINARY.

    bsdtar and tarfile mark it BINARY; libarchive reading GNU tar's record fails (exit
    1, "can't be converted from UTF-8"), so the readers disagree and the dialect refuses
    it. Should a GNU tar start to mark it, this test fails and the writer joins the rest.
    """
    for tool in ("tar", "gzip", "bsdtar"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (CI installs it: .ci/run)")
    make_tree(tmp_path / "src", frozenset({"legacy"}))
    archive = tmp_path / "input" / "model" / "model.tar.gz"
    archive.parent.mkdir(parents=True)
    gnutar("pax", "czf")(tmp_path / "src", archive)
    stream = gzip.decompress(archive.read_bytes())
    assert b" path=model/caf\xe9.txt\n" in stream
    assert b"hdrcharset" not in stream
    with pytest.raises(ReaderError, match="converted from UTF-8"):
        list_archive("bsdtar", archive)
    assert list_archive("gnutar", archive) == list_archive("tarfile", archive)
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message), "-q"]) == 2
    assert "(ERROR_CODE: REFUSED_DIALECT)" in message.read_text(encoding="utf-8")
    assert not (tmp_path / "output" / "model" / "model.tar.gz").exists()
