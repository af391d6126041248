"""The capture as the packets a feed handler receives: MoldUDP64 payloads with their messages.

A pcap gives its own datagrams. A BinaryFILE has no packets, so its messages are grouped the
way the hardware model's harness frames them (consecutive messages up to a 1400-byte
MoldUDP64 payload), which keeps the per-packet and wire views defined for every capture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from velocimex.wire import blocks, moldudp64
from velocimex.wire.capture import detect_format, iter_capture
from velocimex.wire.pcap import iter_udp_payloads

# Same packing rule as hw/model/vx_model_main.cpp (an Ethernet-MTU datagram).
MAX_PAYLOAD = 1400


@dataclass(frozen=True)
class Session:
    """Every message of a capture, back to back, and how they were packed into packets."""

    data: np.ndarray  # uint8: length-prefixed ITCH blocks
    seqs: np.ndarray  # uint64: one per message
    offsets: np.ndarray  # int64: block start of each message in `data`, plus the end
    msg_types: np.ndarray  # uint8: ITCH type byte of each message
    packet_first: np.ndarray  # int64: index of each packet's first message, plus the total
    packet_payload: np.ndarray  # int64: UDP payload bytes of each packet (MoldUDP64 header incl.)

    @property
    def messages(self) -> int:
        return len(self.seqs)

    @property
    def packets(self) -> int:
        return len(self.packet_payload)

    def block_bytes(self, first: int, stop: int) -> np.ndarray:
        """Messages [first, stop) as one block buffer (a view, no copy)."""
        return self.data[self.offsets[first] : self.offsets[stop]]


def _from_pcap(path: str | os.PathLike[str]) -> Session:
    parts: list[bytes] = []
    seq_parts: list[np.ndarray] = []
    counts: list[int] = []
    payloads: list[int] = []
    for _, payload in iter_udp_payloads(path):
        pkt = moldudp64.parse_packet(payload)
        if pkt.message_count == 0:
            continue  # heartbeats and end of session carry no messages to time
        parts.append(bytes(pkt.blocks))
        seq_parts.append(np.arange(pkt.seq, pkt.next_seq, dtype=np.uint64))
        counts.append(pkt.message_count)
        payloads.append(len(payload))
    data = blocks.as_u8(b"".join(parts))
    seqs = np.concatenate(seq_parts) if seq_parts else np.zeros(0, np.uint64)
    first = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    return _finish(data, seqs, first, np.asarray(payloads, dtype=np.int64))


def _from_blocks(path: str | os.PathLike[str]) -> Session:
    chunks = list(iter_capture(path))
    data = blocks.as_u8(b"".join(c.data for c in chunks))
    seqs = np.concatenate([c.seqs for c in chunks]) if chunks else np.zeros(0, np.uint64)
    offsets = _offsets(data, len(seqs))
    sizes = np.diff(offsets)
    first = [0]
    payloads = []
    body = 0
    for i, size in enumerate(sizes.tolist()):
        if i > first[-1] and body + size + moldudp64.HEADER_LEN > MAX_PAYLOAD:
            payloads.append(body + moldudp64.HEADER_LEN)
            first.append(i)
            body = 0
        body += size
    if len(sizes):
        payloads.append(body + moldudp64.HEADER_LEN)
        first.append(len(sizes))
    return _finish(data, seqs, np.asarray(first, np.int64), np.asarray(payloads, np.int64))


def _offsets(data: np.ndarray, n: int) -> np.ndarray:
    starts, end, stopped = blocks.block_offsets(data)
    if stopped or end != len(data) or len(starts) != n:
        raise ValueError(f"capture framing: {len(starts)} blocks for {n} sequence numbers")
    return np.concatenate([starts, [end]]).astype(np.int64)


def _finish(data: np.ndarray, seqs: np.ndarray, first: np.ndarray, payload: np.ndarray) -> Session:
    offsets = _offsets(data, len(seqs))
    types = data[offsets[:-1] + 2] if len(seqs) else np.zeros(0, np.uint8)
    return Session(data, seqs, offsets, types, first, payload)


def load_session(path: str | os.PathLike[str]) -> Session:
    """Read a capture (pcap or BinaryFILE, plain or gzipped) into memory."""
    if detect_format(path) == "pcap":
        session = _from_pcap(path)
    else:
        session = _from_blocks(path)
    if session.messages == 0:
        raise ValueError(f"{path}: the capture holds no ITCH messages")
    return session
