"""Header-level tar variants for the differential harness, reproducible from a seed.

``generate(seed)`` builds one archive: a small valid tree plus one *subject* member
whose header is written in some variant encoding (a family below), or a valid archive
with bytes mutated inside a header block. The seed reproduces the bytes;
``Case.describe`` names the family and the choices it drew, and a family called with
those choices as keywords builds an example of the same kind (a directed test).
"""

from __future__ import annotations

import gzip
import random
from typing import Callable, Iterable, NamedTuple, Sequence, TypeVar

T = TypeVar("T")

BLOCK = 512
END = bytes(2 * BLOCK)
POSIX = b"ustar\x0000"
GNU = b"ustar  \x00"
V7 = bytes(8)
MTIME = 1_700_000_000

FIELDS = {
    "name": (0, 100),
    "mode": (100, 8),
    "uid": (108, 8),
    "gid": (116, 8),
    "size": (124, 12),
    "mtime": (136, 12),
    "chksum": (148, 8),
    "typeflag": (156, 1),
    "linkname": (157, 100),
    "magic": (257, 8),
    "uname": (265, 32),
    "gname": (297, 32),
    "devmajor": (329, 8),
    "devminor": (337, 8),
    "prefix": (345, 155),
}
NUMERIC = ("mode", "uid", "gid", "size", "mtime", "chksum", "devmajor", "devminor")

# Member names that are safe but hard to list exactly: every reader must print them
# back byte for byte, so the listing code is tested along with the archives.
NAMES = (
    b"weights.bin",
    b"a b",
    b"new\nline",
    b"x -> y",
    b"p link to q",
    b"back\\slash",
    b"latin\xe9",
    "é語".encode(),
    b'"quoted"',
    b"tab\tname",
    b"trailing ",
    b"-dash",
    b"ctl\x01\x7f",
)


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# pax strings must be UTF-8 (or say hdrcharset=BINARY); names for pax records come
# from here, so that only the families meant to test encodings break that rule.
UTF8_NAMES = tuple(n for n in NAMES if _is_utf8(n))


class Case(NamedTuple):
    family: str
    choices: tuple[tuple[str, object], ...]  # the family's keyword arguments
    tar: bytes

    @property
    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.choices)
        return f"{self.family}({args})"

    def gz(self) -> bytes:
        return gzip.compress(self.tar, mtime=0)


# --- raw headers -------------------------------------------------------------------


def octal(value: int, width: int) -> bytes:
    """``width - 1`` zero-padded octal digits and a NUL, as GNU tar writes."""
    return b"%0*o\x00" % (width - 1, value)


def checksum(block: bytes | bytearray) -> int:
    return sum(block[:148]) + 8 * ord(" ") + sum(block[156:BLOCK])


def fix_checksum(block: bytearray, encode: Callable[[int], bytes] | None = None) -> bytearray:
    """Store the checksum of ``block`` (chksum bytes do not count), in ``encode``'s form."""
    block[148:156] = (encode or (lambda n: b"%06o\x00 " % n))(checksum(block)).ljust(8, b"\0")
    return block


def header(
    name: bytes,
    flag: bytes = b"0",
    size: int = 0,
    *,
    mode: int = 0o644,
    linkname: bytes = b"",
    magic: bytes = POSIX,
    fields: dict[str, bytes] | None = None,
    chksum: Callable[[int], bytes] | None = None,
) -> bytes:
    """One header block; ``fields`` overwrite whole fields with raw bytes (NUL-filled)."""
    block = bytearray(BLOCK)
    values = {
        "name": name,
        "mode": octal(mode, 8),
        "uid": octal(0, 8),
        "gid": octal(0, 8),
        "size": octal(size, 12) if size < 8**11 else b"\x80" + size.to_bytes(11, "big"),
        "mtime": octal(MTIME, 12),
        "typeflag": flag,
        "linkname": linkname,
        "magic": magic,
    }
    if magic != V7:
        values.update(devmajor=octal(0, 8), devminor=octal(0, 8))
    values.update(fields or {})
    for field, value in values.items():
        offset, width = FIELDS[field]
        if len(value) > width:
            raise ValueError(f"{field}: {value!r} is longer than {width} bytes")
        block[offset : offset + width] = value.ljust(width, b"\0")
    return bytes(fix_checksum(block, chksum))


