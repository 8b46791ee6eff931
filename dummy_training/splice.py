"""The fast strategy: put hyperparameters.json in front of the original deflate data as is."""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

from .tarwrite import GZIP_HEADER, header, padding

if TYPE_CHECKING:
    from typing import Protocol
else:  # typing.Protocol is new in 3.8; at run time the protocols here only document
    Protocol = object

ENTRY_NAME = "hyperparameters.json"
_TRAILER = struct.Struct("<II")
_STORED_MAX = 0xFFFF


class Patchable(Protocol):
    """The atomic writer: appends, and overwrites what it wrote earlier."""

    size: int

    def write(self, __data: bytes) -> int: ...

    def patch(self, __offset: int, __data: bytes) -> None: ...


def entry(data: bytes, mtime: int) -> bytes:
    """The tar bytes of the new member: header, data, padding."""
    return (
        header("file", ENTRY_NAME, size=len(data), mode=0o644, mtime=mtime)
        + data
        + padding(len(data))
    )


def stored_blocks(data: bytes) -> bytes:
    """``data`` as non-final stored deflate blocks: byte-aligned, and patchable in place."""
    # One join: appending to a bytes object copies everything so far, each time.
    blocks: list[bytes] = []
    for start in range(0, len(data), _STORED_MAX):
        part = data[start : start + _STORED_MAX]
        blocks.append(b"\x00" + struct.pack("<HH", len(part), len(part) ^ 0xFFFF) + part)
    return b"".join(blocks)


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """CRC-32 of A+B from crc(A), crc(B) and len(B), as zlib's crc32_combine computes it."""

    def times(matrix: list[int], vector: int) -> int:
        total, row = 0, 0
        while vector:
            if vector & 1:
                total ^= matrix[row]
            vector >>= 1
            row += 1
        return total

    def square(matrix: list[int]) -> list[int]:
        return [times(matrix, matrix[n]) for n in range(32)]

    # The operator that feeds one zero bit through the CRC register, squared
    # repeatedly to append len2 zero bytes in O(log len2) steps.
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = square(odd)
    odd = square(even)
    while len2:
        even = square(odd)
        if len2 & 1:
            crc1 = times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = square(even)
        if len2 & 1:
            crc1 = times(odd, crc1)
        len2 >>= 1
    return crc1 ^ crc2


class Splicer:
    """Receives the input's segments during the one scan and writes the spliced output.

    The new member goes first as stored blocks, since its mtime is known only when
    the scan ends; ``finish`` then patches it and the first member's trailer in place.
    """

    def __init__(self, out: Patchable, data: bytes) -> None:
        self._out = out
        self._data = data
        self._trailer_at = -1
        self._first: tuple[int, int] = (0, 0)
        out.write(GZIP_HEADER)
        out.write(stored_blocks(entry(data, 0)))

    def segment(self, kind: str, index: int, chunk: bytes) -> None:
        # Member 0 gives its deflate data only; later members are copied whole.
        if (index == 0 and kind == "deflate") or (index > 0 and kind != "padding"):
            self._out.write(chunk)

    def member_end(self, index: int, crc: int, size: int) -> None:
        if index == 0:
            self._first = (crc, size)
            self._trailer_at = self._out.size
            self._out.write(bytes(_TRAILER.size))

    def finish(self, mtime: int) -> None:
        """Write the real entry and the combined trailer over their placeholders."""
        tar_entry = entry(self._data, mtime)
        self._out.patch(len(GZIP_HEADER), stored_blocks(tar_entry))
        crc, size = self._first
        combined = crc32_combine(zlib.crc32(tar_entry), crc, size)
        self._out.patch(
            self._trailer_at, _TRAILER.pack(combined, (len(tar_entry) + size) & 0xFFFFFFFF)
        )
