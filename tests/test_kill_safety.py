"""Member safety edges found by mutation testing: whole messages, hard links, link paths."""

from __future__ import annotations

import re

import pytest

from dummy_training.errors import ValidationError
from dummy_training.safety import TreeChecker

F = 0o644


def check(*members: tuple[str, str, int, str]) -> TreeChecker:
    checker = TreeChecker("m.tar.gz")
    for name, kind, mode, link in members:
        checker.add(name, kind, mode, link)
    checker.finish()
    return checker


@pytest.mark.parametrize(
    ("members", "message"),
    [
        ([("a\0b", "file", F, "")], r"'a\x00b': NUL byte in path"),
        ([(".", "file", F, "")], "'.': empty name"),
        ([("l", "symlink", 0o777, "")], "'l': empty symlink target"),
        (
            [("d/", "dir", 0o755, ""), ("h", "hardlink", F, "d")],
            "'h': hard link target 'd' is not a regular file",
        ),
        (
            [("a/b/c", "file", F, ""), ("a/b", "file", F, "")],
            "'a/b': duplicate of earlier tar member 'a/b'",
        ),
        (
            [("hyperparameters.json/", "dir", 0o755, "")],
            "'hyperparameters.json/': a directory stands where hyperparameters.json goes",
        ),
    ],
    ids=["nul", "empty-name", "empty-symlink", "hardlink-to-dir", "implicit-dir", "hyper-dir"],
)
def test_messages_name_the_member_and_the_cause(
    members: list[tuple[str, str, int, str]], message: str
) -> None:
    # One ERROR line names the file, the member and the cause: the whole line is the contract.
    with pytest.raises(ValidationError) as refused:
        check(*members)
    assert (
        str(refused.value) == f"m.tar.gz: unsafe tar member {message} (ERROR_CODE: UNSAFE_MEMBER)"
    )


def test_a_hard_link_is_a_regular_file_for_later_members() -> None:
    # tar lets a hard link name another hard link; both are the same regular file.
    check(("a", "file", F, ""), ("b", "hardlink", F, "a"), ("c", "hardlink", F, "b"))
    # ... and nothing can be written beneath one.
    with pytest.raises(ValidationError) as refused:
        check(("a", "file", F, ""), ("b", "hardlink", F, "a"), ("b/x", "file", F, ""))
    assert (
        str(refused.value) == "m.tar.gz: unsafe tar member 'b/x': path is inside non-directory 'b' "
        "(ERROR_CODE: UNSAFE_MEMBER)"
    )


def test_empty_components_in_a_symlink_target_do_not_count_as_levels() -> None:
    # "d//../../x" is "d/../../x" to the kernel: it leaves the root.
    with pytest.raises(
        ValidationError, match=re.escape("symlink target 'd//../../x' leaves the root")
    ):
        check(("d/", "dir", 0o755, ""), ("l", "symlink", 0o777, "d//../../x"))


def test_a_link_followed_through_another_takes_all_of_its_levels() -> None:
    # l2 -> d/e (two levels), so x -> l2/../.. is the root itself: inside, accepted.
    check(("d/e/", "dir", 0o755, ""), ("l2", "symlink", 0o777, "d/e"))
    check(
        ("d/e/", "dir", 0o755, ""),
        ("l2", "symlink", 0o777, "d/e"),
        ("x", "symlink", 0o777, "l2/../.."),
    )
    # One level more leaves the root.
    with pytest.raises(ValidationError, match=re.escape("'l2/../../..' leaves the root")):
        check(
            ("d/e/", "dir", 0o755, ""),
            ("l2", "symlink", 0o777, "d/e"),
            ("x", "symlink", 0o777, "l2/../../.."),
        )
