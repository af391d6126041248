"""MoldUDP64 1.00: packetizer, packet parser, sequencing depacketizer, retransmission request.

Downstream packet: a 20-byte header (session: 10 bytes ASCII, sequence number: uint64 BE,
message count: uint16 BE) followed by ``count`` message blocks (uint16 BE length + message).
The sequence number is that of the first message in the packet; a count of 0 is a heartbeat
and 0xFFFF the end of the session, both then carrying the sequence number of the next message
the session would send. A request packet is the same 20 bytes with the count being the number
of messages asked for, starting at the sequence number.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import numba
import numpy as np

from velocimex.wire import blocks

HEADER = struct.Struct(">10sQH")
HEADER_LEN = HEADER.size
SESSION_LEN = 10
HEARTBEAT_COUNT = 0
END_OF_SESSION_COUNT = 0xFFFF
# The largest count a data packet can carry; 0xFFFF would read as end of session.
MAX_MESSAGES_PER_PACKET = 0xFFFE
# Ethernet MTU 1500 minus IPv4 (20) and UDP (8) headers is 1472; 1400 leaves room for tunnels.
DEFAULT_MAX_PAYLOAD = 1400
# The largest UDP payload an IPv4 datagram can carry.
MAX_UDP_PAYLOAD = 65507

_BLOCK_LEN = struct.Struct(">H")


class MoldError(ValueError):
    """A MoldUDP64 packet that is truncated or inconsistent, or a packetizer misuse."""


def normalize_session(session: bytes | str) -> bytes:
    """Session as the 10 wire bytes: ASCII, right-padded with spaces."""
    raw = session.encode("ascii") if isinstance(session, str) else bytes(session)
    if len(raw) > SESSION_LEN:
        raise MoldError(f"session {raw!r} is longer than {SESSION_LEN} bytes")
    return raw.ljust(SESSION_LEN, b" ")


@dataclass(frozen=True)
class MoldPacket:
    session: bytes
    seq: int
    count: int
    blocks: memoryview

    @property
    def is_heartbeat(self) -> bool:
        return self.count == HEARTBEAT_COUNT

    @property
    def is_end_of_session(self) -> bool:
        return self.count == END_OF_SESSION_COUNT

    @property
    def message_count(self) -> int:
        """Messages actually carried (0 for heartbeat and end of session)."""
        return 0 if self.count in (HEARTBEAT_COUNT, END_OF_SESSION_COUNT) else self.count

    @property
    def next_seq(self) -> int:
        """Sequence number of the message after this packet."""
        return self.seq + self.message_count

    @property
    def messages(self) -> list[memoryview]:
        """The messages (without length prefix), as views into the packet; parse_packet has
        already checked the framing, so this cannot fail."""
        out: list[memoryview] = []
        buf = self.blocks
        i = 0
        while i < len(buf):
            (length,) = _BLOCK_LEN.unpack_from(buf, i)
            out.append(buf[i + 2 : i + 2 + length])
            i += 2 + length
        return out


def parse_packet(payload: bytes | bytearray | memoryview) -> MoldPacket:
    """Parse and fully validate one downstream packet (the UDP payload)."""
    view = memoryview(payload).cast("B")
    if len(view) < HEADER_LEN:
        raise MoldError(
            f"packet of {len(view)} bytes is shorter than the {HEADER_LEN}-byte MoldUDP64 header"
        )
    session, seq, count = HEADER.unpack_from(view, 0)
    body = view[HEADER_LEN:]
    if count in (HEARTBEAT_COUNT, END_OF_SESSION_COUNT):
        if len(body):
            kind = "heartbeat" if count == HEARTBEAT_COUNT else "end-of-session"
            raise MoldError(
                f"{kind} packet (seq {seq}) carries {len(body)} trailing bytes after the header"
            )
        return MoldPacket(session, seq, count, body)
    i = 0
    for k in range(count):
        if i + 2 > len(body):
            raise MoldError(
                f"packet seq {seq} announces {count} messages but its blocks end after {k} "
                f"(block {k} length prefix at body offset {i} is past the {len(body)}-byte body)"
            )
        (length,) = _BLOCK_LEN.unpack_from(body, i)
        if length == 0:
            raise MoldError(f"packet seq {seq}: block {k} at body offset {i} has length 0")
        if i + 2 + length > len(body):
            raise MoldError(
                f"packet seq {seq}: block {k} at body offset {i} of length {length} runs "
                f"{i + 2 + length - len(body)} bytes past the end of the {len(body)}-byte body"
            )
        i += 2 + length
    if i != len(body):
        raise MoldError(
            f"packet seq {seq} announces {count} messages but {len(body) - i} bytes follow them"
        )
    return MoldPacket(session, seq, count, body)


class PacketBatch(NamedTuple):
    """Packets laid out in one buffer: packet ``i`` is ``buf[start[i] : start[i] + length[i]]``."""

    buf: np.ndarray
    start: np.ndarray
    length: np.ndarray


@numba.njit(cache=True, nogil=True)
def build_packets(
    buf: np.ndarray,
    group_start: np.ndarray,
    group_end: np.ndarray,
    counts: np.ndarray,
    session: np.ndarray,
    first_seq: np.uint64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Downstream packets for block groups ``buf[group_start[g] : group_end[g]]`` holding
    ``counts[g]`` messages, numbered from ``first_seq``."""
    n = group_start.size
    total = 0
    for g in range(n):
        total += HEADER_LEN + group_end[g] - group_start[g]
    out = np.empty(total, dtype=np.uint8)
    start = np.empty(n, dtype=np.int64)
    length = np.empty(n, dtype=np.int64)
    seq = first_seq
    o = 0
    for g in range(n):
        body = group_end[g] - group_start[g]
        start[g] = o
        length[g] = HEADER_LEN + body
        out[o : o + SESSION_LEN] = session
        for b in range(8):
            out[o + 10 + b] = np.uint8((seq >> np.uint64(56 - 8 * b)) & np.uint64(0xFF))
        out[o + 18] = np.uint8(counts[g] >> 8)
        out[o + 19] = np.uint8(counts[g] & 0xFF)
        blocks.copy_bytes(out, o + HEADER_LEN, buf, group_start[g], body)
        seq += np.uint64(counts[g])
        o += HEADER_LEN + body
    return out, start, length


