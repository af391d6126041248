"""Format-independent capture I/O: what the generator writes and the engines read.

A capture is either a pcap of MoldUDP64 packets (``.pcap``, ``.pcap.gz``) or a NASDAQ
BinaryFILE (``.itch``, ``.bin``, either with ``.gz``). Both directions work on chunks of
back-to-back length-prefixed ITCH blocks, so no layer between the file and the book engine
touches messages one by one in Python.
"""

from __future__ import annotations

import datetime as dt
import gzip
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from velocimex.wire import blocks, moldudp64
from velocimex.wire.binaryfile import DEFAULT_CHUNK_SIZE, BinaryFileWriter, iter_framed
from velocimex.wire.itch import SPECS
from velocimex.wire.pcap import (
    DEFAULT_DPORT,
    DEFAULT_DST,
    DEFAULT_SPORT,
    DEFAULT_SRC,
    MAGIC_NS,
    MAGIC_US,
    PcapReader,
    PcapWriter,
    UdpBatch,
)

Format = Literal["pcap", "binaryfile"]

# Midnight (UTC) of the day synthetic sessions are stamped with: ITCH timestamps are
# nanoseconds since midnight, so pcap times = this + the ITCH timestamp read sane in Wireshark.
SESSION_DATE = dt.date(2026, 11, 2)
SESSION_MIDNIGHT_NS = (
    int(
        dt.datetime(
            SESSION_DATE.year, SESSION_DATE.month, SESSION_DATE.day, tzinfo=dt.UTC
        ).timestamp()
    )
    * 1_000_000_000
)
DEFAULT_SESSION = b"VELOCIMEX1"

_PCAP_SUFFIXES = (".pcap", ".pcap.gz", ".cap", ".cap.gz")
_BINARYFILE_SUFFIXES = (".itch", ".itch.gz", ".bin", ".bin.gz")
_PCAPNG_MAGIC = 0x0A0D0D0A
# Every ITCH message starts type(1) locate(2) tracking(2) timestamp(6): one offset for all.
_TS_OFFSET = SPECS["S"].field("timestamp").offset
_TS_IN_PACKET = moldudp64.HEADER_LEN + 2 + _TS_OFFSET


class MessageChunk(NamedTuple):
    """``data``: back-to-back length-prefixed ITCH blocks; ``seqs``: one sequence number per
    message in ``data`` (MoldUDP64 sequence for pcap, 1-based file position for BinaryFILE)."""

    data: bytes
    seqs: np.ndarray


@dataclass(frozen=True)
class CaptureStats:
    format: Format
    messages: int
    packets: int  # MoldUDP64 packets written (pcap), heartbeat/end-of-session included
    first_seq: int
    next_seq: int


def detect_format(path: str | os.PathLike[str]) -> Format:
    """``"pcap"`` or ``"binaryfile"``: by suffix, else (an existing file) by its first bytes."""
    name = str(path).lower()
    if name.endswith(_PCAP_SUFFIXES):
        return "pcap"
    if name.endswith(_BINARYFILE_SUFFIXES):
        return "binaryfile"
    if not Path(path).is_file():
        raise ValueError(
            f"{path}: cannot tell the capture format from the name; use a suffix of "
            f"{_PCAP_SUFFIXES + _BINARYFILE_SUFFIXES} or pass fmt"
        )
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:2] == b"\x1f\x8b":
        if not name.endswith(".gz"):
            raise ValueError(f"{path}: gzip data, but the name does not end in .gz")
        with gzip.open(path, "rb") as g:
            head = g.read(4)
    if len(head) == 4:
        magics = {struct.unpack("<I", head)[0], struct.unpack(">I", head)[0]}
        if magics & {MAGIC_US, MAGIC_NS}:
            return "pcap"
        if _PCAPNG_MAGIC in magics:
            raise ValueError(f"{path}: pcapng is not supported; convert with editcap -F pcap")
    return "binaryfile"


