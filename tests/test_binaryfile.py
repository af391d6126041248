"""NASDAQ BinaryFILE streaming reader and writer."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import pytest

from velocimex.wire import itch
from velocimex.wire.binaryfile import BinaryFileError, BinaryFileWriter, iter_blocks, iter_framed


def _messages(n: int) -> list[bytes]:
    types = sorted(itch.SPECS)
    return [itch.encode(types[i % len(types)], stock_locate=i % 7, timestamp=i) for i in range(n)]


def _blocks(msgs: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def _split_blocks(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">H", data, i)
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


@pytest.mark.parametrize("suffix", [".itch", ".itch.gz"])
@pytest.mark.parametrize("chunk_size", [1, 7, 37, 1000, 4 << 20])
def test_round_trip_with_chunks_that_split_messages(
    tmp_path: Path, suffix: str, chunk_size: int
) -> None:
    msgs = _messages(500)
    path = tmp_path / f"f{suffix}"
    with BinaryFileWriter(path) as w:
        w.write_blocks(_blocks(msgs[:200]))
        for m in msgs[200:]:
            w.write_message(m)
    assert w.messages == 500
    chunks = list(iter_blocks(path, chunk_size=chunk_size))
    assert all(_split_blocks(c) for c in chunks)  # every chunk ends on a block boundary
    assert b"".join(chunks) == _blocks(msgs)
    assert sum(n for _, n in iter_framed(path, chunk_size)) == 500


def test_gz_suffix_writes_gzip_and_plain_does_not(tmp_path: Path) -> None:
    data = _blocks(_messages(10))
    with BinaryFileWriter(tmp_path / "a.bin.gz") as w:
        w.write_blocks(data)
    with BinaryFileWriter(tmp_path / "a.bin") as w:
        w.write_blocks(data)
    assert gzip.decompress((tmp_path / "a.bin.gz").read_bytes()) == data
    assert (tmp_path / "a.bin").read_bytes() == data


@pytest.mark.parametrize("cut", [1, 5, 35])
def test_truncated_tail_raises_naming_the_byte_offset(tmp_path: Path, cut: int) -> None:
    msgs = _messages(50)
    data = _blocks(msgs)
    starts = [len(_blocks(msgs[:k])) for k in range(len(msgs))]
    size = len(data) - cut
    assert size not in starts
    cut_block_start = max(s for s in starts if s < size)
    (tmp_path / "t.itch").write_bytes(data[:size])
    with pytest.raises(BinaryFileError, match=rf"truncated at byte offset {cut_block_start}:"):
        list(iter_blocks(tmp_path / "t.itch", chunk_size=64))


def test_half_a_length_prefix_is_a_truncation(tmp_path: Path) -> None:
    data = _blocks(_messages(3))
    (tmp_path / "t.itch.gz").write_bytes(gzip.compress(data + b"\x00"))
    with pytest.raises(BinaryFileError, match=rf"offset {len(data)}: half a length prefix"):
        list(iter_blocks(tmp_path / "t.itch.gz"))


def test_zero_length_block_ends_the_data(tmp_path: Path) -> None:
    data = _blocks(_messages(20))
    (tmp_path / "z.itch").write_bytes(data + b"\x00\x00" + b"trailing junk, not blocks")
    for chunk_size in (3, 50, 1 << 20):
        assert b"".join(iter_blocks(tmp_path / "z.itch", chunk_size)) == data


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    (tmp_path / "e.itch").write_bytes(b"")
    assert list(iter_blocks(tmp_path / "e.itch")) == []


def test_writer_rejects_partial_blocks_and_bad_lengths(tmp_path: Path) -> None:
    with BinaryFileWriter(tmp_path / "w.itch") as w:
        with pytest.raises(BinaryFileError, match="block at offset 38 runs past the end"):
            w.write_blocks(_blocks(_messages(2))[:-1])
        with pytest.raises(BinaryFileError, match="zero-length block at offset 0"):
            w.write_blocks(b"\x00\x00")
        with pytest.raises(BinaryFileError, match="message length 0"):
            w.write_message(b"")
    assert (tmp_path / "w.itch").read_bytes() == b""


def test_large_file_chunks_stay_near_chunk_size(tmp_path: Path) -> None:
    msgs = _messages(40_000)
    path = tmp_path / "big.itch"
    with BinaryFileWriter(path) as w:
        w.write_blocks(_blocks(msgs))
    sizes = [len(c) for c in iter_blocks(path, chunk_size=64 << 10)]
    assert len(sizes) > 10
    assert max(sizes) <= (64 << 10) + itch.MAX_MESSAGE_LENGTH + 2
