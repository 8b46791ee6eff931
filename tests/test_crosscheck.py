"""Defence in depth: tarfile re-reads what the scan read, and the repack extracts only that."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from archives import SMALL, gz, tar_bytes
from dummy_training import extract_tarfile, scan
from dummy_training.crosscheck import TarfileWitness, _Elsewhere, _Shadow
from dummy_training.errors import ValidationError
from dummy_training.tarstream import Member, iter_members
from dummy_training.tarwrite import end_of_archive, header, padding

# `dummy_training.scan` the attribute is the function; the module is needed here.
pax_module = sys.modules["dummy_training.pax"]


def member(name: str, size: int, offset: int, kind: str = "file") -> Member:
    return Member(name, kind, size, 0o644, 0, 0, 0, "", "", "", None, offset)


def file_header(name: str, size: int) -> bytes:
    return header("file", name, size=size, mode=0o644, mtime=0)


def test_a_member_read_alike_passes_and_the_end_is_checked() -> None:
    witness = TarfileWitness("m.tar.gz")
    witness.member(0, file_header("a", 5), member("a", 5, 0))
    witness.member(1024, file_header("b", 0), member("b", 0, 1024))
    witness.end(1536, end_of_archive()[:512])


@pytest.mark.parametrize(
    ("claimed", "detail"),
    [
        (member("a", 7, 0), "('a', 'file', 5, '', 0, 512) where the scan reads ('a', 'file', 7"),
        (member("b", 5, 0), "('a', 'file', 5, '', 0, 512) where the scan reads ('b', 'file', 5"),
        (member("a", 0, 0, "dir"), "where the scan reads ('a', 'dir', 0"),
    ],
)
def test_a_member_read_otherwise_is_refused(claimed: Member, detail: str) -> None:
    witness = TarfileWitness("m.tar.gz")
    with pytest.raises(ValidationError) as caught:
        witness.member(0, file_header("a", 5), claimed)
    message = str(caught.value)
    assert message.startswith("m.tar.gz: Python's tarfile reads this archive differently: ")
    assert detail in message
    assert message.endswith("(ERROR_CODE: REFUSED_DIALECT)")


def test_tarfile_reading_into_file_data_is_refused() -> None:
    # The scan says "a" holds 1024 bytes where its header says 0.
    witness = TarfileWitness("m.tar.gz")
    with pytest.raises(ValidationError, match="where the scan reads"):
        witness.member(0, file_header("a", 0), member("a", 1024, 0))
    # The scan puts the next header at 1536; tarfile looks at 512, inside bytes the
    # scan read as data and kept nothing of.
    witness = TarfileWitness("m.tar.gz")
    witness.member(0, file_header("a", 0), member("a", 0, 0))
    with pytest.raises(ValidationError, match="tarfile reads 512 bytes at offset 512 as a header"):
        witness.member(1536, file_header("b", 0), member("b", 0, 1536))


def test_an_end_before_the_scans_is_refused() -> None:
    witness = TarfileWitness("m.tar.gz")
    witness.member(0, file_header("a", 0), member("a", 0, 0))
    with pytest.raises(ValidationError, match="it ends where the scan finds 'b' at offset 512"):
        witness.member(512, bytes(512), member("b", 0, 512))


def test_an_archive_without_an_end_marker_reads_alike() -> None:
    # The stream just stops after the last member: tarfile reads nothing there either.
    data = file_header("a", 0)
    found = list(iter_members([data], "m.tar.gz", witness=TarfileWitness("m.tar.gz")))
    assert [m.name for m in found] == ["a"]


def test_a_member_after_the_scans_end_is_refused() -> None:
    witness = TarfileWitness("m.tar.gz")
    witness.member(0, file_header("a", 0), member("a", 0, 0))
    with pytest.raises(
        ValidationError, match="it reads a tar member 'hidden' after the end at 512"
    ):
        witness.end(512, file_header("hidden", 0))


def test_tarfile_failing_is_a_refusal() -> None:
    witness = TarfileWitness("m.tar.gz")
    with pytest.raises(ValidationError, match="tarfile fails: ReadError"):
        witness.member(0, b"x" * 512, member("a", 0, 0))


def test_the_cross_check_catches_what_a_gap_in_the_dialect_would_let_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Make the scan as lenient as Python's float(): "2048.5" is then 2048 bytes to
    # the scan and 0 to tarfile, which lists the member hidden in that "data".
    monkeypatch.setattr(pax_module, "_check_record", lambda key, value, where, name: None)
    monkeypatch.setattr(
        pax_module,
        "integer",
        lambda records, key: int(float(records[key])) if key in records else None,
    )
    records = b"15 size=2048.5\n"
    pax = header("file", "PaxHeader/a", size=len(records), mode=0o644, mtime=0)
    pax = pax[:156] + b"x" + pax[157:]
    pax = pax[:148] + b"%06o\0 " % (sum(pax[:148]) + 256 + sum(pax[156:])) + pax[156:]
    hidden = file_header("../pwned.txt", 0)
    data = (
        pax
        + records
        + padding(len(records))
        + file_header("a", 0)
        + hidden
        + bytes(2048 - 512)
        + end_of_archive()
    )
    with pytest.raises(ValidationError, match="reads this archive differently"):
        list(iter_members([data], "m.tar.gz", witness=TarfileWitness("m.tar.gz")))


def test_the_repack_extracts_only_the_members_the_scan_read(tmp_path: Path) -> None:
    model = tmp_path / "model.tar.gz"
    model.write_bytes(gz(tar_bytes(SMALL)))
    members = scan(model).members
    wrong = [members[0]._replace(size=members[0].size + 1), *members[1:]]
    with pytest.raises(ValidationError, match="tarfile reads tar member 0 as"):
        extract_tarfile(model, tmp_path / "a", wrong)
    longer = [*members, members[0]._replace(name="missing.bin")]
    with pytest.raises(ValidationError, match=r"reads tar member 2 as None where the scan read \("):
        extract_tarfile(model, tmp_path / "b", longer)
    shorter = members[:1]
    with pytest.raises(ValidationError, match=r"reads tar member 1 as .* where the scan read None"):
        extract_tarfile(model, tmp_path / "c", shorter)
    extract_tarfile(model, tmp_path / "d")  # scans by itself when not given members
    assert sorted(p.name for p in (tmp_path / "d" / "model").iterdir()) == [
        "config.json",
        "weights.bin",
    ]


def test_the_shadow_answers_only_plain_reads_of_the_bytes_it_was_shown() -> None:
    shadow = _Shadow()
    shadow.show(512, b"h" * 512)
    assert shadow.seek(512) == 512
    assert shadow.read(512) == b"h" * 512
    for misuse in (lambda: shadow.seek(0, 1), lambda: shadow.read(), lambda: shadow.read(None)):
        with pytest.raises(_Elsewhere):
            misuse()