def write_capture(
    path: str | os.PathLike[str],
    chunks: Iterable[bytes | bytearray | memoryview],
    fmt: Format | None = None,
    session: bytes | str = DEFAULT_SESSION,
    start_ns: int = SESSION_MIDNIGHT_NS,
    max_payload: int = moldudp64.DEFAULT_MAX_PAYLOAD,
) -> CaptureStats:
    """Write ITCH block chunks as a capture.

    pcap: MoldUDP64 packets (sequence numbers from 1, then an end-of-session packet) in UDP
    datagrams from 127.0.0.1 to 239.1.1.1:26400, each stamped ``start_ns`` + the ITCH
    timestamp of its first message. BinaryFILE: the blocks as they are.
    """
    fmt = fmt or detect_format(path)
    if fmt == "binaryfile":
        with BinaryFileWriter(path) as bw:
            for chunk in chunks:
                bw.write_blocks(chunk)
        return CaptureStats("binaryfile", bw.messages, 0, 1, bw.messages + 1)
    if fmt != "pcap":
        raise ValueError(f"unknown capture format {fmt!r}; expected 'pcap' or 'binaryfile'")
    packetizer = moldudp64.Packetizer(session, max_payload=max_payload, first_seq=1)
    last_ts = start_ns
    with PcapWriter(path) as pw:

        def emit(batch: moldudp64.PacketBatch) -> None:
            nonlocal last_ts
            if not len(batch.start):
                return
            ts = _packet_times(batch, start_ns, last_ts)
            last_ts = int(ts[-1])
            pw.write_udp_batch(
                ts, batch.buf, batch.start, batch.length,
                DEFAULT_SRC, DEFAULT_DST, DEFAULT_SPORT, DEFAULT_DPORT,
            )  # fmt: skip

        for chunk in chunks:
            emit(packetizer.add_blocks_batch(chunk))
        for packet in (packetizer.flush(), packetizer.end_of_session()):
            if packet is not None:
                emit(_single(packet))
    return CaptureStats("pcap", packetizer.messages, packetizer.packets, 1, packetizer.next_seq)


def _single(packet: bytes) -> moldudp64.PacketBatch:
    return moldudp64.PacketBatch(
        np.frombuffer(packet, dtype=np.uint8),
        np.zeros(1, dtype=np.int64),
        np.array([len(packet)], dtype=np.int64),
    )


def _packet_times(batch: moldudp64.PacketBatch, start_ns: int, last_ts: int) -> np.ndarray:
    """``start_ns`` + the ITCH timestamp of each packet's first message; a packet without one
    (end of session, or a first message too short to hold a timestamp) repeats the previous
    packet's time."""
    buf, start, length = batch.buf, batch.start, batch.length
    has_first = length >= _TS_IN_PACKET + 6
    first_len = np.zeros(len(start), dtype=np.int64)
    first_len[has_first] = (
        buf[start[has_first] + moldudp64.HEADER_LEN].astype(np.int64) << 8
    ) | buf[start[has_first] + moldudp64.HEADER_LEN + 1]
    valid = has_first & (first_len >= _TS_OFFSET + 6)
    pos = start[valid] + _TS_IN_PACKET
    itch_ts = np.zeros(int(valid.sum()), dtype=np.int64)
    for k in range(6):
        itch_ts = (itch_ts << 8) | buf[pos + k]
    ts = np.full(len(start), -1, dtype=np.int64)
    ts[valid] = start_ns + itch_ts
    # Carry the last known time forward over packets without one.
    idx = np.where(valid, np.arange(len(ts)), -1)
    np.maximum.accumulate(idx, out=idx)
    return np.where(idx >= 0, ts[np.maximum(idx, 0)], last_ts)