class Packetizer:
    """Packs messages into MoldUDP64 packets of at most ``max_payload`` bytes.

    Messages are held until a packet is full (greedy packing, order kept); ``flush()`` emits
    the partial packet. Sequence numbers start at ``first_seq``.
    """

    def __init__(
        self,
        session: bytes | str,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        first_seq: int = 1,
    ) -> None:
        if not HEADER_LEN + 3 <= max_payload <= MAX_UDP_PAYLOAD:
            raise MoldError(
                f"max_payload {max_payload} must be in [{HEADER_LEN + 3}, {MAX_UDP_PAYLOAD}]"
            )
        if not 0 <= first_seq < 1 << 64:
            raise MoldError(f"first_seq {first_seq} does not fit uint64")
        self.session = normalize_session(session)
        self.max_payload = max_payload
        self._budget = max_payload - HEADER_LEN
        self._next_seq = first_seq
        self._pending = bytearray()
        self._pending_count = 0
        self._ended = False
        self.packets = 0
        self.messages = 0

    @property
    def next_seq(self) -> int:
        """Sequence number the next emitted data packet starts with (pending messages are
        not yet numbered on the wire; they take this number and the following ones)."""
        return self._next_seq

    @property
    def pending(self) -> int:
        """Messages held for the next packet."""
        return self._pending_count

    def _check_open(self) -> None:
        if self._ended:
            raise MoldError("session already ended; no packet may follow end_of_session()")

    def _packet(self, count: int, body: bytes | bytearray | memoryview) -> bytes:
        packet = HEADER.pack(self.session, self._next_seq, count) + bytes(body)
        if count not in (HEARTBEAT_COUNT, END_OF_SESSION_COUNT):
            self._next_seq += count
            self.messages += count
        self.packets += 1
        return packet

    def add(self, message: bytes | bytearray | memoryview) -> bytes | None:
        """Queue one message; returns the packet it pushed out, if the pending one was full."""
        self._check_open()
        length = len(message)
        if length == 0:
            raise MoldError("a MoldUDP64 message block cannot be empty")
        if length + 2 > self._budget:
            raise MoldError(
                f"message of {length} bytes cannot fit a MoldUDP64 packet of at most "
                f"{self.max_payload} bytes ({HEADER_LEN}-byte header + 2-byte length prefix)"
            )
        out = None
        if (
            len(self._pending) + 2 + length > self._budget
            or self._pending_count == MAX_MESSAGES_PER_PACKET
        ):
            out = self.flush()
        self._pending += _BLOCK_LEN.pack(length)
        self._pending += message
        self._pending_count += 1
        return out

    def add_blocks(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Queue many messages given as back-to-back length-prefixed blocks; returns the full
        packets. Same packing as calling ``add`` per message, without a Python loop over them."""
        batch = self.add_blocks_batch(data)
        raw = batch.buf.tobytes()
        return [
            raw[a : a + n] for a, n in zip(batch.start.tolist(), batch.length.tolist(), strict=True)
        ]

    def add_blocks_batch(self, data: bytes | bytearray | memoryview) -> PacketBatch:
        """:meth:`add_blocks` returning the packets as one buffer plus offsets, for writers
        that frame thousands of packets per call (capture files)."""
        self._check_open()
        if len(self._pending):
            data = bytes(self._pending) + bytes(data)
        buf = blocks.as_u8(data)
        offsets, end, stopped = blocks.block_offsets(buf)
        if stopped:
            raise MoldError(f"zero-length message block at offset {end} of the block data")
        if end != len(buf):
            raise MoldError(
                f"block data is not whole blocks: the block at offset {end} runs past the "
                f"end ({len(buf)} bytes)"
            )
        bounds, too_big = blocks.pack_blocks(offsets, end, self._budget, MAX_MESSAGES_PER_PACKET)
        if too_big >= 0:
            start = int(offsets[too_big])
            (length,) = _BLOCK_LEN.unpack_from(buf, start)
            raise MoldError(
                f"message of {length} bytes (block at offset {start}) cannot fit a MoldUDP64 "
                f"packet of at most {self.max_payload} bytes"
            )
        group_start = offsets[bounds[:-1]]
        group_end = np.append(group_start[1:], end)
        counts = np.diff(bounds)
        # The last group stays pending: later messages may still fit in it.
        if len(counts):
            self._pending = bytearray(buf[group_start[-1] : end])
            self._pending_count = int(counts[-1])
        else:
            self._pending = bytearray()
            self._pending_count = 0
        out, start, length = build_packets(
            buf,
            group_start[:-1],
            group_end[:-1],
            counts[:-1],
            np.frombuffer(self.session, dtype=np.uint8),
            np.uint64(self._next_seq),
        )
        self._next_seq += int(counts[:-1].sum())
        self.messages += int(counts[:-1].sum())
        self.packets += len(start)
        return PacketBatch(out, start, length)

    def flush(self) -> bytes | None:
        """Emit the pending messages as one packet (None if nothing is pending)."""
        if not self._pending_count:
            return None
        packet = self._packet(self._pending_count, self._pending)
        self._pending = bytearray()
        self._pending_count = 0
        return packet

    def packetize(self, messages: Iterable[bytes | bytearray | memoryview]) -> Iterator[bytes]:
        """Packets for ``messages``, the last partial one flushed."""
        for message in messages:
            packet = self.add(message)
            if packet is not None:
                yield packet
        last = self.flush()
        if last is not None:
            yield last

    def _control(self, count: int, what: str) -> bytes:
        self._check_open()
        if self._pending_count:
            raise MoldError(
                f"{self._pending_count} messages are pending: flush() them before the {what} "
                f"packet, or it would announce sequence numbers the receiver never saw"
            )
        return self._packet(count, b"")

    def heartbeat(self) -> bytes:
        """Heartbeat packet announcing the next sequence number."""
        return self._control(HEARTBEAT_COUNT, "heartbeat")

    def end_of_session(self) -> bytes:
        """End-of-session packet; the packetizer accepts nothing after it."""
        packet = self._control(END_OF_SESSION_COUNT, "end-of-session")
        self._ended = True
        return packet


class Depacketizer:
    """Sequences downstream packets of one session into ``(seq, message)`` in order.

    The first packet fixes the session (unless given) and, unless ``first_seq`` is given, the
    starting sequence number (a capture may start mid-session). A packet beyond the expected
    number opens a gap, recorded in ``gap_ranges`` as ``(first_missing, last_missing)`` and
    delivery continues after it; messages below the expected number are duplicates and are
    dropped. Packets that do not parse are counted and dropped, never raised: a receiver must
    survive a corrupt datagram, and the next good packet reveals the hole as a gap.
    """

    def __init__(self, session: bytes | str | None = None, first_seq: int | None = None) -> None:
        self.session = None if session is None else normalize_session(session)
        self.expected_seq = first_seq
        self.packets = 0
        self.messages = 0
        self.heartbeats = 0
        self.gaps = 0
        self.missing_messages = 0
        self.gap_ranges: list[tuple[int, int]] = []
        self.duplicate_packets = 0
        self.duplicate_messages = 0
        self.wrong_session_packets = 0
        self.corrupt_packets = 0
        self.last_error: str | None = None
        self.ended = False
        self.packets_after_end = 0

    def _advance_to(self, seq: int) -> None:
        if self.expected_seq is None:
            self.expected_seq = seq
        elif seq > self.expected_seq:
            self.gaps += 1
            self.missing_messages += seq - self.expected_seq
            self.gap_ranges.append((self.expected_seq, seq - 1))
            self.expected_seq = seq

    def feed(self, payload: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        """Process one packet; returns the new in-order messages it delivers."""
        self.packets += 1
        try:
            packet = parse_packet(payload)
        except MoldError as exc:
            self.corrupt_packets += 1
            self.last_error = str(exc)
            return []
        if self.session is None:
            self.session = packet.session
        elif packet.session != self.session:
            self.wrong_session_packets += 1
            return []
        if self.ended:
            self.packets_after_end += 1
            return []
        if packet.count in (HEARTBEAT_COUNT, END_OF_SESSION_COUNT):
            if packet.is_heartbeat:
                self.heartbeats += 1
            else:
                self.ended = True
            # Both carry the next sequence number, so they reveal a gap at the session's tail.
            self._advance_to(packet.seq)
            return []
        self._advance_to(packet.seq)
        assert self.expected_seq is not None
        skip = self.expected_seq - packet.seq
        if skip >= packet.count:
            self.duplicate_packets += 1
            self.duplicate_messages += packet.count
            return []
        self.duplicate_messages += skip
        out = [(packet.seq + k, bytes(m)) for k, m in enumerate(packet.messages) if k >= skip]
        self.expected_seq = packet.next_seq
        self.messages += len(out)
        return out


# Per-packet outcome of unpack_packets.
PACKET_SKIPPED, PACKET_DATA, PACKET_HEARTBEAT, PACKET_END, PACKET_CORRUPT = -1, 0, 1, 2, 3


@numba.njit(cache=True, nogil=True)
def unpack_packets(
    buf: np.ndarray, start: np.ndarray, length: np.ndarray, select: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Messages of many packets (``buf[start[i] : start[i] + length[i]]``, those with
    ``select[i]``) at once, for capture replay where a Python step per packet would cost more
    than the book engine after it.

    Returns ``(blocks, seqs, status)``: the message blocks of every well-formed data packet
    back to back in packet order, the sequence number of each message (packet seq + index),
    and per packet one of the PACKET_* outcomes. Sessions are not checked.
    """
    n = start.size
    total = 0
    for i in range(n):
        if select[i]:
            total += length[i]
    out = np.empty(total, dtype=np.uint8)
    seqs = np.empty(total // 3 + 1, dtype=np.uint64)
    status = np.full(n, PACKET_SKIPPED, dtype=np.int8)
    o = 0
    m = 0
    for i in range(n):
        if not select[i]:
            continue
        a = start[i]
        end = a + length[i]
        if length[i] < HEADER_LEN:
            status[i] = PACKET_CORRUPT
            continue
        seq = np.uint64(0)
        for b in range(a + 10, a + 18):
            seq = (seq << np.uint64(8)) | np.uint64(buf[b])
        count = (np.int64(buf[a + 18]) << 8) | np.int64(buf[a + 19])
        if count == HEARTBEAT_COUNT or count == END_OF_SESSION_COUNT:
            if length[i] != HEADER_LEN:
                status[i] = PACKET_CORRUPT
            elif count == HEARTBEAT_COUNT:
                status[i] = PACKET_HEARTBEAT
            else:
                status[i] = PACKET_END
            continue
        j = a + HEADER_LEN
        found = 0
        while j + 2 <= end:
            block = (np.int64(buf[j]) << 8) | np.int64(buf[j + 1])
            if block == 0 or j + 2 + block > end:
                break
            j += 2 + block
            found += 1
        if j != end or found != count:
            status[i] = PACKET_CORRUPT
            continue
        body = end - a - HEADER_LEN
        blocks.copy_bytes(out, o, buf, a + HEADER_LEN, body)
        for k in range(count):
            seqs[m + k] = seq + np.uint64(k)
        o += body
        m += count
        status[i] = PACKET_DATA
    return out[:o], seqs[:m], status


class RetransmitRequest(NamedTuple):
    session: bytes
    seq: int
    count: int


def encode_request(session: bytes | str, seq: int, count: int) -> bytes:
    """Request packet asking the re-request server for ``count`` messages from ``seq``."""
    if not 0 <= seq < 1 << 64:
        raise MoldError(f"requested sequence number {seq} does not fit uint64")
    if not 1 <= count <= MAX_MESSAGES_PER_PACKET:
        raise MoldError(
            f"requested message count {count} must be in [1, {MAX_MESSAGES_PER_PACKET}]"
        )
    return HEADER.pack(normalize_session(session), seq, count)


def decode_request(payload: bytes | bytearray | memoryview) -> RetransmitRequest:
    """Parse a request packet (exactly the 20-byte header)."""
    if len(payload) != HEADER_LEN:
        raise MoldError(f"request packet must be {HEADER_LEN} bytes, got {len(payload)}")
    session, seq, count = HEADER.unpack(bytes(payload))
    if not 1 <= count <= MAX_MESSAGES_PER_PACKET:
        raise MoldError(
            f"request packet asks for {count} messages; must be 1..{MAX_MESSAGES_PER_PACKET}"
        )
    return RetransmitRequest(session, seq, count)


__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "END_OF_SESSION_COUNT",
    "HEADER_LEN",
    "HEARTBEAT_COUNT",
    "Depacketizer",
    "MoldError",
    "MoldPacket",
    "Packetizer",
    "RetransmitRequest",
    "decode_request",
    "encode_request",
    "normalize_session",
    "parse_packet",
]
