"""Read the scanned tar stream again with the running Python's tarfile, and compare."""

from __future__ import annotations

import io
import tarfile

from .errors import ValidationError
from .tarstream import Member

_KINDS = {
    tarfile.REGTYPE: "file",
    tarfile.AREGTYPE: "file",
    tarfile.CONTTYPE: "file",
    tarfile.LNKTYPE: "hardlink",
    tarfile.SYMTYPE: "symlink",
    tarfile.CHRTYPE: "chardev",
    tarfile.BLKTYPE: "blockdev",
    tarfile.DIRTYPE: "dir",
    tarfile.FIFOTYPE: "fifo",
}


def as_read(info: tarfile.TarInfo) -> tuple[str, str, int, str]:
    """Name, kind, size and link target of a member as tarfile read it.

    Python 3.7 to 3.9 keep the '/' of a directory named by a GNU long name; the
    directory is the same one, so the slash is not a difference.
    """
    return (
        info.name.rstrip("/") if info.isdir() else info.name,
        _KINDS.get(info.type, repr(info.type)),
        info.size if info.isreg() else 0,
        info.linkname if info.islnk() or info.issym() else "",
    )


def as_scanned(member: Member) -> tuple[str, str, int, str]:
    """The same for a member as the scan read it (tarfile drops a directory's '/')."""
    name = member.name.rstrip("/") if member.kind == "dir" else member.name
    return (name, member.kind, member.size, member.linkname)


class _Elsewhere(Exception):
    """tarfile asked for bytes that the scan read as file data: it reads another tree."""


class _Shadow(io.RawIOBase):
    """The tar stream as far as tarfile may look at it: the header bytes the scan kept.

    File data is not kept (it may be gigabytes). A reader that agrees with the scan
    only ever seeks over it; any read inside it is itself the disagreement.
    """

    def __init__(self) -> None:
        super().__init__()
        self._start = 0
        self._bytes = b""
        self._pos = 0
        self._last = False

    def show(self, start: int, headers: bytes, last: bool = False) -> None:
        """The next member's header bytes, which start where the previous data ends.

        ``last``: the stream ends after them, so tarfile may read up to its end.
        """
        self._start, self._bytes, self._last = start, headers, last

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            raise _Elsewhere(f"a relative seek ({whence})")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        start = self._pos
        if size is None or size < 0:
            raise _Elsewhere(f"a read to the end at offset {start}")
        if size == 1 and start == self._start - 1:
            # tarfile probes the last byte of the data it skipped; the scan read it.
            self._pos += 1
            return b"\0"
        begin = start - self._start
        if begin < 0 or (begin + size > len(self._bytes) and not self._last):
            raise _Elsewhere(f"{size} bytes at offset {start}")
        self._pos += size
        return self._bytes[begin : begin + size]


class TarfileWitness:
    """Checks, member by member, that tarfile reads what the scan read.

    It is fed by ``tarstream.iter_members`` as a ``Witness``; tarfile runs in
    lockstep on the same decompressed bytes, so there is no second inflate.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._shadow = _Shadow()
        self._tar: tarfile.TarFile | None = None

    def _next(self) -> tarfile.TarInfo | None:
        try:
            if self._tar is None:
                # Reads the first member at once; next() then hands it over.
                self._tar = tarfile.TarFile(
                    fileobj=self._shadow, mode="r", encoding="utf-8", errors="surrogateescape"
                )
            found = self._tar.next()
            # tarfile keeps every member it reads; we need none of them.
            self._tar.members.clear()  # type: ignore[attr-defined]
            return found
        except _Elsewhere as exc:
            raise self._differs(f"tarfile reads {exc} as a header") from None
        except Exception as exc:  # any failure of tarfile's is a disagreement
            raise self._differs(f"tarfile fails: {exc!r}") from None

    def _differs(self, cause: str) -> ValidationError:
        return ValidationError(
            f"{self._path}: Python's tarfile reads this archive differently: {cause}",
            "REFUSED_DIALECT",
        )

    def member(self, start: int, headers: bytes, member: Member) -> None:
        self._shadow.show(start, headers)
        info = self._next()
        data = start + len(headers)
        if info is None:
            raise self._differs(f"it ends where the scan finds {member.name!r} at offset {start}")
        seen = (*as_read(info), info.offset, info.offset_data)
        expected = (*as_scanned(member), member.offset, data)
        if seen != expected:
            raise self._differs(
                f"at offset {start} it reads (name, kind, size, link, header, data) "
                f"{seen!r} where the scan reads {expected!r}"
            )

    def end(self, start: int, headers: bytes) -> None:
        self._shadow.show(start, headers, last=True)
        if self._tar is None:
            return  # the scan itself refuses an archive without members
        info = self._next()
        if info is not None:
            raise self._differs(f"it reads a tar member {info.name!r} after the end at {start}")