def record(block: bytes, data: bytes = b"", padding: bytes | None = None) -> bytes:
    """A header with its data, padded to whole blocks (with NULs unless ``padding``)."""
    pad = -len(data) % BLOCK
    fill = (padding or b"\0") * pad
    return block + data + fill[:pad]


def frame(body: bytes, length: bytes | None = None) -> bytes:
    """``LEN body`` with the decimal length that counts itself, unless ``length`` is given."""
    n = len(body) + 2
    while len(str(n)) + 1 + len(body) != n:
        n = len(str(n)) + 1 + len(body)
    return (b"%d" % n if length is None else length) + b" " + body


def pax_record(key: bytes, value: bytes, *, length: bytes | None = None) -> bytes:
    return frame(key + b"=" + value + b"\n", length)


def pax(
    records: Iterable[tuple[bytes, bytes]] | bytes,
    flag: bytes = b"x",
    *,
    size: int | None = None,
    padding: bytes | None = None,
) -> bytes:
    """A pax header (``x`` or ``g``) holding ``records`` (or raw data)."""
    data = records if isinstance(records, bytes) else b"".join(pax_record(*r) for r in records)
    declared = len(data) if size is None else size
    return record(header(b"./PaxHeaders/subject", flag, declared), data, padding)


def gnu_long(flag: bytes, text: bytes, data: bytes | None = None) -> bytes:
    """A GNU ``L`` (name) or ``K`` (link) header holding ``text`` and its NUL."""
    data = text + b"\0" if data is None else data
    return record(header(b"././@LongLink", flag, len(data), mode=0, magic=GNU), data)


def gz(tar: bytes) -> bytes:
    return gzip.compress(tar, mtime=0)


# --- the tree around the subject ---------------------------------------------------

TARGET = b"model/weights.bin"  # always in the tree: links point here


class Subject(NamedTuple):
    kind: str
    name: bytes
    data: bytes
    link: bytes

    @property
    def flag(self) -> bytes:
        return {"file": b"0", "dir": b"5", "symlink": b"2", "hardlink": b"1"}[self.kind]

    def header(self, name: bytes | None = None, **kw: object) -> bytes:
        args: dict[str, object] = {
            "linkname": self.link,
            "mode": 0o755 if self.kind == "dir" else 0o644,
        }
        args.update(kw)
        return header(self.name if name is None else name, self.flag, len(self.data), **args)  # type: ignore[arg-type]

    def record(self, **kw: object) -> bytes:
        return record(self.header(**kw), self.data)


def subject(rng: random.Random, kind: str | None = None, *, utf8: bool = False) -> Subject:
    kind = kind or rng.choice(["file", "file", "dir", "symlink", "hardlink"])
    name = rng.choice(UTF8_NAMES if utf8 else NAMES)
    if kind == "file":
        return Subject(kind, name, randbytes(rng, rng.choice([0, 1, 511, 512, 700])), b"")
    link = {"symlink": TARGET, "hardlink": TARGET}.get(kind, b"")
    return Subject(kind, name + b"/" if kind == "dir" else name, b"", link)


def tree(rng: random.Random, around: bytes, end: bytes = END) -> bytes:
    """A valid tree with ``around`` (the subject's blocks) after the link target."""
    members = [
        record(header(b"model/", b"5", mode=0o755)),
        record(header(TARGET, b"0", 5), b"12345"),
    ]
    tail = [
        record(header(b"model/" + rng.choice(NAMES), b"0", 3), b"abc"),
        record(header(b"model/sym", b"2", linkname=b"weights.bin")),
        record(header(b"model/hard", b"1", linkname=TARGET)),
    ]
    rng.shuffle(tail)
    members += tail[: rng.randrange(len(tail) + 1)]
    # Mostly after the link target, so that a hard link subject is valid; sometimes
    # first, where readers treat a bad header at offset 0 differently.
    earliest = 0 if rng.random() < 0.25 else 2
    members.insert(rng.randrange(earliest, len(members) + 1), around)
    return b"".join(members) + end


def randbytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


# --- families ----------------------------------------------------------------------
# Each family takes the rng and optional keyword choices (drawn when None) and returns
# a Case; its choices name every decision, so a directed example is one call.