class CaptureReader:
    """Iterates a capture as :class:`MessageChunk` of about ``chunk_bytes`` each.

    pcap: every MoldUDP64 data packet's messages in arrival order with their sequence numbers;
    duplicates and gaps pass through untouched for the engine to see. Heartbeats and
    end-of-session packets carry no messages and are counted. ``port`` keeps only datagrams to
    that UDP port (other traffic in a real capture is counted in ``skipped_other_port``). A
    packet whose framing is corrupt raises :class:`~velocimex.wire.moldudp64.MoldError`
    (``on_corrupt="raise"``) or is dropped and counted (``"drop"``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fmt: Format | None = None,
        chunk_bytes: int = DEFAULT_CHUNK_SIZE,
        port: int | None = None,
        on_corrupt: Literal["raise", "drop"] = "raise",
    ) -> None:
        if on_corrupt not in ("raise", "drop"):
            raise ValueError(f"on_corrupt must be 'raise' or 'drop', got {on_corrupt!r}")
        self.path = Path(path)
        self.format: Format = fmt or detect_format(path)
        self.chunk_bytes = chunk_bytes
        self.port = port
        self.on_corrupt = on_corrupt
        self.messages = 0
        self.packets = 0
        self.heartbeats = 0
        self.end_of_session = 0
        self.corrupt_packets = 0
        self.skipped_other_port = 0
        self.pcap: PcapReader | None = None

    def __iter__(self) -> Iterator[MessageChunk]:
        if self.format == "binaryfile":
            return self._iter_binaryfile()
        if self.format == "pcap":
            return self._iter_pcap()
        raise ValueError(f"unknown capture format {self.format!r}")

    def _iter_binaryfile(self) -> Iterator[MessageChunk]:
        for data, count in iter_framed(self.path, self.chunk_bytes):
            first = self.messages + 1
            self.messages += count
            yield MessageChunk(data, np.arange(first, first + count, dtype=np.uint64))

    def _iter_pcap(self) -> Iterator[MessageChunk]:
        self.pcap = PcapReader(self.path, read_size=self.chunk_bytes)
        for batch in self.pcap.batches():
            if self.port is None:
                select = np.ones(len(batch.dport), dtype=np.bool_)
            else:
                select = batch.dport == self.port
                self.skipped_other_port += int(np.count_nonzero(~select))
            data, seqs, status = moldudp64.unpack_packets(
                blocks.as_u8(batch.buf), batch.start, batch.length, select
            )
            outcome = np.bincount(status[status >= 0], minlength=4)
            self.packets += int(outcome.sum())
            self.heartbeats += int(outcome[moldudp64.PACKET_HEARTBEAT])
            self.end_of_session += int(outcome[moldudp64.PACKET_END])
            if outcome[moldudp64.PACKET_CORRUPT]:
                self._corrupt(batch, status)
            self.messages += len(seqs)
            if len(seqs):
                yield MessageChunk(data.tobytes(), seqs)

    def _corrupt(self, batch: UdpBatch, status: np.ndarray) -> None:
        bad = np.flatnonzero(status == moldudp64.PACKET_CORRUPT)
        if self.on_corrupt == "drop":
            self.corrupt_packets += len(bad)
            return
        i = int(bad[0])
        a = int(batch.start[i])
        payload = batch.buf[a : a + int(batch.length[i])]
        # parse_packet names precisely what is wrong; only run on the bad packet.
        try:
            moldudp64.parse_packet(payload)
            reason = "inconsistent MoldUDP64 packet"
        except moldudp64.MoldError as exc:
            reason = str(exc)
        raise moldudp64.MoldError(f"{self.path}: frame {int(batch.frame[i])}: {reason}")


def iter_capture(
    path: str | os.PathLike[str],
    fmt: Format | None = None,
    chunk_bytes: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[MessageChunk]:
    """:class:`MessageChunk` of a pcap or BinaryFILE capture; see :class:`CaptureReader`."""
    return iter(CaptureReader(path, fmt=fmt, chunk_bytes=chunk_bytes))
