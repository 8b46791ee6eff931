"""pax times: refused exactly where tarfile's float reading parts from GNU tar's.

GNU tar and libarchive read a pax time as an exact decimal; tarfile reads it with
``float()``. DIALECT.md accepts a pax time only when both put it in the same second.
Each case is shown with the real readers first, then against the step.
"""

from __future__ import annotations

import math
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from differential import END, gz, header, pax, record
from dummy_training import scan
from dummy_training.errors import ValidationError
from readers import unavailable

# GNU tar's --full-time prints "HH:MM:SS[.fraction]", or the bare number of seconds
# when the time is beyond what it can show as a date.
_CLOCK = re.compile(rb" \d+-\d\d-\d\d (\d\d):(\d\d):(\d\d)(?:\.\d+)? f\n\Z")
_RAW = re.compile(rb" (-?\d+) f\n\Z")
# Where filters exist, name one: 3.12 and 3.13 warn without. It keeps the mtime.
FILTER = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}


def _archive(tmp_path: Path, value: bytes) -> Path:
    path = tmp_path / "model.tar.gz"
    path.write_bytes(gz(pax([(b"mtime", value)]) + record(header(b"f", b"0", 1), b"x") + END))
    return path


def _gnu_second_of_day(path: Path) -> int:
    """The second of the day in which GNU tar puts the member's time.

    Before 1970 from the time it extracts (its listing shows fractions of negative
    times off by one second); otherwise from its listing, since the file system would
    clamp the far future that these cases reach.
    """
    if unavailable("gnutar") is not None:
        pytest.skip(f"shown with GNU tar; {unavailable('gnutar')}")
    with tarfile.open(path, "r:gz") as archive:
        negative = archive.getmembers()[0].mtime < 0
    if negative:
        target = path.parent / "gnu"
        target.mkdir()
        subprocess.run(["tar", "-xzf", str(path), "-C", str(target)], check=True)
        return ((target / "f").stat().st_mtime_ns // 10**9) % 86400
    out = subprocess.run(
        ["tar", "--full-time", "-tvzf", str(path)],
        env={"LC_ALL": "C", "TZ": "UTC"},
        capture_output=True,
        check=True,
    ).stdout
    clock = _CLOCK.search(out)
    if clock is not None:
        hours, minutes, seconds = (int(x) for x in clock.groups())
        return hours * 3600 + minutes * 60 + seconds
    raw = _RAW.search(out)
    assert raw is not None, out
    return int(raw.group(1)) % 86400


def _tarfile_second_of_day(path: Path) -> int:
    with tarfile.open(path, "r:gz") as archive:
        [info] = archive.getmembers()
    return math.floor(info.mtime) % 86400


@pytest.mark.parametrize(
    "value",
    [
        b"9007199254740993",  # 2**53 + 1: the float is 2**53
        b"1700000000.99999999999",  # the float rounds up to 1700000001
        b"-5.0000000000000001",  # the float is -5.0, the exact value in second -6
    ],
)
def test_a_pax_time_tarfile_puts_in_another_second_is_refused(tmp_path: Path, value: bytes) -> None:
    path = _archive(tmp_path, value)
    assert _gnu_second_of_day(path) != _tarfile_second_of_day(path)
    with pytest.raises(ValidationError, match="is not exact as a float"):
        scan(path)


@pytest.mark.parametrize(
    "value",
    [b"9007199254740991", b"1700000000.5", b"1700000000.999999", b"-315619200.5", b"0"],
)
def test_a_pax_time_every_reader_puts_in_one_second_is_accepted(
    tmp_path: Path, value: bytes
) -> None:
    path = _archive(tmp_path, value)
    assert _gnu_second_of_day(path) == _tarfile_second_of_day(path)
    [member] = scan(path).members
    # The manifest keeps whole seconds toward zero, as int() of tarfile's float does.
    assert member.mtime == int(float(value))


def test_near_2_63_tarfile_cannot_extract_what_gnu_tar_extracts(tmp_path: Path) -> None:
    path = _archive(tmp_path, b"9223372036854775807")
    if unavailable("gnutar") is not None:
        pytest.skip(f"shown with GNU tar; {unavailable('gnutar')}")
    gnu = tmp_path / "gnu"
    gnu.mkdir()
    subprocess.run(["tar", "-xzf", str(path), "-C", str(gnu)], check=True)
    ours = tmp_path / "tarfile"
    try:
        with tarfile.open(path, "r:gz") as archive:
            archive.extractall(ours, **FILTER)
    except (OverflowError, ValueError, OSError):
        pass  # Python 3.10 and later: the float 2**63 is no time_t
    else:  # Python 3.8 and 3.9 set some other time
        assert (ours / "f").stat().st_mtime_ns != (gnu / "f").stat().st_mtime_ns
    with pytest.raises(ValidationError, match="is not exact as a float"):
        scan(path)