Family = Callable[..., Case]
FAMILIES: dict[str, Family] = {}


def family(fn: Family) -> Family:
    FAMILIES[fn.__name__] = fn
    return fn


def _pick(rng: random.Random, value: T | None, options: Iterable[T]) -> T:
    return rng.choice(list(options)) if value is None else value


NUMBER_ENCODINGS: dict[str, Callable[[int, int, random.Random], bytes]] = {
    "octal": lambda v, w, r: octal(v, w),
    "octal-unterminated": lambda v, w, r: b"%0*o" % (w, v),
    "leading-spaces": lambda v, w, r: (b"%o" % v).rjust(w - 1) + b"\0",
    "trailing-space": lambda v, w, r: b"%0*o " % (w - 2, v),
    "space-nul": lambda v, w, r: b"%o \0 \0" % v,
    "leading-nul": lambda v, w, r: b"\0" + b"%0*o" % (w - 1, v),
    "junk-after-nul": lambda v, w, r: b"%o\0" % v + b"7",
    "digits-space-digits": lambda v, w, r: b"%o 1" % v,
    "0o-prefix": lambda v, w, r: b"0o%o" % v,
    "underscore": lambda v, w, r: b"%o" % v + b"_0" if v else b"0_0",
    "plus": lambda v, w, r: b"+%o" % v,
    "minus": lambda v, w, r: b"-%o" % v,
    "tab": lambda v, w, r: b"\t%o" % v,
    "digits-8-9": lambda v, w, r: b"98",
    "all-sevens": lambda v, w, r: b"7" * w,
    "all-nuls": lambda v, w, r: bytes(w),
    "all-spaces": lambda v, w, r: b" " * w,
    "base256": lambda v, w, r: b"\x80" + v.to_bytes(w - 1, "big"),
    "base256-negative": lambda v, w, r: (-(v or 1)).to_bytes(w, "big", signed=True),
    "base256-huge": lambda v, w, r: b"\x80" + b"\x7f" + b"\xff" * (w - 2),
    "base256-other-lead": lambda v, w, r: b"\xc0" + v.to_bytes(w - 1, "big"),
    "garbage": lambda v, w, r: bytes(r.randrange(1, 256) for _ in range(w)),
}


@family
def numbers(
    rng: random.Random,
    field: str | None = None,
    encoding: str | None = None,
    kind: str | None = None,
) -> Case:
    """One numeric header field of the subject in one encoding."""
    field = _pick(rng, field, NUMERIC)
    encoding = _pick(rng, encoding, NUMBER_ENCODINGS)
    kind = _pick(rng, kind, ["file", "dir", "symlink"])
    subj = subject(rng, kind)
    encode = NUMBER_ENCODINGS[encoding]
    width = FIELDS[field][1]
    if field == "chksum":
        block = subj.header(chksum=lambda n: encode(n, width, rng)[:width])
    else:
        value = {"mode": 0o644, "uid": 1000, "gid": 1000, "size": len(subj.data), "mtime": MTIME}
        raw = encode(value.get(field, 0), width, rng)[:width]
        block = subj.header(fields={field: raw})
    return Case(
        "numbers",
        (("field", field), ("encoding", encoding), ("kind", kind)),
        tree(rng, record(block, subj.data)),
    )


MAGICS = {
    "posix": POSIX,
    "gnu": GNU,
    "v7": V7,
    "ustar-nul-nul-nul": b"ustar\0\0\0",
    "ustar-nul-spaces": b"ustar\0  ",
    "ustar-version-01": b"ustar\x0001",
    "ustar-space-00": b"ustar 00",
    "ustar-space-nuls": b"ustar \x00\x00",
    "upper-case": b"USTAR\x0000",
    "ustar-no-nul": b"ustar000",
    "garbage": b"\x01tar\x02\x03\x04\x05",
}


@family
def magic(
    rng: random.Random, magic: str | None = None, owner: str | None = None, kind: str | None = None
) -> Case:
    """Magic and version variants; ``owner`` puts text where ustar keeps user names."""
    magic = _pick(rng, magic, MAGICS)
    owner = _pick(rng, owner, ["none", "names"])
    kind = _pick(rng, kind, ["file", "dir", "symlink", "hardlink"])
    subj = subject(rng, kind)
    fields = {"uname": b"root", "gname": b"root"} if owner == "names" else {}
    block = subj.header(magic=MAGICS[magic], fields=fields)
    return Case(
        "magic",
        (("magic", magic), ("owner", owner), ("kind", kind)),
        tree(rng, record(block, subj.data)),
    )


