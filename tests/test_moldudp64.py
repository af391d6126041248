"""MoldUDP64 packetizer, parser, depacketizer and request packet."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.wire import itch
from velocimex.wire.moldudp64 import (
    END_OF_SESSION_COUNT,
    HEADER_LEN,
    Depacketizer,
    MoldError,
    Packetizer,
    decode_request,
    encode_request,
    parse_packet,
)

SESSION = b"TESTSESS01"


def _msg(i: int) -> bytes:
    return itch.encode("A", stock_locate=1, timestamp=i, order_ref=i, side="B", shares=100,
                       stock="AAPL", price=1_000_000)  # fmt: skip


def _blocks(msgs: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def _packets(msgs: list[bytes], max_payload: int = 1400) -> list[bytes]:
    return list(Packetizer(SESSION, max_payload=max_payload).packetize(msgs))


def test_header_is_session_seq_count_big_endian() -> None:
    pz = Packetizer(b"ABC", first_seq=0x0102030405060708)
    pz.add(b"xyz")
    packet = pz.flush()
    assert (
        packet == b"ABC       " + bytes.fromhex("0102030405060708") + b"\x00\x01" + b"\x00\x03xyz"
    )
    assert pz.next_seq == 0x0102030405060709


def test_packets_never_exceed_max_payload_and_keep_order() -> None:
    msgs = [_msg(i) for i in range(1000)]
    packets = _packets(msgs, max_payload=500)
    assert all(len(p) <= 500 for p in packets)
    parsed = [parse_packet(p) for p in packets]
    assert [bytes(m) for p in parsed for m in p.messages] == msgs
    seq = 1
    for p in parsed:
        assert p.seq == seq and p.session == SESSION
        seq += p.count


def test_message_that_would_cross_the_limit_starts_the_next_packet() -> None:
    # 36-byte A messages: header 20 + 3 blocks of 38 = 134 fits 134 exactly, a 4th does not.
    msgs = [_msg(i) for i in range(4)]
    pz = Packetizer(SESSION, max_payload=HEADER_LEN + 3 * 38)
    assert [pz.add(m) for m in msgs[:3]] == [None, None, None]
    first = pz.add(msgs[3])
    assert first is not None and len(first) == HEADER_LEN + 3 * 38
    assert parse_packet(first).count == 3
    second = pz.flush()
    assert second is not None
    assert parse_packet(second).seq == 4 and parse_packet(second).count == 1


def test_message_too_big_for_any_packet_is_a_clear_error() -> None:
    pz = Packetizer(SESSION, max_payload=60)
    with pytest.raises(MoldError, match="message of 39 bytes cannot fit"):
        pz.add(bytes(39))
    with pytest.raises(MoldError, match=r"message of 39 bytes \(block at offset 0\) cannot fit"):
        pz.add_blocks(_blocks([bytes(39)]))
    with pytest.raises(MoldError, match="cannot be empty"):
        pz.add(b"")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=120), max_size=200),
    st.integers(min_value=124, max_value=1500),
    st.integers(min_value=1, max_value=5),
)
def test_add_blocks_packs_exactly_like_add(
    msgs: list[bytes], max_payload: int, pieces: int
) -> None:
    one = _packets(msgs, max_payload)
    pz = Packetizer(SESSION, max_payload=max_payload)
    data = _blocks(msgs)
    # Split the block data at message boundaries into several add_blocks calls.
    bounds = sorted({0, len(msgs)} | {len(msgs) * k // pieces for k in range(pieces)})
    many: list[bytes] = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        many += pz.add_blocks(_blocks(msgs[a:b]))
    tail = pz.flush()
    if tail is not None:
        many.append(tail)
    assert many == one
    assert len(data) == sum(len(p) - HEADER_LEN for p in one)


def test_add_blocks_rejects_data_that_is_not_whole_blocks() -> None:
    with pytest.raises(MoldError, match="block at offset 38 runs past the end"):
        Packetizer(SESSION).add_blocks(_blocks([_msg(1), _msg(2)])[:-1])


def test_heartbeat_and_end_of_session_carry_next_seq_and_no_blocks() -> None:
    pz = Packetizer(SESSION)
    pz.add(_msg(1))
    with pytest.raises(MoldError, match="flush"):
        pz.heartbeat()
    pz.flush()
    hb = parse_packet(pz.heartbeat())
    assert hb.is_heartbeat and hb.seq == 2 and hb.count == 0 and hb.messages == []
    eos = parse_packet(pz.end_of_session())
    assert eos.is_end_of_session and eos.seq == 2 and eos.count == END_OF_SESSION_COUNT
    assert eos.messages == [] and eos.next_seq == 2
    with pytest.raises(MoldError, match="session already ended"):
        pz.add(_msg(2))


def test_empty_and_short_packets_raise_mold_error() -> None:
    with pytest.raises(MoldError, match="packet of 0 bytes is shorter than the 20-byte"):
        parse_packet(b"")
    with pytest.raises(MoldError, match="packet of 19 bytes"):
        parse_packet(bytes(19))


def test_truncated_packet_names_the_block_running_past_the_end() -> None:
    packet = _packets([_msg(1), _msg(2)])[0]
    with pytest.raises(MoldError, match=r"block 1 at body offset 38 of length 36 runs 5 bytes"):
        parse_packet(packet[:-5])
    with pytest.raises(MoldError, match=r"announces 2 messages but its blocks end after 1"):
        parse_packet(packet[: HEADER_LEN + 38])


def test_count_mismatch_and_trailing_bytes_raise_mold_error() -> None:
    packet = bytearray(_packets([_msg(1), _msg(2)])[0])
    packet[18:20] = struct.pack(">H", 1)
    with pytest.raises(MoldError, match="announces 1 messages but 38 bytes follow them"):
        parse_packet(bytes(packet))
    with pytest.raises(MoldError, match="heartbeat packet .* carries 3 trailing bytes"):
        parse_packet(SESSION + struct.pack(">QH", 5, 0) + b"abc")


def test_depacketizer_delivers_in_order_with_sequence_numbers() -> None:
    msgs = [_msg(i) for i in range(100)]
    dp = Depacketizer()
    out = [x for p in _packets(msgs, 300) for x in dp.feed(p)]
    assert out == [(i + 1, m) for i, m in enumerate(msgs)]
    assert dp.messages == 100 and dp.gaps == 0 and dp.expected_seq == 101
    assert dp.session == SESSION


def test_gap_is_reported_with_the_missing_range_and_delivery_continues() -> None:
    msgs = [_msg(i) for i in range(30)]
    packets = _packets(msgs, HEADER_LEN + 3 * 38)  # 3 messages per packet
    dp = Depacketizer()
    out = []
    for k, p in enumerate(packets):
        if k in (2, 3):  # seqs 7..12 lost
            continue
        out += dp.feed(p)
    assert dp.gaps == 1 and dp.gap_ranges == [(7, 12)] and dp.missing_messages == 6
    assert [s for s, _ in out] == [*range(1, 7), *range(13, 31)]


def test_first_seq_given_reports_a_gap_before_the_first_packet() -> None:
    packets = _packets([_msg(i) for i in range(6)], HEADER_LEN + 3 * 38)
    dp = Depacketizer(first_seq=1)
    dp.feed(packets[1])
    assert dp.gap_ranges == [(1, 3)]


def test_heartbeat_with_a_later_seq_reveals_a_tail_gap() -> None:
    pz = Packetizer(SESSION)
    first = list(pz.packetize([_msg(1)]))
    list(pz.packetize([_msg(2), _msg(3)]))  # lost
    dp = Depacketizer()
    dp.feed(first[0])
    assert dp.feed(pz.heartbeat()) == []
    assert dp.heartbeats == 1 and dp.gap_ranges == [(2, 3)]


def test_duplicate_and_overlapping_packets_are_dropped_and_counted() -> None:
    msgs = [_msg(i) for i in range(6)]
    packets = _packets(msgs, HEADER_LEN + 3 * 38)
    # A retransmission packed differently overlaps the delivered range by two messages.
    overlap = Packetizer(SESSION, first_seq=2)
    overlap_packet = list(overlap.packetize(msgs[1:5]))[0]
    dp = Depacketizer()
    out = dp.feed(packets[0])
    assert dp.feed(packets[0]) == []
    out += dp.feed(overlap_packet)
    out += dp.feed(packets[1])
    assert [s for s, _ in out] == [1, 2, 3, 4, 5, 6]
    assert dp.duplicate_packets == 1
    assert dp.duplicate_messages == 3 + 2 + 2  # whole repeat, then seqs 2-3, then 4-5
    assert dp.gaps == 0


def test_end_of_session_stops_delivery_and_counts_late_packets() -> None:
    pz = Packetizer(SESSION)
    packets = list(pz.packetize([_msg(1)]))
    eos = pz.end_of_session()
    dp = Depacketizer()
    dp.feed(packets[0])
    dp.feed(eos)
    assert dp.ended
    assert dp.feed(packets[0]) == [] and dp.packets_after_end == 1


def test_other_session_and_corrupt_packets_are_counted_not_raised() -> None:
    dp = Depacketizer(session=SESSION)
    other = list(Packetizer(b"OTHER").packetize([_msg(1)]))[0]
    assert dp.feed(other) == [] and dp.wrong_session_packets == 1
    good = _packets([_msg(1), _msg(2)])[0]
    assert dp.feed(good[:-3]) == []
    assert dp.corrupt_packets == 1 and "runs 3 bytes past" in (dp.last_error or "")
    assert [s for s, _ in dp.feed(good)] == [1, 2]


def test_retransmission_request_round_trips() -> None:
    packet = encode_request(b"SESS", 12345678901, 17)
    assert packet == b"SESS      " + struct.pack(">QH", 12345678901, 17)
    req = decode_request(packet)
    assert (req.session, req.seq, req.count) == (b"SESS      ", 12345678901, 17)


def test_bad_retransmission_requests_raise_mold_error() -> None:
    with pytest.raises(MoldError, match="must be 20 bytes, got 21"):
        decode_request(encode_request(b"S", 1, 1) + b"x")
    with pytest.raises(MoldError, match="asks for 0 messages"):
        decode_request(b"S" * 10 + struct.pack(">QH", 1, 0))
    with pytest.raises(MoldError, match="requested message count 0"):
        encode_request(b"S", 1, 0)
    with pytest.raises(MoldError, match="longer than 10 bytes"):
        encode_request(b"SESSION_TOO_LONG", 1, 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 19), max_size=60), st.lists(st.integers(0, 200), max_size=5))
def test_depacketizer_never_delivers_out_of_order_and_accounts_for_every_seq(
    arrival: list[int], corrupt_at: list[int]
) -> None:
    msgs = [_msg(i) for i in range(60)]
    packets = _packets(msgs, HEADER_LEN + 3 * 38)  # 20 packets of 3
    dp = Depacketizer()
    delivered: list[tuple[int, bytes]] = []
    for k, index in enumerate(arrival):
        packet = packets[index]
        if k in corrupt_at:
            packet = packet[: len(packet) // 2]
        delivered += dp.feed(packet)
    seqs = [s for s, _ in delivered]
    assert seqs == sorted(set(seqs))
    assert all(m == msgs[s - 1] for s, m in delivered)
    if delivered:
        # Between the first and the last delivered seq, each number is delivered or in a gap.
        missing = {s for a, b in dp.gap_ranges for s in range(a, b + 1)}
        assert set(range(seqs[0], seqs[-1] + 1)) <= set(seqs) | missing
        assert not missing & set(seqs)
    assert dp.messages == len(delivered)
    assert dp.corrupt_packets == len([k for k in range(len(arrival)) if k in corrupt_at])
