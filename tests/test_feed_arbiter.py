"""The A/B arbiter and gap recovery as pure logic, driven by a fake clock (integer ns)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.feed.arbiter import Arbiter, ArbiterConfig, Delivery
from velocimex.feed.health import STALE, UP, WAITING, FeedHealth
from velocimex.wire import moldudp64

MS = 1_000_000
SESSION = b"TESTSESS01"


def _messages(n: int) -> list[bytes]:
    return [f"msg{seq:06d}".encode() for seq in range(1, n + 1)]


def _packets(n: int, per_packet: int = 3, session: bytes = SESSION) -> list[bytes]:
    """Data packets of ``per_packet`` messages each for messages 1..n."""
    out = []
    msgs = _messages(n)
    for first in range(0, n, per_packet):
        body = b"".join(len(m).to_bytes(2, "big") + m for m in msgs[first : first + per_packet])
        count = len(msgs[first : first + per_packet])
        out.append(moldudp64.HEADER.pack(session, first + 1, count) + body)
    return out


def _heartbeat(next_seq: int, session: bytes = SESSION) -> bytes:
    return moldudp64.HEADER.pack(session, next_seq, 0)


def _answer(req, n: int, per_packet: int = 3) -> bytes:
    """What the exchange's server sends: one packet from req.seq, at most per_packet."""
    msgs = _messages(n)[req.seq - 1 : req.seq - 1 + min(req.count, per_packet)]
    body = b"".join(len(m).to_bytes(2, "big") + m for m in msgs)
    return moldudp64.HEADER.pack(req.session, req.seq, len(msgs)) + body


def _decode(delivery: Delivery) -> list[tuple[int, bytes]]:
    out, i = [], 0
    buf = delivery.blocks
    for seq in delivery.seqs:
        n = int.from_bytes(buf[i : i + 2], "big")
        out.append((seq, buf[i + 2 : i + 2 + n]))
        i += 2 + n
    assert i == len(buf)
    return out


class Sink:
    def __init__(self) -> None:
        self.got: list[tuple[int, bytes]] = []

    def __call__(self, d: Delivery) -> Delivery:
        self.got.extend(_decode(d))
        return d

    @property
    def seqs(self) -> list[int]:
        return [s for s, _ in self.got]


def test_in_order_packets_are_delivered_as_engine_blocks() -> None:
    arb, sink = Arbiter(), Sink()
    for p in _packets(9):
        sink(arb.on_packet(p, "A", 0))
    assert sink.got == list(enumerate(_messages(9), start=1))
    assert arb.delivered_seq == 9 and not arb.gap_open
    assert arb.counters.first_copy_by_line == {"A": 9}
    assert arb.counters.gaps_detected == 0


def test_first_copy_wins_and_the_other_line_counts_duplicates() -> None:
    arb, sink = Arbiter(), Sink()
    packets = _packets(9)
    for p in packets:
        sink(arb.on_packet(p, "B", 0))
        sink(arb.on_packet(p, "A", 0))
    assert sink.seqs == list(range(1, 10))
    c = arb.counters
    assert c.first_copy_by_line == {"B": 9}
    assert c.duplicate_packets == 3 and c.duplicate_messages == 9


def test_loss_on_one_line_is_filled_by_the_other_without_a_request() -> None:
    arb, sink = Arbiter(), Sink()
    packets = _packets(12)
    # Line A loses packet 2 (seq 4-6); B's copies arrive a little later.
    sink(arb.on_packet(packets[0], "A", 0))
    sink(arb.on_packet(packets[2], "A", 10))
    assert arb.gap_open and sink.seqs == [1, 2, 3]
    sink(arb.on_packet(packets[0], "B", 20))
    sink(arb.on_packet(packets[1], "B", 30))
    assert sink.seqs == list(range(1, 10))
    request, _ = arb.poll(10 * MS)
    assert request is None
    c = arb.counters
    assert c.gaps_detected == 1 and c.gaps_filled == 1 and c.retrans_requests == 0
    assert c.first_copy_by_line == {"A": 6, "B": 3}


def test_gap_requests_retransmission_after_grace_with_exponential_backoff() -> None:
    cfg = ArbiterConfig(
        gap_grace_ns=2 * MS, first_timeout_ns=10 * MS, max_timeout_ns=40 * MS, max_retries=5
    )
    arb = Arbiter(cfg)
    packets = _packets(9)
    arb.on_packet(packets[0], "A", 0)
    arb.on_packet(packets[2], "A", 0)
    assert arb.poll(1 * MS)[0] is None  # still within the grace period
    times = []
    t = 0
    while len(times) < 5:
        t += MS // 2
        request, _ = arb.poll(t)
        if request is not None:
            assert (request.session, request.seq, request.count) == (SESSION, 4, 3)
            assert moldudp64.decode_request(request.encode()).seq == 4
            times.append(t)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert times[0] == 2 * MS
    assert gaps == [10 * MS, 20 * MS, 40 * MS, 40 * MS]
    assert arb.counters.retrans_requests == 5 and arb.counters.retrans_timeouts == 4