PREFIXES = {
    "dir": b"model",
    "deep": b"model/sub",
    "trailing-slash": b"model/",
    "junk-after-nul": b"model\0junk",
    "full": b"p" * 155,
}


@family
def prefix(
    rng: random.Random,
    magic: str | None = None,
    prefix: str | None = None,
    name: str | None = None,
) -> Case:
    """A ustar prefix under each magic; GNU headers keep atime/ctime in the same bytes."""
    magic = _pick(rng, magic, ["posix", "gnu", "v7"])
    prefix = _pick(rng, prefix, PREFIXES)
    name = _pick(rng, name, ["plain", "empty", "full"])
    base = {"plain": b"pre-" + rng.choice(NAMES), "empty": b"", "full": b"n" * 100}[name]
    block = header(base, b"0", 3, magic=MAGICS[magic], fields={"prefix": PREFIXES[prefix]})
    return Case(
        "prefix",
        (("magic", magic), ("prefix", prefix), ("name", name)),
        tree(rng, record(block, b"xyz")),
    )


TYPEFLAGS = b"0\x00712345678SVMNADIXKLxgZ \xff"


@family
def typeflag(
    rng: random.Random,
    flag: bytes | None = None,
    data: bool | None = None,
    link: bool | None = None,
) -> Case:
    """Every type flag, with and without data and a link target."""
    chosen = bytes([rng.choice(TYPEFLAGS)]) if flag is None else flag
    data = _pick(rng, data, [True, False])
    link = _pick(rng, link, [True, False])
    payload = b"data" * 40 if data else b""
    block = header(
        b"typed-" + rng.choice(NAMES), chosen, len(payload), linkname=TARGET if link else b""
    )
    return Case(
        "typeflag",
        (("flag", chosen), ("data", data), ("link", link)),
        tree(rng, record(block, payload)),
    )


@family
def slash(
    rng: random.Random,
    source: str | None = None,
    flag: bytes | None = None,
    ending: bytes | None = None,
    data: bool | None = None,
) -> Case:
    """Names ending in '/' from each name source, on each kind."""
    source = _pick(rng, source, ["name", "pax", "gnu-long", "prefix"])
    chosen = bytes([rng.choice(b"0\x007512")]) if flag is None else flag
    ending = _pick(rng, ending, [b"/", b"//", b"/."])
    data = _pick(rng, data, [True, False])
    payload = b"0123456789" * 60 if data else b""
    name = b"slash-" + rng.choice(UTF8_NAMES) + ending
    link = TARGET if chosen in b"12" else b""
    before = b""
    fields: dict[str, bytes] = {}
    if source == "pax":
        before = pax([(b"path", name)])
        name = b"placeholder"
    elif source == "gnu-long":
        before = gnu_long(b"L", name)
        name = b"placeholder"
    elif source == "prefix":
        fields = {"prefix": b"model"}
    block = header(name, chosen, len(payload), linkname=link, fields=fields)
    return Case(
        "slash",
        (("source", source), ("flag", chosen), ("ending", ending), ("data", data)),
        tree(rng, before + record(block, payload)),
    )


CHAIN_PIECES = (
    "x-path",
    "x-path-other",
    "x-linkpath",
    "x-mtime",
    "x-size",
    "L",
    "L-other",
    "K",
    "K-other",
    "g-comment",
    "g-path",
    "g-size",
    "g-mtime",
    "g-uname",
)


