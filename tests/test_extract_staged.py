"""Extraction is all or nothing, keeps exact times and drops setgid and sticky bits."""

from __future__ import annotations

import errno
import gzip
import logging
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dummy_training import extract_tarfile, main, repack, scan
from dummy_training.errors import ProcessingError, ValidationError
from dummy_training.job import MTIME_MAX
from dummy_training.tarstream import Limits
from dummy_training.tarwrite import end_of_archive, header, padding

BASE256_MAX = 2**63 - 1
BASE256_MIN = -(2**63)
# The largest pax time the dialect takes: tarfile reads pax times as floats.
PAX_MAX = 2**53 - 1


def _file(name: str, data: bytes = b"x", mtime: int = 1_700_000_000, mode: int = 0o644) -> bytes:
    return header("file", name, size=len(data), mode=mode, mtime=mtime) + data + padding(len(data))


def _write(path: Path, tar: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(tar + end_of_archive(), mtime=0))
    return path


def listing(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``root`` (directories and links too): kind and mode, time, size."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        # A directory's time moves when the staging beside it comes and goes.
        mtime = 0 if stat.S_ISDIR(st.st_mode) else st.st_mtime_ns
        found[str(path.relative_to(root))] = (st.st_mode, mtime, st.st_size)
    return found


# --- times outside every range -------------------------------------------------------


def _with_mtime_field(block: bytes, field: bytes) -> bytes:
    block = block[:136] + field + block[148:]
    block = block[:148] + b" " * 8 + block[156:]
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def _base256(value: int) -> bytes:
    if value < 0:
        return b"\xff" + (value + (1 << 88)).to_bytes(11, "big")
    return b"\x80" + value.to_bytes(11, "big")


def _base256_file(name: str, mtime: int) -> bytes:
    return _with_mtime_field(_file(name)[:512], _base256(mtime)) + _file(name)[512:]


def _base256_dir(name: str, mtime: int) -> bytes:
    return _with_mtime_field(header("dir", name, mode=0o755, mtime=0), _base256(mtime))


EXTREMES = {
    "pax-max": lambda: header("dir", "d/", mode=0o755, mtime=PAX_MAX) + _file("d/f", mtime=PAX_MAX),
    "pax-min": lambda: _file("f", mtime=-PAX_MAX),
    "pax-max-implicit-parent": lambda: _file("d/e/f", mtime=PAX_MAX),
    "base256-max": lambda: _base256_dir("d/", BASE256_MAX) + _base256_file("d/f", BASE256_MAX),
    "base256-min": lambda: _base256_file("f", BASE256_MIN),
    "symlink-max": lambda: (
        _file("f") + header("symlink", "l", mode=0o777, mtime=PAX_MAX, linkname="f")
    ),
}


@pytest.mark.parametrize("strategy", ["auto", "repack"])
@pytest.mark.parametrize("shape", sorted(EXTREMES))
def test_every_accepted_mtime_ends_in_exit_0(shape: str, strategy: str, tmp_path: Path) -> None:
    # These gave exit 4: OverflowError from os.utime, in tarfile or in the repack.
    model = _write(tmp_path / "input" / "model" / "model.tar.gz", EXTREMES[shape]())
    scan(model)  # accepted by the dialect
    config = tmp_path / "input" / "config" / "hyperparameters.json"
    config.parent.mkdir(parents=True)
    config.write_bytes(b"{}")
    assert main(["--root", str(tmp_path), "-q", "--strategy", strategy]) == 0
    output = scan(tmp_path / "output" / "model" / "model.tar.gz")  # our own output passes too
    newest = max(m.mtime for m in scan(model).members)
    hyper = next(m for m in output.members if m.name == "hyperparameters.json")
    assert hyper.mtime == min(max(newest, 0), MTIME_MAX)


def test_extracted_times_are_the_exact_integers_the_file_system_stores(tmp_path: Path) -> None:
    # Base-256 times span the whole of time_t. The extraction sets the scan's integer,
    # which the file system stores as it stores it for GNU tar and bsdtar: compare
    # with a reference file given the same time by hand.
    times = {"big": BASE256_MAX, "neg": BASE256_MIN, "2e53": 2**53 + 1, "plain": 1_700_000_000}
    tar = b"".join(_base256_file(name, mtime) for name, mtime in times.items())
    model = _write(tmp_path / "model.tar.gz", tar)
    dest = tmp_path / "dest"
    extract_tarfile(model, dest)
    for name, mtime in times.items():
        reference = tmp_path / f"ref-{name}"
        reference.write_bytes(b"")
        os.utime(reference, (mtime, mtime))
        assert os.stat(dest / name).st_mtime_ns == os.stat(reference).st_mtime_ns, name


def test_a_time_beyond_what_every_file_system_stores_is_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    model = _write(tmp_path / "m.tar.gz", _file("a", mtime=2**31) + _file("b", mtime=-(2**31) - 1))
    extract_tarfile(model, tmp_path / "dest")
    lines = [m for m in caplog.messages if "beyond what every file system stores" in m]
    assert lines == [
        f"{model}: tar member 'a' has mtime 2147483648, beyond what every file system stores "
        "(1901 to 2038); it is set as is and the file system keeps what it can, as with GNU "
        "tar and bsdtar"
    ]
    caplog.clear()
    extract_tarfile(_write(tmp_path / "n.tar.gz", _file("c", mtime=2**31 - 1)), tmp_path / "e")
    assert not [m for m in caplog.messages if "beyond" in m]


def test_the_capped_time_of_hyperparameters_json_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    _write(tmp_path / "input" / "model" / "model.tar.gz", _file("f", mtime=-5))
    (tmp_path / "input" / "config").mkdir()
    (tmp_path / "input" / "config" / "hyperparameters.json").write_bytes(b"{}")
    assert main(["--root", str(tmp_path)]) == 0
    assert (
        "hyperparameters.json gets mtime 0: the newest tar member's, -5, is outside ustar's "
        f"range (0 to {MTIME_MAX})"
    ) in caplog.messages


@pytest.mark.parametrize(
    ("ns", "seconds"),
    [
        (BASE256_MAX * 10**9, BASE256_MAX),  # int(st_mtime) gave 2**63: no reader takes it
        (BASE256_MIN * 10**9, BASE256_MIN),
        (1_500_000_000, 1),
        (-1_500_000_000, -1),  # toward zero, as int(st_mtime) did
        (0, 0),
    ],
)
def test_packed_times_are_exact_whole_seconds(ns: int, seconds: int) -> None:
    assert repack._seconds(ns) == seconds


# --- setgid and sticky directories ---------------------------------------------------


def test_setgid_and_sticky_bits_are_not_extracted_on_any_python(tmp_path: Path) -> None:
    # Even under a setgid parent whose bit new directories inherit, the tree holds no
    # setgid or sticky bit: the repack sets every directory's mode itself.
    tar = (
        header("dir", "shared/", mode=0o2775, mtime=0)
        + header("dir", "shared/tmp/", mode=0o1777, mtime=0)
        + header("dir", "shared/both/", mode=0o3750, mtime=0)
        + _file("shared/implicit/f")
    )
    model = _write(tmp_path / "m.tar.gz", tar)
    parent = tmp_path / "group"
    parent.mkdir()
    os.chmod(parent, 0o2775)
    dest = parent / "dest"
    dest.mkdir()
    extract_tarfile(model, dest)
    modes = {
        str(p.relative_to(dest)): stat.S_IMODE(p.stat().st_mode)
        for p in dest.rglob("*")
        if p.is_dir()
    }
    assert modes == {
        "shared": 0o755,
        "shared/tmp": 0o755,
        "shared/both": 0o750,
        "shared/implicit": 0o755,
    }


# --- all or nothing ------------------------------------------------------------------


def _model(tmp_path: Path) -> Path:
    tar = (
        header("dir", "d/", mode=0o750, mtime=1_600_000_000)
        + _file("d/a")
        + _file("d/b")
        + _file("top")
        + header("symlink", "link", mode=0o777, mtime=1_600_000_000, linkname="top")
    )
    return _write(tmp_path / "model.tar.gz", tar)


def _fail_on_third_member(monkeypatch: pytest.MonkeyPatch) -> None:
    real = repack._make
    calls = []

    def make(archive: tarfile.TarFile, member: tarfile.TarInfo, *args: Any) -> None:
        calls.append(member.name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(archive, member, *args)

    monkeypatch.setattr(repack, "_make", make)


@pytest.mark.parametrize("existing", [False, True], ids=["new-destination", "existing"])
def test_a_failure_part_way_leaves_nothing_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    model = _model(tmp_path)
    dest = tmp_path / "out" / "deeper" / "dest"
    if existing:
        dest.mkdir(parents=True)
        (dest / "mine.txt").write_text("kept")
    before = listing(tmp_path)
    _fail_on_third_member(monkeypatch)
    with pytest.raises(ProcessingError) as failed:
        extract_tarfile(model, dest)
    assert (
        str(failed.value)
        == f"{dest}: extraction failed: No space left on device (ERROR_CODE: DISK_FULL)"
    )
    assert listing(tmp_path) == before  # no member, no staging directory, no parent


def test_a_member_list_that_differs_part_way_leaves_nothing(tmp_path: Path) -> None:
    model = _model(tmp_path)
    members = scan(model).members
    before = listing(tmp_path)
    with pytest.raises(ValidationError, match="reads tar member 3 as"):
        extract_tarfile(model, tmp_path / "dest", members[:3])
    assert listing(tmp_path) == before


def test_an_existing_destination_keeps_its_files_and_takes_the_members(tmp_path: Path) -> None:
    model = _model(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("not to be written through")
    dest = tmp_path / "dest"
    (dest / "d").mkdir(parents=True)
    (dest / "d" / "mine").write_text("kept")
    (dest / "mine").write_text("kept")
    (dest / "top").symlink_to(outside)  # replaced by the member, not written through
    extract_tarfile(model, dest)
    assert sorted(os.listdir(dest)) == ["d", "link", "mine", "top"]
    assert sorted(os.listdir(dest / "d")) == ["a", "b", "mine"]
    assert not (dest / "top").is_symlink() and (dest / "top").read_bytes() == b"x"
    assert outside.read_text() == "not to be written through"
    # The merged directory takes the archive's mode and time, as a plain extraction did.
    st = os.stat(dest / "d")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime) == (0o750, 1_600_000_000)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_new_destination_and_its_parents_are_made_on_success(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "dest"
    extract_tarfile(_model(tmp_path), dest)
    assert sorted(os.listdir(dest)) == ["d", "link", "top"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "model.tar.gz"]


@pytest.mark.parametrize(
    ("blocker", "message"),
    [
        ("d", "the archive has a directory there"),  # a file where the archive has d/
        ("top", "the archive has a file there"),  # a directory where it has a file
    ],
)
def test_a_clash_with_the_destination_fails_before_anything_moves(
    tmp_path: Path, blocker: str, message: str
) -> None:
    model = _model(tmp_path)
    dest = tmp_path / "dest"
    dest.mkdir()
    if blocker == "d":
        (dest / "d").write_text("in the way")
    else:
        (dest / "top").mkdir()
    (dest / "z").mkdir()  # sorted after the clash: nothing may have moved before it
    before = listing(tmp_path)
    with pytest.raises(ProcessingError) as failed:
        extract_tarfile(model, dest)
    assert str(failed.value) == (
        f"{dest}: extraction failed: {dest / blocker} is in the way ({message}) "
        "(ERROR_CODE: OUTPUT_NOT_WRITABLE)"
    )
    assert listing(tmp_path) == before


def test_a_clash_deep_in_a_merged_directory_fails_before_anything_moves(tmp_path: Path) -> None:
    model = _model(tmp_path)
    dest = tmp_path / "dest"
    (dest / "d" / "b").mkdir(parents=True)
    before = listing(tmp_path)
    with pytest.raises(ProcessingError, match="is in the way"):
        extract_tarfile(model, dest)
    assert listing(tmp_path) == before


def test_a_mount_point_destination_stages_inside_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Beside a mount point is another file system, which a rename cannot cross.
    model = _model(tmp_path)
    dest = tmp_path / "mnt"
    dest.mkdir()
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: p == str(dest) or real_ismount(p))
    staged = []
    real_mkdtemp = repack.tempfile.mkdtemp

    def mkdtemp(prefix: str, dir: str) -> str:
        staged.append(dir)
        return real_mkdtemp(prefix=prefix, dir=dir)

    monkeypatch.setattr(repack.tempfile, "mkdtemp", mkdtemp)
    extract_tarfile(model, dest)
    assert staged == [str(dest)]
    assert sorted(os.listdir(dest)) == ["d", "link", "top"]


def test_a_staging_directory_that_cannot_be_made_is_an_environment_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _model(tmp_path)

    def refuse(prefix: str, dir: str) -> str:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(repack.tempfile, "mkdtemp", refuse)
    with pytest.raises(ProcessingError) as failed:
        extract_tarfile(model, tmp_path / "dest")
    assert (
        str(failed.value) == f"{tmp_path / 'dest'}: extraction failed: Read-only file system "
        "(ERROR_CODE: OUTPUT_NOT_WRITABLE)"
    )


def test_a_destination_that_is_a_file_fails_before_extracting(tmp_path: Path) -> None:
    model = _model(tmp_path)
    (tmp_path / "file").write_text("")
    before = listing(tmp_path)
    with pytest.raises(ProcessingError) as failed:
        extract_tarfile(model, tmp_path / "file")
    assert (
        str(failed.value) == f"{tmp_path / 'file'}: extraction failed: not a directory "
        "(ERROR_CODE: OUTPUT_NOT_WRITABLE)"
    )
    assert listing(tmp_path) == before


def test_the_repack_leaves_no_staging_behind(tmp_path: Path) -> None:
    _write(tmp_path / "input" / "model" / "model.tar.gz", _file("d/f"))
    (tmp_path / "input" / "config").mkdir()
    (tmp_path / "input" / "config" / "hyperparameters.json").write_bytes(b"{}")
    assert main(["--root", str(tmp_path), "-q", "--strategy", "repack"]) == 0
    assert sorted(os.listdir(tmp_path / "output")) == ["model"]


# --- deep trees in the repack --------------------------------------------------------


def test_a_deep_tree_repacks_to_the_same_tree(tmp_path: Path) -> None:
    stem = "/".join(["d"] * 254)
    tar = b"".join(_file(f"{stem}/x{i % 3}/f{i}") for i in range(60))
    _write(tmp_path / "input" / "model" / "model.tar.gz", tar)
    (tmp_path / "input" / "config").mkdir()
    (tmp_path / "input" / "config" / "hyperparameters.json").write_bytes(b"{}")
    assert main(["--root", str(tmp_path), "-q", "--strategy", "repack"]) == 0
    names = {m.name for m in scan(tmp_path / "output" / "model" / "model.tar.gz").members}
    assert {f"{stem}/x{i % 3}/f{i}" for i in range(60)} <= names
    assert len(names) == 60 + 254 + 3 + 1


@pytest.mark.parametrize("kind", ["file", "symlink", "hardlink"])
def test_a_cut_ustar_name_never_ends_in_a_slash(kind: str) -> None:
    # A name too long for ustar goes to pax; the cut copy must not make a file a
    # directory (the repack's own output of a deep tree was refused by the scan).
    name = "d/" * 200 + "f"
    block = header(kind, name, mode=0o644, mtime=0, linkname="" if kind == "file" else "t")
    main_header = block[-512:]
    assert main_header[:100].rstrip(b"\0") == b"d/" * 49 + b"d"
    directory = header("dir", name + "/", mode=0o755, mtime=0)[-512:]
    assert directory[:100] == b"d/" * 50


# --- trees deeper than the recursion limit (with --max-depth raised) ------------------

DEEP = "/".join(["a"] * 1100) + "/f"  # past Python's default recursion limit of 1,000


@pytest.mark.parametrize("strategy", ["auto", "repack"])
def test_a_tree_deeper_than_the_recursion_limit_repacks(tmp_path: Path, strategy: str) -> None:
    # os.makedirs (in tarfile), shutil.rmtree and the packer's walk each recursed once
    # per level: exit 4 with a RecursionError.
    _write(tmp_path / "input" / "model" / "model.tar.gz", _file(DEEP))
    (tmp_path / "input" / "config").mkdir()
    (tmp_path / "input" / "config" / "hyperparameters.json").write_bytes(b"{}")
    args = ["--root", str(tmp_path), "-q", "--strategy", strategy, "--max-depth", "1200"]
    assert main(args) == 0
    output = scan(tmp_path / "output" / "model" / "model.tar.gz", limits=Limits(max_depth=1200))
    assert DEEP in {m.name for m in output.members}
    assert sorted(os.listdir(tmp_path)) == ["input", "output"]  # the work directory is gone


def test_a_failed_deep_extraction_is_removed_whole(tmp_path: Path) -> None:
    model = _write(tmp_path / "m.tar.gz", _file(DEEP))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "a").write_text("in the way")  # found only once the deep tree is staged
    before = listing(tmp_path)
    with pytest.raises(ProcessingError, match="is in the way"):
        extract_tarfile(model, dest, scan(model, limits=Limits(max_depth=1200)).members)
    assert listing(tmp_path) == before


def test_remove_tree_never_raises(tmp_path: Path) -> None:
    repack.remove_tree(tmp_path / "missing")
    top = tmp_path / "top"
    (top / "d" / "e").mkdir(parents=True)
    (top / "d" / "f").write_text("")
    (top / "link").symlink_to(tmp_path)  # removed, never followed
    repack.remove_tree(top)
    assert sorted(os.listdir(tmp_path)) == []
