"""NASDAQ BinaryFILE: the historical ITCH file format.

A file is message blocks (uint16 BE length + message) back to back, plain or gzip-compressed
(chosen by a ``.gz`` suffix). A zero length prefix marks the end of the data; anything after
it is ignored. Reading streams fixed-size chunks that always end on a block boundary, so a
multi-gigabyte file is read in flat memory.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import numpy as np

from velocimex.wire import blocks

DEFAULT_CHUNK_SIZE = 4 << 20
_BLOCK_LEN = struct.Struct(">H")


class BinaryFileError(ValueError):
    """A BinaryFILE that is truncated or a write of data that is not whole blocks."""


def is_gzip_path(path: str | os.PathLike[str]) -> bool:
    return str(path).endswith(".gz")


def open_maybe_gzip(path: str | os.PathLike[str], mode: str, compresslevel: int = 6) -> BinaryIO:
    """Binary file object, gzip when the name ends in ``.gz``."""
    if is_gzip_path(path):
        return gzip.open(path, mode + "b", compresslevel=compresslevel)  # type: ignore[return-value]
    return open(path, mode + "b")  # noqa: SIM115 - the caller owns and closes it


class BinaryFileWriter:
    """Streams message blocks into a BinaryFILE (gzip if the path ends in ``.gz``)."""

    def __init__(self, path: str | os.PathLike[str], compresslevel: int = 6) -> None:
        self.path = Path(path)
        self._file = open_maybe_gzip(path, "w", compresslevel)
        self.messages = 0
        self.bytes_written = 0

    def write_blocks(self, data: bytes | bytearray | memoryview) -> int:
        """Append back-to-back length-prefixed blocks; returns how many messages they hold.

        The data is checked to be whole non-empty blocks, so a writer bug cannot produce a file
        whose framing breaks at some later offset.
        """
        buf = blocks.as_u8(data)
        end, count, stopped = blocks.scan_blocks(buf, 0)
        if stopped:
            raise BinaryFileError(
                f"zero-length block at offset {end} of the data written: it would end the file"
            )
        if end != len(buf):
            raise BinaryFileError(
                f"data written is not whole blocks: the block at offset {end} runs past the end "
                f"({len(buf)} bytes)"
            )
        self._file.write(data)
        self.messages += count
        self.bytes_written += len(buf)
        return count

    def write_message(self, message: bytes | bytearray | memoryview) -> None:
        length = len(message)
        if not 1 <= length <= blocks.MAX_BLOCK_MESSAGE:
            raise BinaryFileError(f"message length {length} must be in [1, 65535]")
        self._file.write(_BLOCK_LEN.pack(length))
        self._file.write(message)
        self.messages += 1
        self.bytes_written += 2 + length

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> BinaryFileWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def iter_framed(
    path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[tuple[bytes, int]]:
    """``(blocks, message_count)`` per chunk; see :func:`iter_blocks`."""
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    with open_maybe_gzip(path, "r") as f:
        yield from _iter_framed_stream(f, chunk_size, str(path))


def _iter_framed_stream(
    f: BinaryIO | io.BufferedIOBase, chunk_size: int, name: str
) -> Iterator[tuple[bytes, int]]:
    # One reused work buffer: the carried partial block is moved to its front and the next
    # read lands right after it, so each chunk is copied once (into the bytes yielded).
    work = bytearray(chunk_size + blocks.MAX_BLOCK_MESSAGE + 2)
    held = 0  # bytes of a partial block at the front of work
    offset = 0  # file offset (uncompressed) of work[0]
    while True:
        if len(work) < held + chunk_size:
            work = work[:held] + bytearray(chunk_size)
        n = f.readinto(memoryview(work)[held : held + chunk_size])
        if not n:
            break
        filled = held + n
        end, count, stopped = blocks.scan_blocks(np.frombuffer(work, np.uint8, filled), 0)
        if count:
            yield bytes(memoryview(work)[:end]), count
        if stopped:
            return
        held = filled - end
        work[:held] = work[end:filled]
        offset += end
    carry = bytes(work[:held])
    if carry:
        (length,) = _BLOCK_LEN.unpack_from(carry, 0) if len(carry) >= 2 else (None,)
        detail = (
            f"a block of {length} bytes with only {len(carry) - 2} present"
            if length is not None
            else "half a length prefix"
        )
        raise BinaryFileError(
            f"{name}: truncated at byte offset {offset}: {detail} "
            f"(file ends {len(carry)} bytes after the last whole block)"
        )


def iter_blocks(
    path: str | os.PathLike[str], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Chunks of back-to-back blocks, each ending on a block boundary.

    A block cut by a read is carried into the next chunk, so a chunk can be somewhat larger
    than ``chunk_size`` (never by more than one block plus ``chunk_size``). A file that ends
    inside a block raises :class:`BinaryFileError` naming the block's byte offset (in the
    uncompressed stream); a zero length prefix ends the data.
    """
    for data, _count in iter_framed(path, chunk_size):
        yield data