@family
def chain(
    rng: random.Random, pieces: tuple[str, ...] | None = None, place: str | None = None
) -> Case:
    """Extension headers in chains and orders, before a member or with none after."""
    if pieces is None:
        pieces = tuple(rng.choice(CHAIN_PIECES) for _ in range(rng.randrange(1, 4)))
    place = _pick(rng, place, ["member", "member", "end"])
    linked = any(p.startswith(("K", "x-link")) for p in pieces)
    subj = subject(rng, "symlink" if linked else rng.choice(["file", "dir"]), utf8=True)
    other = b"model/other-" + rng.choice(UTF8_NAMES)
    build = {
        "x-path": lambda: pax([(b"path", subj.name)]),
        "x-path-other": lambda: pax([(b"path", other)]),
        "x-linkpath": lambda: pax([(b"linkpath", b"model/sym")]),
        "x-mtime": lambda: pax([(b"mtime", b"1700000001")]),
        "x-size": lambda: pax([(b"size", b"%d" % len(subj.data))]),
        "L": lambda: gnu_long(b"L", subj.name),
        "L-other": lambda: gnu_long(b"L", other),
        "K": lambda: gnu_long(b"K", subj.link or TARGET),
        "K-other": lambda: gnu_long(b"K", b"model/sym"),
        "g-comment": lambda: pax([(b"comment", b"made by git")], b"g"),
        "g-path": lambda: pax([(b"path", other)], b"g"),
        "g-size": lambda: pax([(b"size", b"7")], b"g"),
        "g-mtime": lambda: pax([(b"mtime", b"1")], b"g"),
        "g-uname": lambda: pax([(b"uname", b"someone")], b"g"),
    }
    extensions = b"".join(build[p]() for p in pieces)
    if place == "end":
        tar = tree(rng, subj.record(), end=extensions + END)
    else:
        tar = tree(rng, extensions + subj.record())
    return Case("chain", (("pieces", pieces), ("place", place)), tar)


PAX_OPS = (
    "valid",
    "length-plus",
    "length-leading-zero",
    "length-short",
    "length-long",
    "length-zero",
    "length-space-first",
    "size-short",
    "size-long",
    "padding-junk",
    "nul-in-value",
    "empty-value",
    "duplicate-same",
    "duplicate-different",
    "hdrcharset",
    "unknown-key",
    "no-newline",
    "no-equals",
    "key-with-space",
    "number",
    "non-utf8-path",
    "uname-newline",
    "linkpath-on-file",
)
PAX_KEYS = (
    b"path",
    b"linkpath",
    b"size",
    b"uid",
    b"gid",
    b"uname",
    b"gname",
    b"mtime",
    b"atime",
    b"ctime",
    b"comment",
)
PAX_UNKNOWN = (
    b"foo.bar",
    b"SCHILY.xattr.user.k",
    b"LIBARCHIVE.xattr.user.k",
    b"SCHILY.acl.access",
    b"SCHILY.dev",
    b"SCHILY.devmajor",
    b"SCHILY.realsize",
    b"SUN.holesdata",
    b"GNU.sparse.size",
    b"GNU.sparse.major",
    b"GNU.sparse.name",
    b"GNU.sparse.map",
    b"RHT.security.selinux",
    b"LIBARCHIVE.creationtime",
    b"charset",
)
PAX_NUMBERS = (
    b"+5",
    b"05",
    b"5.5",
    b"5.",
    b".5",
    b"-5",
    b"-0",
    b"5e1",
    b" 5",
    b"5 ",
    b"0x5",
    b"5_0",
    "\u0665".encode(),
    b"%d" % (1 << 32),
    b"%d" % (1 << 63),
    b"%d" % (1 << 64),
    b"1.000000001",
    b"-1.5",
)
HDRCHARSETS = (b"BINARY", b"ISO-IR 10646 2000 UTF-8", b"binary", b"ISO-8859-1", b"")


