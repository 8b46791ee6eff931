"""Member safety, member by member and against the finished tree."""

from __future__ import annotations

import pytest

from dummy_training.errors import ValidationError
from dummy_training.safety import MAX_SYMLINK_HOPS, TreeChecker

Member = tuple  # (name, kind, mode, linkname)


def check(*members: Member) -> TreeChecker:
    checker = TreeChecker("m.tar.gz")
    for name, kind, mode, link in members:
        checker.add(name, kind, mode, link)
    checker.finish()
    return checker


F = 0o644


def test_a_normal_tree_passes_and_finds_hyperparameters() -> None:
    checker = check(
        ("./", "dir", 0o755, ""),
        ("a/", "dir", 0o755, ""),
        ("a/b/c.bin", "file", F, ""),
        ("a/b/", "dir", 0o755, ""),  # an explicit dir after its implicit use is fine
        ("a/", "dir", 0o700, ""),  # and so is a directory declared twice
        ("link", "symlink", 0o777, "a/b/c.bin"),
        ("up", "symlink", 0o777, "a/b/../.."),
        ("hard", "hardlink", F, "./a/b/c.bin"),
        ("./hyperparameters.json", "file", 0o600, ""),
    )
    assert checker.root_hyperparameters == "./hyperparameters.json"


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("dev", "chardev", F, "")], "character device"),
        ([("dev", "blockdev", F, "")], "block device"),
        ([("p", "fifo", F, "")], "FIFO"),
        ([("s", "file", 0o4755, "")], "setuid/setgid mode 4755"),
        ([("s", "file", 0o2755, "")], "setuid/setgid mode 2755"),
        ([("a\0b", "file", F, "")], "NUL byte in path"),
        ([("/etc/x", "file", F, "")], "absolute path"),
        ([("a/../../x", "file", F, "")], "'..' in path"),
        ([("./", "file", F, "")], "empty name"),
        ([("f", "file", F, ""), ("f", "file", F, "")], "duplicate of earlier tar member 'f'"),
        ([("d/x", "file", F, ""), ("d", "file", F, "")], "duplicate of earlier tar member 'd'"),
        ([("f", "file", F, ""), ("f/x", "file", F, "")], "inside non-directory 'f'"),
        (
            [("d/", "dir", 0o755, ""), ("l", "symlink", 0o777, "d"), ("l/x", "file", F, "")],
            "passes through symlink 'l'",
        ),
        ([("l", "symlink", 0o777, "")], "empty symlink target"),
        ([("l", "symlink", 0o777, "/etc/passwd")], "absolute symlink target"),
        ([("d/l", "symlink", 0o777, "../../x")], "leaves the root"),
        ([("up", "symlink", 0o777, "."), ("esc", "symlink", 0o777, "up/../x")], "leaves the root"),
        ([("a", "symlink", 0o777, "b"), ("b", "symlink", 0o777, "a")], "chain longer than 40"),
        ([("h", "hardlink", F, "/etc/passwd")], "absolute hard link target"),
        ([("h", "hardlink", F, "../x")], "'..' in hard link target"),
        ([("h", "hardlink", F, "missing")], "'missing' is missing"),
        ([("d/", "dir", 0o755, ""), ("h", "hardlink", F, "d")], "not a regular file"),
        (
            [("t", "file", F, ""), ("l", "symlink", 0o777, "t"), ("h", "hardlink", F, "l")],
            "not a regular file",
        ),
        ([("hyperparameters.json/", "dir", 0o755, "")], "directory stands where"),
        ([("hyperparameters.json/x", "file", F, "")], "directory stands where"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_unsafe(members: list[Member], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check(*members)


def test_chains_up_to_the_kernel_limit_resolve() -> None:
    hops = MAX_SYMLINK_HOPS
    chain = [(f"l{i}", "symlink", 0o777, f"l{i + 1}") for i in range(hops)]
    check(("target", "file", F, ""), *chain, (f"l{hops}", "symlink", 0o777, "target"))
    longer = [(f"l{i}", "symlink", 0o777, f"l{i + 1}") for i in range(hops + 1)]
    with pytest.raises(ValidationError, match="chain longer"):
        check(("target", "file", F, ""), *longer, (f"l{hops + 1}", "symlink", 0o777, "target"))
