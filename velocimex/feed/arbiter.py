"""A/B line arbitration and gap recovery for MoldUDP64, as pure logic over a caller's clock.

The arbiter is fed packets (from any line, or answers of the retransmission server) and
returns the messages that are now deliverable in sequence order, as back-to-back
length-prefixed ITCH blocks plus one sequence number per block, which is exactly what the
book engine takes. It never touches a socket: the caller sends the ``RetransRequest``s that
``poll`` returns. Time is an integer nanosecond argument, so tests drive it with a fake clock.

Recovery algorithm (docs/feed-handler.md, "Recovery"):

- The first copy of a sequence number wins, whatever line it came on; later copies are
  duplicates and only counted.
- A packet beyond the expected sequence number (or a heartbeat / end of session announcing
  one) opens a gap. Packets after the gap wait in a bounded buffer.
- A gap is first given ``gap_grace_ns`` for the other line's copy to arrive (A/B skew and
  reordering usually close it without any request). Then a request goes to the
  retransmission server for the missing range; without an answer that makes progress the
  request is repeated after a timeout that doubles each time up to ``max_timeout_ns``.
- After ``max_retries`` requests without progress (or at once when no retransmission server
  is configured) the gap is given up: delivery jumps over it, the messages are counted as
  lost and the engine sees the jump in sequence numbers (it flags its records).
- A packet of a session name not seen before means the exchange restarted: state resets and
  the caller is told to reset its book. Packets of a session already left are stale.
"""

from __future__ import annotations

import heapq
import struct
from dataclasses import asdict, dataclass, field

import numpy as np

from velocimex.wire import blocks, moldudp64

_LEN = struct.Struct(">H")


@dataclass(frozen=True)
class ArbiterConfig:
    # Wait this long for the other line before asking the retransmission server.
    gap_grace_ns: int = 2_000_000
    first_timeout_ns: int = 50_000_000
    max_timeout_ns: int = 800_000_000
    max_retries: int = 8
    # Out-of-order messages held while a gap is open; beyond it new ones are dropped and
    # simply become part of the gap (recovered later), so memory stays bounded.
    max_buffered: int = 200_000
    # Largest count per request; the server answers one packet per request anyway.
    max_request: int = 10_000
    # False: no retransmission server (pcap replay), gaps are given up after the grace time.
    retransmission: bool = True
    # True: a session's first packet beyond sequence 1 opens a gap from 1 (a late joiner
    # recovers the whole session); False: the first packet fixes the start (captures).
    recover_from_start: bool = True


@dataclass
class ArbiterCounters:
    packets: int = 0
    data_packets: int = 0
    heartbeats: int = 0
    end_of_session: int = 0
    malformed_packets: int = 0
    stale_session_packets: int = 0
    duplicate_packets: int = 0
    duplicate_messages: int = 0
    delivered_messages: int = 0
    gaps_detected: int = 0
    gaps_filled: int = 0
    gaps_given_up: int = 0
    messages_lost: int = 0
    retrans_requests: int = 0
    retrans_packets: int = 0
    retrans_messages: int = 0
    retrans_timeouts: int = 0
    buffered_max: int = 0
    buffer_overflow_drops: int = 0
    session_changes: int = 0
    first_copy_by_line: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RetransRequest:
    session: bytes
    seq: int
    count: int

    def encode(self) -> bytes:
        return moldudp64.encode_request(self.session, self.seq, self.count)


@dataclass
class Delivery:
    """Messages now in order: ``blocks`` holds ``len(seqs)`` length-prefixed messages."""

    blocks: bytes = b""
    seqs: list[int] = field(default_factory=list)
    # Set when this packet started a new session: the caller resets its book first.
    new_session: bytes | None = None

    def __bool__(self) -> bool:
        return bool(self.seqs) or self.new_session is not None


def _parse(payload: bytes | memoryview) -> moldudp64.MoldPacket:
    """``moldudp64.parse_packet`` with the block walk of data packets in numba (the Python
    walk cost more than the rest of the per-packet work); anything that does not check out
    goes through ``parse_packet`` for its exact error."""
    view = memoryview(payload).cast("B")
    if len(view) > moldudp64.HEADER_LEN:
        session, seq, count = moldudp64.HEADER.unpack_from(view, 0)
        if count not in (moldudp64.HEARTBEAT_COUNT, moldudp64.END_OF_SESSION_COUNT):
            buf = np.frombuffer(view, dtype=np.uint8)
            end, found, stopped = blocks.scan_blocks(buf, moldudp64.HEADER_LEN)
            if not stopped and end == len(buf) and found == count:
                return moldudp64.MoldPacket(session, seq, count, view[moldudp64.HEADER_LEN :])
    return moldudp64.parse_packet(view)