@family
def pax_records(
    rng: random.Random,
    op: str | None = None,
    key: bytes | None = None,
    value: bytes | None = None,
) -> Case:
    """One pax header whose framing or records are off in one way."""
    op = _pick(rng, op, PAX_OPS)
    subj = subject(rng, rng.choice(["file", "file", "dir"]), utf8=True)
    path = subj.name
    records = [(b"path", path), (b"mtime", b"1700000000.5")]
    raw: bytes | None = None
    size: int | None = None
    padding: bytes | None = None
    if op.startswith("length-") and op != "length-space-first":
        n = len(pax_record(b"path", path))
        length = {
            "length-plus": b"+%d" % n,
            "length-leading-zero": b"0%d" % n,
            "length-short": b"%d" % (n - rng.randrange(1, 4)),
            "length-long": b"%d" % (n + rng.randrange(1, 4)),
            "length-zero": b"0",
        }[op]
        raw = pax_record(b"path", path, length=length) + pax_record(b"mtime", b"1")
    elif op == "length-space-first":
        raw = b" " + pax_record(b"path", path)
    elif op in ("size-short", "size-long"):
        raw = b"".join(pax_record(*r) for r in records)
        size = len(raw) + (rng.randrange(1, 9) if op == "size-long" else -rng.randrange(1, 9))
    elif op == "padding-junk":
        padding = b"\n"
    elif op in ("nul-in-value", "empty-value"):
        key = _pick(rng, key, PAX_KEYS)
        records = [r for r in records if r[0] != key] + [(key, b"a\0b" if op[0] == "n" else b"")]
    elif op in ("duplicate-same", "duplicate-different"):
        key = _pick(rng, key, [b"path", b"mtime", b"uname", b"size"])
        first = {b"path": path, b"mtime": b"1", b"uname": b"u", b"size": b"%d" % len(subj.data)}
        second = first[key] if op == "duplicate-same" else first[key] + b"0"
        records = [r for r in records if r[0] != key] + [(key, first[key]), (key, second)]
    elif op == "hdrcharset":
        value = _pick(rng, value, HDRCHARSETS)
        records.append((b"hdrcharset", value))
        if rng.random() < 0.5:
            records[0] = (b"path", b"bin-\xff" + path)
    elif op == "unknown-key":
        key = _pick(rng, key, PAX_UNKNOWN)
        records.append((key, b"1"))
    elif op in ("no-newline", "no-equals", "key-with-space"):
        bad = {
            "no-newline": b"path=" + path,
            "no-equals": b"path" + path + b"\n",
            "key-with-space": b"pa th=" + path + b"\n",
        }[op]
        raw = pax_record(b"mtime", b"1") + frame(bad)
    elif op == "number":
        key = _pick(rng, key, [b"size", b"uid", b"gid", b"mtime", b"atime"])
        value = _pick(rng, value, PAX_NUMBERS)
        records = [r for r in records if r[0] != key] + [(key, value)]
    elif op == "non-utf8-path":
        records[0] = (b"path", b"bin-\xff\xfe" + path)
    elif op == "uname-newline":
        records.append((b"uname", b"us er\nname"))
    elif op == "linkpath-on-file":
        records.append((b"linkpath", TARGET))
    if raw is None:
        raw = b"".join(pax_record(*r) for r in records)
    before = pax(raw, size=size, padding=padding)
    block = subj.header(name=b"placeholder/" if subj.kind == "dir" else b"placeholder")
    return Case(
        "pax_records",
        (("op", op), ("key", key), ("value", value)),
        tree(rng, before + record(block, subj.data)),
    )


LONG_OPS = (
    "valid",
    "no-nul",
    "two-nuls",
    "nul-inside",
    "junk-after-nul",
    "padding-junk",
    "empty",
    "only-nul",
    "trailing-slash",
    "K-on-file",
    "newline",
)


@family
def gnu_longname(rng: random.Random, op: str | None = None, flag: bytes | None = None) -> Case:
    """GNU ``L``/``K`` framing: the name, its one NUL, and the padding after it."""
    op = _pick(rng, op, LONG_OPS)
    chosen = _pick(rng, flag, [b"L", b"K"])
    subj = subject(rng, "symlink" if chosen == b"K" else "file")
    text = subj.link if chosen == b"K" else subj.name
    data = {
        "valid": text + b"\0",
        "no-nul": text,
        "two-nuls": text + b"\0\0",
        "nul-inside": text[:1] + b"\0" + text[1:] + b"\0",
        "junk-after-nul": text + b"\0junk",
        "padding-junk": text + b"\0",
        "empty": b"",
        "only-nul": b"\0",
        "trailing-slash": text + b"/\0",
        "K-on-file": TARGET + b"\0",
        "newline": text + b"\n\0",
    }[op]
    if op == "K-on-file":
        chosen, subj = b"K", subject(rng, "file")
    long_header = header(b"././@LongLink", chosen, len(data), mode=0, magic=GNU)
    long_record = record(long_header, data, padding=b"x" if op == "padding-junk" else None)
    block = subj.header(magic=GNU)
    return Case(
        "gnu_longname",
        (("op", op), ("flag", chosen)),
        tree(rng, long_record + record(block, subj.data)),
    )


