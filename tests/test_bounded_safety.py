"""Member safety does work linear in the name and link bytes: counted here, never timed."""

from __future__ import annotations

import gzip
import logging
import re
import tarfile
from pathlib import Path
from typing import Any

import pytest

from dummy_training import main, safety
from dummy_training.errors import ValidationError
from dummy_training.safety import MAX_SYMLINK_HOPS, TreeChecker
from dummy_training.tarstream import Limits, iter_members
from dummy_training.tarwrite import end_of_archive, header, padding


class Counted(str):
    """A name whose components count every hash and comparison made with them.

    A dict or set lookup hashes its key; a lookup by a tuple of components (or a
    slice of one) hashes every component in it. Counting both is counting the work
    of walking paths, whatever structure the checker keeps them in.
    """

    ops = 0

    def split(self, sep: Any = None, maxsplit: Any = -1) -> list[str]:  # type: ignore[override]
        return [Counted(part) for part in str.split(self, sep, maxsplit)]

    def __hash__(self) -> int:
        Counted.ops += 1
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        Counted.ops += 1
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        Counted.ops += 1
        return str.__ne__(self, other)


@pytest.fixture(autouse=True)
def _counted_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    # Link targets are read a component at a time (no list of each): count those too.
    components = safety._components
    monkeypatch.setattr(safety, "_components", lambda text: map(Counted, components(text)))


def checker_for(members: list[tuple[str, str, int, str]]) -> TreeChecker:
    checker = TreeChecker("m.tar.gz")
    for name, kind, mode, link in members:
        checker.add(Counted(name), kind, mode, Counted(link))
    return checker


def count(members: list[tuple[str, str, int, str]]) -> int:
    """The component operations one checker makes over ``members``, finish included."""
    Counted.ops = 0
    checker_for(members).finish()
    return Counted.ops


def components(members: list[tuple[str, str, int, str]]) -> int:
    return sum(name.count("/") + 1 + link.count("/") + 1 for name, _, _, link in members)


def deep(depth: int, files: int, shared: bool) -> list[tuple[str, str, int, str]]:
    stem = "/".join(["d"] * (depth - 2))
    if shared:
        return [(f"{stem}/x/f{i}", "file", 0o644, "") for i in range(files)]
    return [(f"m{i}/{stem}/f", "file", 0o644, "") for i in range(files)]


@pytest.mark.parametrize("shared", [True, False], ids=["shared-parents", "distinct-parents"])
def test_each_member_costs_its_depth_not_its_depth_squared(shared: bool) -> None:
    # 40,000 members 256 levels deep took minutes: every prefix of every member was
    # sliced and hashed again (parts[:d] for each d), O(depth²) per member.
    shallow, deeper = deep(64, 100, shared), deep(256, 100, shared)
    work = {64: count(shallow), 256: count(deeper)}
    assert work[256] <= 6 * components(deeper)
    assert work[64] <= 6 * components(shallow)
    # Four times the depth, about four times the work (not sixteen).
    assert work[256] < 4.5 * work[64]


def test_a_shared_deep_path_is_walked_once_per_member() -> None:
    # The per-member cost is its own components, not those of every member before it.
    few, many = deep(256, 50, True), deep(256, 200, True)
    assert count(many) < 4.2 * count(few)


def chain(links: int, target_parts: int) -> list[tuple[str, str, int, str]]:
    """``links`` symlinks l0 -> l1 -> ... -> file, each target padded with './'."""
    pad = "./" * target_parts
    members = [("file", "file", 0o644, "")]
    for i in range(links):
        nxt = f"l{i + 1}" if i + 1 < links else "file"
        members.append((f"l{i}", "symlink", 0o777, pad + nxt))
    return members