def _split(packet: moldudp64.MoldPacket) -> list[bytes]:
    """Length-prefixed blocks of a packet, one per message."""
    out = []
    body = packet.blocks
    i = 0
    while i < len(body):
        (length,) = _LEN.unpack_from(body, i)
        out.append(bytes(body[i : i + 2 + length]))
        i += 2 + length
    return out


class Arbiter:
    def __init__(self, config: ArbiterConfig | None = None) -> None:
        self.config = config or ArbiterConfig()
        self.counters = ArbiterCounters()
        self.session: bytes | None = None
        self._old_sessions: set[bytes] = set()
        self.expected_seq: int | None = None
        # Highest "next sequence number" any packet announced: beyond expected = a gap.
        self.high_seq = 0
        self.ended = False
        self.last_error: str | None = None
        self._buffer: dict[int, bytes] = {}
        # Buffered sequence numbers as a min-heap (entries already delivered are skipped
        # lazily): the end of the open gap without scanning a large buffer per request.
        self._held: list[int] = []
        self._gap_since: int | None = None
        self._next_request_ns: int | None = None
        self._retries = 0
        self._timeout_ns = self.config.first_timeout_ns

    # ------------------------------------------------------------------ state

    @property
    def gap_open(self) -> bool:
        return self.expected_seq is not None and self.expected_seq < self.high_seq

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def delivered_seq(self) -> int:
        """Sequence number of the last message delivered (0 before any)."""
        return 0 if self.expected_seq is None else self.expected_seq - 1

    def _reset(self, session: bytes) -> None:
        if self.session is not None:
            self._old_sessions.add(self.session)
            self.counters.session_changes += 1
        self.session = session
        self.expected_seq = None
        self.high_seq = 0
        self.ended = False
        self._buffer.clear()
        self._held.clear()
        self._close_gap_timer()

    def _close_gap_timer(self) -> None:
        self._gap_since = None
        self._next_request_ns = None
        self._retries = 0
        self._timeout_ns = self.config.first_timeout_ns

    # ------------------------------------------------------------------ input

    def on_packet(self, payload: bytes | memoryview, line: str, now_ns: int) -> Delivery:
        """One datagram from a multicast line (``line`` names it for the counters)."""
        return self._on_packet(payload, line, now_ns, retrans=False)

    def on_retransmission(self, payload: bytes | memoryview, now_ns: int) -> Delivery:
        """One answer of the retransmission server."""
        return self._on_packet(payload, "retrans", now_ns, retrans=True)

    def _on_packet(self, payload, line: str, now_ns: int, retrans: bool) -> Delivery:
        c = self.counters
        c.packets += 1
        try:
            packet = _parse(payload)
        except moldudp64.MoldError as exc:
            c.malformed_packets += 1
            self.last_error = f"line {line}: {exc}"
            return Delivery()
        out = Delivery()
        if packet.session != self.session:
            if retrans or packet.session in self._old_sessions:
                c.stale_session_packets += 1
                return out
            self._reset(packet.session)
            out.new_session = packet.session
        if self.expected_seq is None:
            start = 1 if self.config.recover_from_start else packet.seq
            self.expected_seq = min(start, packet.seq)
        if packet.count == moldudp64.HEARTBEAT_COUNT:
            c.heartbeats += 1
        elif packet.is_end_of_session:
            c.end_of_session += 1
            self.ended = True
        else:
            c.data_packets += 1
            if retrans:
                c.retrans_packets += 1
        # Heartbeat and end of session carry the next sequence number: a gap at the tail.
        self.high_seq = max(self.high_seq, packet.next_seq)
        before = self.expected_seq
        if packet.message_count:
            self._take(packet, line, retrans, out)
        self._drain(out)
        if self.expected_seq != before:
            # Progress on a gap (by any path): the back-off and the retry budget start over.
            self._retries = 0
            self._timeout_ns = self.config.first_timeout_ns
        if self.gap_open:
            if self._gap_since is None:
                c.gaps_detected += 1
                self._open_gap(now_ns)
            elif retrans and self.expected_seq != before:
                # The server answers one packet per request: ask for the rest at once.
                self._next_request_ns = now_ns
        elif self._gap_since is not None:
            c.gaps_filled += 1
            self._close_gap_timer()
        c.delivered_messages += len(out.seqs)
        return out

    def _open_gap(self, now_ns: int) -> None:
        self._gap_since = now_ns
        self._next_request_ns = now_ns + self.config.gap_grace_ns
        self._retries = 0
        self._timeout_ns = self.config.first_timeout_ns

    def _take(self, packet: moldudp64.MoldPacket, line: str, retrans: bool, out: Delivery) -> None:
        c = self.counters
        assert self.expected_seq is not None
        end = packet.next_seq
        if end <= self.expected_seq:
            c.duplicate_packets += 1
            c.duplicate_messages += packet.message_count
            return
        if packet.seq == self.expected_seq and not self._buffer:
            # Fast path: the packet continues the stream; its body is already engine input.
            out.blocks += bytes(packet.blocks)
            out.seqs.extend(range(packet.seq, end))
            self._count_first(line, retrans, packet.message_count)
            self.expected_seq = end
            return
        fresh = 0
        for k, block in enumerate(_split(packet)):
            seq = packet.seq + k
            if seq < self.expected_seq or seq in self._buffer:
                c.duplicate_messages += 1
                continue
            if len(self._buffer) >= self.config.max_buffered and seq != self.expected_seq:
                c.buffer_overflow_drops += 1
                continue
            self._buffer[seq] = block
            heapq.heappush(self._held, seq)
            fresh += 1
        if fresh == 0:
            c.duplicate_packets += 1
        self._count_first(line, retrans, fresh)
        c.buffered_max = max(c.buffered_max, len(self._buffer))

    def _count_first(self, line: str, retrans: bool, n: int) -> None:
        if retrans:
            self.counters.retrans_messages += n
        elif n:
            by_line = self.counters.first_copy_by_line
            by_line[line] = by_line.get(line, 0) + n

    def _drain(self, out: Delivery) -> None:
        buf = self._buffer
        if not buf:
            return
        seq = self.expected_seq
        assert seq is not None
        parts = [out.blocks] if out.blocks else []
        while seq in buf:
            parts.append(buf.pop(seq))
            out.seqs.append(seq)
            seq += 1
        out.blocks = b"".join(parts)
        self.expected_seq = seq

    # ------------------------------------------------------------------ timers

    def next_deadline(self) -> int | None:
        """Clock value at which ``poll`` has something to do (None: nothing pending)."""
        return self._next_request_ns if self.gap_open else None

    def poll(self, now_ns: int) -> tuple[RetransRequest | None, Delivery]:
        """Run the gap timers: the request to send now (if any), and what giving a gap up
        made deliverable."""
        out = Delivery()
        if not self.gap_open or self._next_request_ns is None or now_ns < self._next_request_ns:
            return None, out
        cfg = self.config
        if not cfg.retransmission or self._retries >= cfg.max_retries:
            self._give_up(out, now_ns)
            self.counters.delivered_messages += len(out.seqs)
            return None, out
        if self._retries:
            self.counters.retrans_timeouts += 1
        self._retries += 1
        self._next_request_ns = now_ns + self._timeout_ns
        self._timeout_ns = min(self._timeout_ns * 2, cfg.max_timeout_ns)
        assert self.expected_seq is not None and self.session is not None
        count = min(self._gap_end() - self.expected_seq, cfg.max_request)
        self.counters.retrans_requests += 1
        return RetransRequest(self.session, self.expected_seq, count), out

    def _gap_end(self) -> int:
        """First sequence number after the open gap that is held (or announced)."""
        assert self.expected_seq is not None
        held = self._held
        while held and (held[0] <= self.expected_seq or held[0] not in self._buffer):
            heapq.heappop(held)
        return held[0] if held else self.high_seq

    def _give_up(self, out: Delivery, now_ns: int) -> None:
        assert self.expected_seq is not None
        end = self._gap_end()
        self.counters.gaps_given_up += 1
        self.counters.messages_lost += end - self.expected_seq
        self.expected_seq = end
        self._close_gap_timer()
        self._drain(out)
        if self.gap_open:
            # Another hole further on: it gets its own grace period and retries.
            self.counters.gaps_detected += 1
            self._open_gap(now_ns)

    def finish(self) -> Delivery:
        """End of input (a capture ran out): give up whatever is still missing."""
        out = Delivery()
        while self.gap_open:
            self._give_up(out, 0)
        self.counters.delivered_messages += len(out.seqs)
        return out

    def status(self) -> dict:
        return {
            "session": None if self.session is None else self.session.decode("ascii").strip(),
            "delivered_seq": self.delivered_seq,
            "high_seq": self.high_seq,
            "gap_open": self.gap_open,
            "buffered": self.buffered,
            "ended": self.ended,
            "last_error": self.last_error,
            **self.counters.as_dict(),
        }