SIZE_OPS = (
    "negative-octal",
    "negative-base256",
    "beyond-archive",
    "two-to-63",
    "dir-with-data",
    "dir-size-no-data",
    "symlink-with-data",
    "hardlink-with-data",
    "pax-smaller",
    "pax-larger",
    "pax-fraction",
    "pax-on-dir",
    "short-data",
)


@family
def sizes(rng: random.Random, op: str | None = None) -> Case:
    """Sizes that are negative, huge, fractional, or given to members without data."""
    op = _pick(rng, op, SIZE_OPS)
    data = b"S" * 1000
    name = b"sized-" + rng.choice(NAMES)
    before = b""
    if op == "negative-octal":
        blocks = record(header(name, fields={"size": b"-1000"}), data)
    elif op == "negative-base256":
        blocks = record(header(name, fields={"size": (-1000).to_bytes(12, "big", signed=True)}))
    elif op == "beyond-archive":
        blocks = record(header(name, b"0", 1 << 20), data)
    elif op == "two-to-63":
        blocks = record(header(name, b"0", 1 << 63), data)
    elif op in ("dir-with-data", "dir-size-no-data"):
        body = data if op == "dir-with-data" else b""
        blocks = record(header(name + b"/", b"5", len(data), mode=0o755), body)
    elif op in ("symlink-with-data", "hardlink-with-data"):
        flag = b"2" if op.startswith("sym") else b"1"
        blocks = record(header(name, flag, len(data), linkname=TARGET), data)
    elif op in ("pax-smaller", "pax-larger", "pax-fraction"):
        value = {"pax-smaller": b"10", "pax-larger": b"1500", "pax-fraction": b"1000.5"}[op]
        before = pax([(b"size", value)])
        blocks = record(header(name, b"0", len(data)), data)
    elif op == "pax-on-dir":
        before = pax([(b"size", b"1000")])
        blocks = record(header(name + b"/", b"5", 0, mode=0o755), data)
    else:  # short-data: the header says more than the data that follows
        blocks = record(header(name, b"0", 1500), data)
    return Case("sizes", (("op", op),), tree(rng, before + blocks))


STRING_OPS = (
    "name-junk",
    "linkname-junk",
    "uname-junk",
    "gname-junk",
    "link-on-file",
    "link-on-dir",
    "empty-name",
    "uname-spaces",
    "uname-newline",
    "name-no-nul",
)


@family
def strings(rng: random.Random, op: str | None = None) -> Case:
    """String fields: bytes after the NUL, link targets where none belong, odd owners."""
    op = _pick(rng, op, STRING_OPS)
    subj = subject(rng, "symlink" if op == "linkname-junk" else "file")
    fields: dict[str, bytes] = {}
    kw: dict[str, object] = {}
    if op.endswith("-junk"):
        field = op[: -len("-junk")]
        base = {"name": subj.name, "linkname": subj.link, "uname": b"root", "gname": b"root"}
        fields[field] = base[field] + b"\0junk"
    elif op == "link-on-file":
        kw["linkname"] = TARGET
    elif op == "link-on-dir":
        subj = subject(rng, "dir")
        kw["linkname"] = TARGET
    elif op == "empty-name":
        fields["name"] = b""
    elif op == "uname-spaces":
        fields.update(uname=b"a user", gname=b"a group")
    elif op == "uname-newline":
        fields.update(uname=b"a\nuser")
    else:
        fields["name"] = b"n" * 100
    return Case(
        "strings", (("op", op),), tree(rng, record(subj.header(fields=fields, **kw), subj.data))
    )


END_OPS = (
    "valid",
    "junk-after-end",
    "member-after-one-zero-block",
    "member-after-end",
    "no-end-marker",
    "one-zero-block",
    "extra-zero-blocks",
    "partial-block",
)