def test_retransmitted_answer_fills_gap_and_releases_buffered_packets() -> None:
    arb, sink = Arbiter(ArbiterConfig(gap_grace_ns=MS)), Sink()
    n = 30
    packets = _packets(n)
    sink(arb.on_packet(packets[0], "A", 0))
    for p in packets[4:]:  # messages 4..12 lost on both lines
        sink(arb.on_packet(p, "A", 0))
        sink(arb.on_packet(p, "B", 0))
    assert sink.seqs == [1, 2, 3] and arb.buffered == n - 12
    request, _ = arb.poll(MS)
    assert (request.seq, request.count) == (4, 9)
    # The server answers 3 messages per packet: the arbiter asks for the rest at once.
    for _ in range(3):
        sink(arb.on_retransmission(_answer(request, n), MS))
        request, _ = arb.poll(MS)
        if request is None:
            break
    assert sink.got == list(enumerate(_messages(n), start=1))
    c = arb.counters
    assert c.retrans_requests == 3 and c.retrans_messages == 9 and c.gaps_filled == 1
    assert c.messages_lost == 0 and arb.buffered == 0


def test_gap_is_given_up_after_max_retries_and_delivery_jumps_over_it() -> None:
    cfg = ArbiterConfig(gap_grace_ns=MS, first_timeout_ns=MS, max_timeout_ns=MS, max_retries=3)
    arb, sink = Arbiter(cfg), Sink()
    packets = _packets(9)
    sink(arb.on_packet(packets[0], "A", 0))
    sink(arb.on_packet(packets[2], "A", 0))
    requests = 0
    for t in range(1, 10):
        request, d = arb.poll(t * MS)
        requests += request is not None
        sink(d)
    assert requests == 3
    assert sink.seqs == [1, 2, 3, 7, 8, 9]
    c = arb.counters
    assert c.gaps_given_up == 1 and c.messages_lost == 3 and not arb.gap_open


def test_heartbeat_reveals_a_gap_at_the_tail_of_the_stream() -> None:
    arb = Arbiter(ArbiterConfig(gap_grace_ns=MS))
    packets = _packets(9)
    for p in packets[:2]:
        arb.on_packet(p, "A", 0)
    arb.on_packet(_heartbeat(10), "A", 0)  # packet 3 (seq 7-9) was lost
    assert arb.gap_open and arb.counters.heartbeats == 1
    request, _ = arb.poll(MS)
    assert (request.seq, request.count) == (7, 3)


def test_answers_that_make_progress_never_exhaust_the_retry_budget() -> None:
    # A late joiner that first hears a heartbeat has nothing buffered: every answer takes
    # the in-order path, and each must still count as progress.
    cfg = ArbiterConfig(gap_grace_ns=0, max_retries=2)
    arb, sink = Arbiter(cfg), Sink()
    n = 60
    sink(arb.on_packet(_heartbeat(n + 1), "A", 0))
    for _ in range(n):
        request, _ = arb.poll(0)
        if request is None:
            break
        sink(arb.on_retransmission(_answer(request, n), 0))
    assert sink.got == list(enumerate(_messages(n), start=1))
    assert arb.counters.retrans_requests == n // 3 and arb.counters.gaps_given_up == 0


def test_late_joiner_recovers_the_session_from_sequence_one() -> None:
    arb = Arbiter(ArbiterConfig(gap_grace_ns=0))
    arb.on_packet(_packets(30)[5], "A", 0)
    request, _ = arb.poll(0)
    assert (request.seq, request.count) == (1, 15)


def test_capture_replay_starts_where_the_capture_starts() -> None:
    arb, sink = Arbiter(ArbiterConfig(recover_from_start=False, retransmission=False)), Sink()
    for p in _packets(30)[5:]:
        sink(arb.on_packet(p, "A", 0))
    assert sink.seqs == list(range(16, 31)) and not arb.gap_open