def test_each_symlink_target_is_resolved_once() -> None:
    # 40 chained links with 1 MB targets ran for minutes: each link re-walked every
    # target down the chain. Resolved once and reused, the work is the targets' size.
    short, long_ = chain(MAX_SYMLINK_HOPS, 100), chain(MAX_SYMLINK_HOPS, 400)
    work_short, work_long = count(short), count(long_)
    assert work_long <= 6 * components(long_)
    assert work_long < 4.5 * work_short
    # Twice the links, twice the work: not four times.
    half = chain(MAX_SYMLINK_HOPS // 2, 400)
    assert work_long < 2.3 * count(half)


def test_links_through_a_shared_link_reuse_its_resolution() -> None:
    # hub resolves through a long target once; each of 500 links through it costs
    # its own two components, however long hub's target is.
    hub_target = "/".join(["a"] * 2000)
    base = [(hub_target + "/f", "file", 0o644, ""), ("hub", "symlink", 0o777, hub_target)]
    links = [(f"x{i}", "symlink", 0o777, "hub/f") for i in range(500)]
    work = count(base + links)
    # Each costs its own few components (about 16 operations); re-walking hub's target
    # would cost over 2,000 each.
    assert work - count(base) <= 40 * 500


def test_a_long_chain_fails_at_the_hop_limit_without_deep_recursion() -> None:
    # 5,000 links, the first resolved first: the resolution stops 41 links in
    # instead of recursing (or expanding) through all of them.
    checker = checker_for(chain(5000, 0))
    Counted.ops = 0
    with pytest.raises(ValidationError, match=re.escape("'l0': symlink chain longer than 40")):
        checker.finish()
    assert Counted.ops < 20 * (MAX_SYMLINK_HOPS + 1)


def test_a_ring_of_links_fails_after_one_turn() -> None:
    checker = checker_for([(f"r{i}", "symlink", 0o777, f"r{(i + 1) % 1000}") for i in range(1000)])
    Counted.ops = 0
    with pytest.raises(ValidationError, match="'r0': symlink chain longer than 40"):
        checker.finish()
    assert Counted.ops < 20 * (MAX_SYMLINK_HOPS + 1)


@pytest.mark.parametrize(
    ("members", "message"),
    [
        # A chain resolved earlier (as part of another link) is charged in full to
        # the link that leads into it, so the limit still holds at the 41st hop.
        (chain(MAX_SYMLINK_HOPS + 2, 1)[::-1], "'l0': symlink chain longer than 40"),
        # A link whose target escapes through a reused link is refused as escaping.
        (
            [
                ("d/e/", "dir", 0o755, ""),
                ("up", "symlink", 0o777, "d/e/../.."),
                *chain(3, 0),
                ("esc", "symlink", 0o777, "l0/../up/.."),
            ],
            "'esc': symlink target 'l0/../up/..' leaves the root",
        ),
        # A link resolved through a later one that escapes is refused in its own name,
        # as the first link in archive order whose resolution leaves the root.
        (
            [("x", "symlink", 0o777, "out/a"), ("out", "symlink", 0o777, "..")],
            "'x': symlink target 'out/a' leaves the root",
        ),
        # l0 follows 39 links, esc one more: 40, then it leaves the root ...
        (
            [*chain(MAX_SYMLINK_HOPS, 0), ("esc", "symlink", 0o777, "l0/../..")],
            "'esc': symlink target 'l0/../..' leaves the root",
        ),
        # ... and with one link more the kernel stops at the 41st, before the escape.
        (
            [*chain(MAX_SYMLINK_HOPS + 1, 0), ("esc", "symlink", 0o777, "l0/../..")],
            "'esc': symlink chain longer than 40",
        ),
    ],
    ids=[
        "reused-chain",
        "escape-through-reused",
        "escape-in-a-later-link",
        "escape-at-the-limit",
        "escape-past-the-limit",
    ],
)
def test_reused_resolutions_keep_every_verdict(
    members: list[tuple[str, str, int, str]], message: str
) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        count(members)


def test_a_chain_up_to_the_limit_through_a_reused_link_resolves() -> None:
    members = chain(MAX_SYMLINK_HOPS, 0)
    count(members)
    # l1 is resolved first here; l0 then adds one hop on top of its 39: exactly 40.
    count([members[0], *members[2:], members[1]])


def test_implicit_parents_are_named_only_in_messages() -> None:
    # No path string is built per prefix; a refusal still names the implicit parent.
    with pytest.raises(ValidationError) as refused:
        count([("./a//b/c", "file", 0o644, ""), ("a/b", "symlink", 0o777, "c")])
    assert (
        str(refused.value)
        == "m.tar.gz: unsafe tar member 'a/b': duplicate of earlier tar member 'a/b' "
        "(ERROR_CODE: UNSAFE_MEMBER)"
    )


# --- link targets are capped like names ----------------------------------------------


def _file(name: str, data: bytes) -> bytes:
    return header("file", name, size=len(data), mode=0o644, mtime=0) + data + padding(len(data))


def _write(path: Path, tar: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(tar + end_of_archive(), mtime=0))
    return path


def test_a_link_target_over_the_cap_is_refused_and_the_flag_raises_it(tmp_path: Path) -> None:
    target = "d/" + "./" * 2047 + "f"
    assert len(target) == 4097
    tar = (
        header("dir", "d/", mode=0o755, mtime=0)
        + _file("d/f", b"x")
        + header("symlink", "link", mode=0o777, mtime=0, linkname=target)
    )
    _write(tmp_path / "input" / "model" / "model.tar.gz", tar)
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 2
    assert re.fullmatch(
        r".*model\.tar\.gz: tar header at offset \d+: "
        r"link target of 4097 bytes exceeds --max-link-bytes 4096 \(ERROR_CODE: CAP_EXCEEDED\)",
        message.read_text(),
    )
    assert main(["--root", str(tmp_path), "-q", "--max-link-bytes", "4097"]) == 0


def test_hard_link_targets_are_capped_too() -> None:
    tar = _file("f", b"x") + header("hardlink", "h", mode=0o644, mtime=0, linkname="f")
    found = iter_members([tar + end_of_archive()], "m", limits=Limits(max_link=1))
    assert [m.name for m in found] == ["f", "h"]
    with pytest.raises(ValidationError, match="link target of 1 bytes exceeds --max-link-bytes 0"):
        list(iter_members([tar + end_of_archive()], "m", limits=Limits(max_link=0)))


def test_the_reported_chain_of_long_links_ends_at_the_first_one(tmp_path: Path) -> None:
    # The report's input, scaled down: 40 chained links with 64 KiB pax linkpaths. The
    # first link's header already exceeds the cap, so nothing is resolved.
    links = b"".join(
        header("symlink", f"l{i:02d}", mode=0o777, mtime=0, linkname="./" * 32768 + f"l{i + 1:02d}")
        for i in range(40)
    )
    _write(tmp_path / "input" / "model" / "model.tar.gz", _file("l40", b"x") + links)
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 2
    assert "(member" not in message.read_text()
    assert message.read_text().endswith(
        ": link target of 65539 bytes exceeds --max-link-bytes 4096 (ERROR_CODE: CAP_EXCEEDED)"
    )


# --- setgid and sticky directories ---------------------------------------------------


def test_setgid_and_sticky_directories_are_accepted_and_noted_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dummy_training")
    checker = TreeChecker("m.tar.gz")
    for name, mode in [("shared/", 0o2775), ("shared/sub/", 0o2775), ("tmp/", 0o1777)]:
        checker.add(name, "dir", mode, "")
    checker.add("shared/sub/f", "file", 0o1644, "")  # a sticky file was never refused
    checker.finish()
    assert caplog.messages == [
        "m.tar.gz: directory 'shared/' has mode 2775: setgid and sticky bits on directories "
        "are accepted (a splice keeps them; a repack does not extract them)"
    ]
    caplog.clear()
    quiet = TreeChecker("m.tar.gz", quiet=True)
    quiet.add("shared/", "dir", 0o2775, "")
    assert caplog.messages == []


@pytest.mark.parametrize(
    ("kind", "mode", "link"),
    [
        ("dir", 0o4755, ""),
        ("dir", 0o6775, ""),
        ("file", 0o2644, ""),
        ("hardlink", 0o2644, "f"),
        ("symlink", 0o2777, "f"),
    ],
)
def test_setuid_anywhere_and_setgid_outside_directories_stay_refused(
    kind: str, mode: int, link: str
) -> None:
    checker = TreeChecker("m.tar.gz")
    checker.add("f", "file", 0o644, "")
    with pytest.raises(ValidationError) as refused:
        checker.add("x/" if kind == "dir" else "x", kind, mode, link)
    assert str(refused.value).endswith(
        f": setuid/setgid mode {mode:04o} (ERROR_CODE: UNSAFE_MEMBER)"
    )


def test_a_tree_made_under_a_setgid_directory_passes_the_step(tmp_path: Path) -> None:
    # What tar writes for a tree built in a group-shared directory: every directory
    # carries the setgid bit. The splice keeps the headers; the repack drops the bits.
    tar = (
        header("dir", "model/", mode=0o2775, mtime=0)
        + header("dir", "model/sub/", mode=0o3775, mtime=0)
        + _file("model/sub/w.bin", b"1")
    )
    _write(tmp_path / "input" / "model" / "model.tar.gz", tar)
    (tmp_path / "input" / "config").mkdir()
    (tmp_path / "input" / "config" / "hyperparameters.json").write_bytes(b"{}")
    output = tmp_path / "output" / "model" / "model.tar.gz"
    modes = {}
    for strategy in ("auto", "repack"):
        assert main(["--root", str(tmp_path), "-q", "--strategy", strategy]) == 0
        with tarfile.open(output) as tf:
            modes[strategy] = {m.name.rstrip("/"): m.mode for m in tf if m.isdir()}
    assert modes == {
        "auto": {"model": 0o2775, "model/sub": 0o3775},
        "repack": {"model": 0o755, "model/sub": 0o755},
    }


def test_names_and_link_targets_kept_in_memory_have_a_total_cap(tmp_path: Path) -> None:
    # Each name and target is capped alone; a million of them at the cap would still
    # hold gigabytes in the manifest and the tree check, so their sum is capped too.
    tar = _file("aaaa", b"x") + header("symlink", "bbbb", mode=0o777, mtime=0, linkname="aaaa")
    exact = Limits(max_metadata=12)  # "aaaa", then "bbbb" and its target "aaaa"
    assert [m.name for m in iter_members([tar + end_of_archive()], "m", limits=exact)] == [
        "aaaa",
        "bbbb",
    ]
    with pytest.raises(ValidationError) as caught:
        list(iter_members([tar + end_of_archive()], "m", limits=Limits(max_metadata=11)))
    assert str(caught.value) == (
        "m: tar header at offset 1024: tar member names and link targets total more than 11 bytes "
        "(cap: --max-metadata-bytes 11) (ERROR_CODE: CAP_EXCEEDED)"
    )
    _write(tmp_path / "input" / "model" / "model.tar.gz", tar)
    assert main(["--root", str(tmp_path), "-q", "--max-metadata-bytes", "11"]) == 2
    assert main(["--root", str(tmp_path), "-q", "--max-metadata-bytes", "12"]) == 0
    assert Limits().max_metadata == 128 << 20


def test_directories_that_names_imply_are_capped(tmp_path: Path) -> None:
    # One member 255 levels deep under a directory of its own adds 255 tree nodes:
    # 40,000 such members (600 KB of gzip) would hold ~3 GB under the member cap
    # alone. Directories implied without an entry of their own count against
    # --max-members as well, apart from the members.
    checker = TreeChecker("m.tar.gz", max_implied=3)
    checker.add("a/b/c", "file", 0o644, "")  # implies a and a/b
    checker.add("a/b", "dir", 0o755, "")  # declared now: nothing new
    checker.add("a/d", "file", 0o644, "")
    checker.add("e/f", "file", 0o644, "")  # implies e: the third
    with pytest.raises(ValidationError) as caught:
        checker.add("g/h", "file", 0o644, "")
    assert str(caught.value) == (
        "m.tar.gz: tar member names imply more than 3 directories without an entry of their "
        "own (cap: --max-members 3) (ERROR_CODE: CAP_EXCEEDED)"
    )
    _write(tmp_path / "input" / "model" / "model.tar.gz", _file("a/b/c/f", b"x"))
    assert main(["--root", str(tmp_path), "-q", "--max-members", "2"]) == 2
    assert main(["--root", str(tmp_path), "-q", "--max-members", "3"]) == 0


@pytest.mark.parametrize(
    ("part", "refused"),
    [("n" * 255, False), ("n" * 256, True), ("é" * 127, False), ("é" * 128, True)],
)
def test_a_path_component_no_file_system_holds_is_refused(part: str, refused: bool) -> None:
    # 256 bytes in one component: the repack failed with exit 3 (ENAMETOOLONG) where
    # the splice passed the archive on to readers that fail the same way.
    checker = TreeChecker("m.tar.gz")
    if not refused:
        checker.add(f"d/{part}/f", "file", 0o644, "")
        return
    with pytest.raises(ValidationError) as caught:
        checker.add(f"d/{part}/f", "file", 0o644, "")
    size = len(part.encode())
    assert str(caught.value) == (
        f"m.tar.gz: unsafe tar member 'd/{part}/f': a path component of {size} bytes; "
        "file systems hold at most 255 (ERROR_CODE: UNSAFE_MEMBER)"
    )


def test_a_long_component_is_refused_in_every_strategy(tmp_path: Path) -> None:
    _write(tmp_path / "input" / "model" / "model.tar.gz", _file("n" * 256, b"x"))
    message = tmp_path / "message"
    assert main(["--root", str(tmp_path), "--message-file", str(message)]) == 2  # fallback
    assert "a path component of 256 bytes" in message.read_text()
    config = tmp_path / "input" / "config" / "hyperparameters.json"
    config.parent.mkdir(parents=True)
    config.write_bytes(b"{}")
    for strategy in ("auto", "splice", "repack"):
        message = tmp_path / "message"
        argv = ["--root", str(tmp_path), "--strategy", strategy, "--message-file", str(message)]
        assert main(argv) == 2, strategy
        assert "a path component of 256 bytes" in message.read_text()