@family
def ending(rng: random.Random, op: str | None = None) -> Case:
    """What follows the last member: end marker variants and what lies beyond it."""
    op = _pick(rng, op, END_OPS)
    late = record(header(b"late-" + rng.choice(NAMES), b"0", 4), b"late")
    end = {
        "valid": END,
        "junk-after-end": END + b"junk" + bytes(BLOCK - 4),
        "member-after-one-zero-block": bytes(BLOCK) + late + END,
        "member-after-end": END + late + END,
        "no-end-marker": b"",
        "one-zero-block": bytes(BLOCK),
        "extra-zero-blocks": bytes(20 * BLOCK),
        "partial-block": END + b"\0" * 100 + b"\x01",
    }[op]
    subj = subject(rng)
    return Case("ending", (("op", op),), tree(rng, subj.record(), end=end))


@family
def valid(rng: random.Random, encoding: str | None = None) -> Case:
    """A valid member in each encoding a writer uses: ustar, GNU, pax, v7."""
    encoding = _pick(rng, encoding, ["posix", "gnu", "pax", "gnu-long", "v7"])
    subj = subject(rng)
    if encoding == "pax":
        records = [(b"path", subj.name), (b"mtime", b"1700000000.25")]
        if not _is_utf8(subj.name):  # as GNU tar and libarchive write such names
            records.insert(0, (b"hdrcharset", b"BINARY"))
        blocks = pax(records) + subj.record()
    elif encoding == "gnu-long":
        blocks = gnu_long(b"L", subj.name) + subj.record(magic=GNU)
    else:
        blocks = subj.record(magic=MAGICS[encoding])
    return Case("valid", (("encoding", encoding),), tree(rng, blocks))


def header_offsets(tar: bytes) -> list[int]:
    """Offsets of the header blocks of a well-formed stream (as the generators write)."""
    offsets = []
    pos = 0
    while pos + BLOCK <= len(tar) and tar[pos : pos + BLOCK].strip(b"\0"):
        offsets.append(pos)
        field = tar[pos + 124 : pos + 136]
        size = int.from_bytes(field[1:], "big") if field[0] == 0x80 else int(field[:11] or b"0", 8)
        pos += BLOCK + -(-size // BLOCK) * BLOCK
    return offsets


MUTATION_BYTES = b"\x00 /0178\x80\xffxLKgS."


@family
def mutate(rng: random.Random, base: int | None = None, fix: bool | None = None) -> Case:
    """Bytes overwritten inside one header block of a valid archive, checksum re-fixed."""
    base = rng.randrange(1 << 30) if base is None else base
    fix = _pick(rng, fix, [True] * 9 + [False])
    source = random.Random(base)
    tar = bytearray(
        valid(source).tar if source.random() < 0.5 else pax_records(source, "valid").tar
    )
    offsets = header_offsets(bytes(tar))
    at = rng.choice(offsets)
    edits = []
    for _ in range(rng.randrange(1, 4)):
        pos = at + rng.randrange(BLOCK) if rng.random() < 0.3 else at + rng.randrange(345)
        byte = rng.choice(MUTATION_BYTES) if rng.random() < 0.7 else rng.randrange(256)
        tar[pos] = byte
        edits.append((pos, byte))
    if fix:
        block = bytearray(tar[at : at + BLOCK])
        tar[at : at + BLOCK] = fix_checksum(block)
    return Case("mutate", (("base", base), ("fix", fix), ("edits", tuple(edits))), bytes(tar))


class Plain(random.Random):
    """A stand-in rng for directed cases: first options, no extras, subject last.

    With it a family builds ``model/``, ``model/weights.bin`` and the subject named
    ``weights.bin`` (no data), so any refusal is the subject's doing.
    """

    def choice(self, seq: Sequence[T]) -> T:
        return seq[0]

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        return start if stop is not None else 0

    def random(self) -> float:
        return 0.5

    def shuffle(self, x: list[object], random: object = None) -> None:  # type: ignore[override]
        pass


def directed(family: str, **choices: object) -> Case:
    return FAMILIES[family](Plain(0), **choices)


# How often each family is drawn: mutation explores what the lists above miss.
WEIGHTS = {name: 1 for name in FAMILIES}
WEIGHTS.update(mutate=4, valid=1)


def generate(seed: int) -> Case:
    """The archive for ``seed``: the same bytes on every run and every Python."""
    rng = random.Random(seed)
    names = sorted(WEIGHTS)
    name = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
    return FAMILIES[name](rng)