def test_without_retransmission_a_gap_is_given_up_after_the_grace_time() -> None:
    arb, sink = Arbiter(ArbiterConfig(gap_grace_ns=MS, retransmission=False)), Sink()
    packets = _packets(9)
    sink(arb.on_packet(packets[0], "A", 0))
    sink(arb.on_packet(packets[2], "A", 0))
    assert arb.poll(MS // 2) == (None, Delivery())
    request, d = arb.poll(MS)
    sink(d)
    assert request is None and sink.seqs == [1, 2, 3, 7, 8, 9]
    assert arb.counters.messages_lost == 3 and arb.counters.retrans_requests == 0


def test_finish_gives_up_every_open_gap() -> None:
    arb, sink = Arbiter(), Sink()
    packets = _packets(15)
    for p in (packets[0], packets[2], packets[4]):
        sink(arb.on_packet(p, "A", 0))
    sink(arb.finish())
    assert sink.seqs == [1, 2, 3, 7, 8, 9, 13, 14, 15]
    assert arb.counters.gaps_given_up == 2 and arb.counters.messages_lost == 6


def test_new_session_resets_state_and_old_session_packets_are_stale() -> None:
    arb, sink = Arbiter(), Sink()
    for p in _packets(9):
        sink(arb.on_packet(p, "A", 0))
    new = _packets(6, session=b"TESTSESS02")
    d = sink(arb.on_packet(new[0], "A", 0))
    assert d.new_session == b"TESTSESS02"
    assert arb.delivered_seq == 3 and arb.counters.session_changes == 1
    # A late copy from the old session must not flip the feed back.
    d = arb.on_packet(_packets(12)[3], "B", 0)
    assert not d and arb.counters.stale_session_packets == 1
    assert arb.session == b"TESTSESS02"
    # A retransmission answer of another session is stale too.
    assert not arb.on_retransmission(_packets(3, session=b"OTHERSESS9")[0], 0)
    assert arb.counters.stale_session_packets == 2


def test_malformed_packets_are_counted_and_dropped() -> None:
    arb, sink = Arbiter(), Sink()
    good = _packets(6)
    for bad in (b"", b"short", good[0][:-1], good[0] + b"x", _heartbeat(4) + b"zz"):
        assert not arb.on_packet(bad, "A", 0)
    for p in good:
        sink(arb.on_packet(p, "A", 0))
    assert arb.counters.malformed_packets == 5 and sink.seqs == list(range(1, 7))
    assert arb.last_error is not None and "line A" in arb.last_error


def test_buffer_bound_drops_newest_and_they_are_recovered_later() -> None:
    cfg = ArbiterConfig(max_buffered=6, gap_grace_ns=0)
    arb, sink = Arbiter(cfg), Sink()
    n = 30
    packets = _packets(n)
    sink(arb.on_packet(packets[0], "A", 0))
    for p in packets[2:]:
        sink(arb.on_packet(p, "A", 0))
    assert arb.buffered == 6 and arb.counters.buffer_overflow_drops == n - 6 - 6
    t = 0
    while arb.gap_open and t < 100:
        request, _ = arb.poll(t * MS)
        if request is not None:
            sink(arb.on_retransmission(_answer(request, n), t * MS))
        t += 1
    assert sink.got == list(enumerate(_messages(n), start=1))
    assert arb.counters.messages_lost == 0


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 120),
    loss=st.floats(0, 0.6),
    dup=st.floats(0, 0.3),
    window=st.integers(0, 6),
)
def test_any_loss_duplication_and_reordering_on_two_lines_delivers_every_message_once_in_order(
    seed: int, n: int, loss: float, dup: float, window: int
) -> None:
    rng = random.Random(seed)
    arb, sink = Arbiter(ArbiterConfig(gap_grace_ns=MS, first_timeout_ns=5 * MS)), Sink()
    packets = _packets(n, per_packet=rng.randint(1, 5))
    arrivals = []
    for i, p in enumerate(packets):
        for line in "AB":
            if rng.random() >= loss:
                copies = 2 if rng.random() < dup else 1
                # Reordering: a packet may arrive up to ``window`` places late.
                arrivals += [(i + rng.uniform(0, window), line, p)] * copies
    arrivals.sort(key=lambda a: a[0])
    t = 0
    for _, line, p in arrivals:
        t += 100_000
        sink(arb.on_packet(p, line, t))
    sink(arb.on_packet(_heartbeat(n + 1), "A", t))
    while arb.gap_open:
        t += MS
        request, d = arb.poll(t)
        sink(d)
        if request is not None and rng.random() < 0.7:  # requests and answers get lost too
            sink(arb.on_retransmission(_answer(request, n), t))
    assert sink.got == list(enumerate(_messages(n), start=1))
    assert arb.counters.messages_lost == 0


def test_feed_goes_stale_when_every_line_is_silent_and_recovers() -> None:
    health = FeedHealth(stale_ns=100 * MS)
    health.add_line("A")
    health.add_line("B")
    assert health.evaluate(0) == WAITING
    health.on_rx("A", 100, 0)
    health.on_rx("B", 100, 50 * MS)
    assert health.evaluate(120 * MS) == UP
    assert health.lines["A"].state == STALE and health.lines["B"].state == UP
    assert health.evaluate(150 * MS) == STALE
    status = health.status(150 * MS)
    assert status["healthy"] is False and status["state"] == STALE
    assert status["stale_events"] == 1
    health.on_rx("B", 100, 200 * MS)
    assert health.evaluate(201 * MS) == UP
    assert health.next_deadline() == 300 * MS
