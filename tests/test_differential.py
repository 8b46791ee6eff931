"""The differential harness in CI: the scanner against GNU tar, bsdtar and tarfile.

Random header-level variants (reproducible from their seed, different on every Python)
and directed examples: every archive the scanner accepts must be listed exactly as its
manifest by every reader, before and after the splice; every archive it refuses must
make the step exit 2. ``tox -e differential`` runs the same check for longer.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from differential import Case, directed, generate, gz, header, pax, record
from differential_check import TIME_LIMIT, Checker, Verdict, time_limit
from dummy_training import ValidationError, scan
from readers import (
    READERS,
    Entry,
    ReaderError,
    c_unquote,
    interpreter,
    list_archive,
    parse_gnutar_line,
    parse_mode,
    unavailable,
)

# Per Python a different stretch of seeds: six interpreters in CI cover six times more.
RANDOM_CASES = 150
FIRST_SEED = 1_000_000 * sys.version_info[1]


@pytest.fixture(scope="module")
def readers() -> list[str]:
    missing = [f"{r}: {why}" for r in READERS if (why := unavailable(r)) is not None]
    if missing and os.environ.get("CI") == "true":
        pytest.fail("CI must have every reader (.ci/run installs them): " + "; ".join(missing))
    if missing:
        pytest.skip("; ".join(missing))
    return list(READERS)


def check(cases: list[tuple[int | None, Case]], readers: list[str], tmp: Path) -> list[Verdict]:
    return Checker(tmp / "work", readers, save=tmp / "findings").check(cases)


def findings(verdicts: list[Verdict]) -> str:
    return "\n".join(v.report() for v in verdicts if v.outcome == "diverged")


def test_random_variants_are_refused_or_read_alike(readers: list[str], tmp_path: Path) -> None:
    seeds = range(FIRST_SEED, FIRST_SEED + RANDOM_CASES)
    verdicts = check([(s, generate(s)) for s in seeds], readers, tmp_path)
    assert not findings(verdicts), f"archives kept in {tmp_path / 'findings'}\n" + findings(
        verdicts
    )
    # Both sides of the boundary must be exercised, or the check says little.
    outcomes = {v.outcome for v in verdicts}
    assert outcomes == {"accepted", "refused"}


def test_python37_tarfile_reads_accepted_variants_alike(readers: list[str], tmp_path: Path) -> None:
    # The drop-in's users still run Python 3.7, which no tox env covers: its tarfile
    # reads this stretch of variants, next to GNU tar and bsdtar.
    try:
        python37 = interpreter("python3.7")
    except (ReaderError, OSError) as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have python3.7 (.ci/run makes pyenv's visible): {exc}")
        pytest.skip(f"python3.7 is not available here: {exc}")
    seeds = range(7_000_000, 7_000_000 + RANDOM_CASES)
    checker = Checker(tmp_path / "work", readers, [python37], save=tmp_path / "findings")
    verdicts = checker.check([(s, generate(s)) for s in seeds])
    assert not findings(verdicts), findings(verdicts)
    assert {v.outcome for v in verdicts} == {"accepted", "refused"}


# Examples of every family that DIALECT.md refuses; Plain trees make the subject the
# only thing wrong with them (test_directed_controls_are_accepted shows the rest is fine).
REFUSED = [
    ("numbers", {"field": "mode", "encoding": "0o-prefix", "kind": "file"}),
    ("numbers", {"field": "uid", "encoding": "underscore", "kind": "file"}),
    ("numbers", {"field": "mtime", "encoding": "plus", "kind": "file"}),
    ("numbers", {"field": "gid", "encoding": "minus", "kind": "file"}),
    ("numbers", {"field": "mode", "encoding": "tab", "kind": "file"}),
    ("numbers", {"field": "mode", "encoding": "digits-8-9", "kind": "file"}),
    ("numbers", {"field": "devmajor", "encoding": "garbage", "kind": "file"}),
    ("numbers", {"field": "devminor", "encoding": "digits-space-digits", "kind": "dir"}),
    ("numbers", {"field": "chksum", "encoding": "0o-prefix", "kind": "file"}),
    ("numbers", {"field": "mode", "encoding": "base256", "kind": "file"}),
    ("numbers", {"field": "uid", "encoding": "base256-huge", "kind": "file"}),
    ("numbers", {"field": "size", "encoding": "base256-negative", "kind": "file"}),
    ("numbers", {"field": "mtime", "encoding": "base256-other-lead", "kind": "file"}),
    ("magic", {"magic": "ustar-nul-nul-nul", "owner": "none", "kind": "file"}),
    ("magic", {"magic": "ustar-version-01", "owner": "none", "kind": "file"}),
    ("magic", {"magic": "garbage", "owner": "none", "kind": "file"}),
    ("prefix", {"magic": "gnu", "prefix": "dir", "name": "plain"}),
    ("prefix", {"magic": "v7", "prefix": "dir", "name": "plain"}),
    ("prefix", {"magic": "posix", "prefix": "junk-after-nul", "name": "plain"}),
    # libarchive adds no '/' after a prefix that ends in one; GNU tar and tarfile do.
    ("prefix", {"magic": "posix", "prefix": "trailing-slash", "name": "plain"}),
    ("typeflag", {"flag": b"S", "data": True, "link": False}),
    ("typeflag", {"flag": b"V", "data": False, "link": False}),
    ("typeflag", {"flag": b"D", "data": False, "link": False}),
    ("typeflag", {"flag": b"N", "data": True, "link": False}),
    ("typeflag", {"flag": b"3", "data": False, "link": False}),
    ("typeflag", {"flag": b"6", "data": False, "link": False}),
    ("typeflag", {"flag": b"8", "data": False, "link": False}),
    ("slash", {"source": "name", "flag": b"0", "ending": b"/", "data": True}),
    ("slash", {"source": "pax", "flag": b"0", "ending": b"/", "data": False}),
    ("slash", {"source": "gnu-long", "flag": b"7", "ending": b"/", "data": True}),
    ("slash", {"source": "prefix", "flag": b"2", "ending": b"/", "data": False}),
    ("slash", {"source": "pax", "flag": b"\0", "ending": b"/", "data": False}),
    ("chain", {"pieces": ("x-path", "x-path-other"), "place": "member"}),
    ("chain", {"pieces": ("L", "L-other"), "place": "member"}),
    ("chain", {"pieces": ("K", "K-other"), "place": "member"}),
    ("chain", {"pieces": ("x-path-other", "L"), "place": "member"}),
    ("chain", {"pieces": ("x-mtime", "g-comment"), "place": "member"}),
    ("chain", {"pieces": ("g-path",), "place": "member"}),
    ("chain", {"pieces": ("g-size",), "place": "member"}),
    ("chain", {"pieces": ("g-mtime",), "place": "member"}),
    ("chain", {"pieces": ("x-mtime",), "place": "end"}),
    ("pax_records", {"op": "length-plus"}),
    ("pax_records", {"op": "length-leading-zero"}),
    ("pax_records", {"op": "length-short"}),
    ("pax_records", {"op": "length-long"}),
    ("pax_records", {"op": "size-short"}),
    ("pax_records", {"op": "size-long"}),
    ("pax_records", {"op": "padding-junk"}),
    ("pax_records", {"op": "no-newline"}),
    ("pax_records", {"op": "no-equals"}),
    ("pax_records", {"op": "nul-in-value", "key": b"path"}),
    ("pax_records", {"op": "empty-value", "key": b"path"}),
    ("pax_records", {"op": "empty-value", "key": b"mtime"}),
    ("pax_records", {"op": "duplicate-same", "key": b"mtime"}),
    ("pax_records", {"op": "hdrcharset", "value": b"ISO-8859-1"}),
    ("pax_records", {"op": "unknown-key", "key": b"foo.bar"}),
    ("pax_records", {"op": "unknown-key", "key": b"GNU.sparse.size"}),
    ("pax_records", {"op": "unknown-key", "key": b"SCHILY.realsize"}),
    ("pax_records", {"op": "number", "key": b"size", "value": b"5.5"}),
    ("pax_records", {"op": "number", "key": b"size", "value": b"+5"}),
    ("pax_records", {"op": "number", "key": b"uid", "value": b"4294967296"}),
    ("pax_records", {"op": "number", "key": b"mtime", "value": b"5e1"}),
    ("pax_records", {"op": "number", "key": b"gid", "value": "\u0665".encode()}),
    ("pax_records", {"op": "non-utf8-path"}),
    ("pax_records", {"op": "linkpath-on-file"}),
    ("gnu_longname", {"op": "no-nul", "flag": b"L"}),
    ("gnu_longname", {"op": "two-nuls", "flag": b"L"}),
    ("gnu_longname", {"op": "nul-inside", "flag": b"L"}),
    ("gnu_longname", {"op": "junk-after-nul", "flag": b"K"}),
    ("gnu_longname", {"op": "padding-junk", "flag": b"L"}),
    ("gnu_longname", {"op": "empty", "flag": b"L"}),
    ("gnu_longname", {"op": "trailing-slash", "flag": b"L"}),
    ("gnu_longname", {"op": "K-on-file", "flag": b"K"}),
    ("sizes", {"op": "negative-octal"}),
    ("sizes", {"op": "negative-base256"}),
    ("sizes", {"op": "two-to-63"}),
    ("sizes", {"op": "beyond-archive"}),
    ("sizes", {"op": "dir-with-data"}),
    ("sizes", {"op": "dir-size-no-data"}),
    ("sizes", {"op": "symlink-with-data"}),
    ("sizes", {"op": "hardlink-with-data"}),
    ("sizes", {"op": "pax-fraction"}),
    ("sizes", {"op": "pax-on-dir"}),
    ("strings", {"op": "name-junk"}),
    ("strings", {"op": "linkname-junk"}),
    ("strings", {"op": "uname-junk"}),
    ("strings", {"op": "gname-junk"}),
    ("strings", {"op": "link-on-file"}),
    ("strings", {"op": "link-on-dir"}),
    ("strings", {"op": "empty-name"}),
    ("ending", {"op": "junk-after-end"}),
    ("ending", {"op": "member-after-one-zero-block"}),
    ("ending", {"op": "member-after-end"}),
    ("ending", {"op": "partial-block"}),
]

# The same families inside the dialect: these must pass, with every reader agreeing.
ACCEPTED = [
    *(("valid", {"encoding": e}) for e in ("posix", "gnu", "pax", "gnu-long", "v7")),
    *(
        ("numbers", {"field": f, "encoding": "octal", "kind": "file"})
        for f in ("mode", "uid", "gid", "size", "mtime", "chksum", "devmajor", "devminor")
    ),
    ("numbers", {"field": "mode", "encoding": "leading-spaces", "kind": "file"}),
    ("numbers", {"field": "uid", "encoding": "trailing-space", "kind": "file"}),
    ("numbers", {"field": "mtime", "encoding": "space-nul", "kind": "dir"}),
    ("numbers", {"field": "devmajor", "encoding": "all-nuls", "kind": "file"}),
    ("numbers", {"field": "size", "encoding": "base256", "kind": "file"}),
    ("numbers", {"field": "uid", "encoding": "base256", "kind": "file"}),
    ("numbers", {"field": "mtime", "encoding": "base256-negative", "kind": "file"}),
    ("numbers", {"field": "chksum", "encoding": "trailing-space", "kind": "file"}),
    ("magic", {"magic": "posix", "owner": "names", "kind": "symlink"}),
    ("magic", {"magic": "gnu", "owner": "names", "kind": "hardlink"}),
    ("magic", {"magic": "v7", "owner": "none", "kind": "dir"}),
    ("prefix", {"magic": "posix", "prefix": "deep", "name": "plain"}),
    ("prefix", {"magic": "posix", "prefix": "full", "name": "full"}),
    ("typeflag", {"flag": b"7", "data": True, "link": False}),
    ("typeflag", {"flag": b"\0", "data": True, "link": False}),
    ("slash", {"source": "name", "flag": b"5", "ending": b"/", "data": False}),
    ("slash", {"source": "name", "flag": b"\0", "ending": b"/", "data": False}),
    ("slash", {"source": "pax", "flag": b"5", "ending": b"/", "data": False}),
    ("chain", {"pieces": ("g-comment",), "place": "member"}),
    ("chain", {"pieces": ("x-path", "L"), "place": "member"}),
    ("chain", {"pieces": ("L", "K"), "place": "member"}),
    ("pax_records", {"op": "valid"}),
    ("pax_records", {"op": "hdrcharset", "value": b"BINARY"}),
    ("pax_records", {"op": "unknown-key", "key": b"SCHILY.xattr.user.k"}),
    ("pax_records", {"op": "empty-value", "key": b"comment"}),
    ("pax_records", {"op": "number", "key": b"mtime", "value": b"-1.5"}),
    ("pax_records", {"op": "number", "key": b"uid", "value": b"05"}),
    ("pax_records", {"op": "uname-newline"}),
    ("gnu_longname", {"op": "valid", "flag": b"L"}),
    ("gnu_longname", {"op": "valid", "flag": b"K"}),
    ("strings", {"op": "uname-spaces"}),
    ("strings", {"op": "name-no-nul"}),
    ("ending", {"op": "valid"}),
    ("ending", {"op": "no-end-marker"}),
    ("ending", {"op": "one-zero-block"}),
    ("ending", {"op": "extra-zero-blocks"}),
]


def _id(example: tuple[str, dict[str, object]]) -> str:
    family, choices = example
    return family + ":" + ",".join(str(v) for v in choices.values())


@pytest.mark.parametrize("example", REFUSED, ids=_id)
def test_directed_variant_is_refused(
    example: tuple[str, dict[str, object]], tmp_path: Path
) -> None:
    family, choices = example
    case = directed(family, **choices)
    model = tmp_path / "model.tar.gz"
    model.write_bytes(case.gz())
    with pytest.raises(ValidationError), time_limit(TIME_LIMIT):
        scan(model)


@pytest.mark.parametrize("example", ACCEPTED, ids=_id)
def test_directed_control_is_accepted_and_read_alike(
    example: tuple[str, dict[str, object]], readers: list[str], tmp_path: Path
) -> None:
    family, choices = example
    [verdict] = check([(None, directed(family, **choices))], readers, tmp_path)
    assert verdict.outcome == "accepted", verdict.report()


# --- the readers' own listing code ---------------------------------------------------

ODD = [b"a b", b"new\nline", b"x -> y", b"p link to q", b"back\\slash", b"latin\xe9", b'"q"']


def test_every_reader_lists_odd_names_exactly(readers: list[str], tmp_path: Path) -> None:
    tar = record(header(b"d/", b"5", mode=0o755))
    expected = [Entry("d", "dir", 0, "", 0o755)]
    for number, name in enumerate(ODD):
        tar += record(header(b"d/" + name, b"0", number, mode=0o640), b"z" * number)
        expected.append(
            Entry("d/" + name.decode("utf-8", "surrogateescape"), "file", number, "", 0o640)
        )
    for name in ODD[:3]:
        tar += record(header(b"s " + name, b"2", linkname=b"d/" + name, mode=0o777))
        tar += record(header(b"h " + name, b"1", linkname=b"d/" + name, mode=0o4750))
        text = name.decode("utf-8", "surrogateescape")
        expected += [
            Entry("s " + text, "symlink", 0, "d/" + text, 0o777),
            Entry("h " + text, "hardlink", 0, "d/" + text, 0o4750),
        ]
    tar += pax([(b"path", "é/語".encode())]) + record(header(b"x", b"0", 1), b"!")
    expected.append(Entry("é/語", "file", 1, "", 0o644))
    path = tmp_path / "odd.tar.gz"
    path.write_bytes(gz(tar + bytes(1024)))
    for reader in readers:
        assert list_archive(reader, path) == tuple(expected), reader


def test_readers_see_the_differences_the_dialect_refuses(
    readers: list[str], tmp_path: Path
) -> None:
    """The harness can fail: two GNU long names are read first-wins by tarfile only."""
    path = tmp_path / "two-long-names.tar.gz"
    path.write_bytes(directed("chain", pieces=("L", "L-other"), place="member").gz())
    gnutar, bsdtar, tarfile = (list_archive(r, path)[-1].name for r in readers)
    assert gnutar == bsdtar != tarfile


def test_gnutar_listing_lines_parse_exactly() -> None:
    line = b'hrwsr-S--T 0/0 0 2023-11-14 22:13 "a \\"b\\" -> \\303\\251\\n" link to "x\\\\y"'
    assert parse_gnutar_line(line) == Entry('a "b" -> é\n', "hardlink", 0, "x\\y", 0o7740)
    assert parse_gnutar_line(b'crw------- 0/0 1,3 1970-01-01 00:00 "c"').kind == "chardev"
    assert c_unquote(b'"\\001\\t\\\\"', 0) == (b"\x01\t\\", 10)
    assert parse_mode("rwxr-x--t") == 0o1751
    with pytest.raises(ValueError):
        parse_gnutar_line(b'-rw-r--r-- 0/0 1 1970-01-01 00:00 "a" --Volume Header--')
