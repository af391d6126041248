"""The software engine against the naive reference book, hand-computed rows and capacity."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from velocimex.sw_fallback.csv_export import format_csv_rows
from velocimex.sw_fallback.engine import BookEngine, EngineInputError

from tests.reference_book import ReferenceBook
from tests.streams import Shape, stream
from velocimex import book_contract as bc
from velocimex.wire import moldudp64
from velocimex.wire.itch import encode

# Large enough that none of the test shapes reaches a capacity limit.
ROOMY = bc.Capacity(locate_bits=6, levels=64, order_set_bits=16, order_ways=8, sub_symbols=8)


def frame(*msgs: bytes) -> tuple[bytes, np.ndarray]:
    data = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
    return data, np.arange(1, len(msgs) + 1, dtype=np.uint64)


def add(loc, ref, side, shares, price, kind="A"):
    return encode(
        kind,
        stock_locate=loc,
        order_ref=ref,
        side=side,
        shares=shares,
        stock="X",
        price=price,
        timestamp=ref,
    )


def replace(loc, old, new, shares, price):
    return encode(
        "U",
        stock_locate=loc,
        original_order_ref=old,
        new_order_ref=new,
        shares=shares,
        price=price,
        timestamp=old + new,
    )


def tops(records: np.ndarray) -> list[tuple[int, ...]]:
    cols = ("seq", "locate", "bid_px", "bid_qty", "ask_px", "ask_qty")
    return [tuple(int(r[c]) for c in cols) for r in records]


def csv_of(engine: BookEngine, records: np.ndarray) -> str:
    return bc.CSV_HEADER + "\n" + format_csv_rows(records, engine.symbol_table()).decode()


def test_duplicate_reference_across_instruments_emits_the_other_instrument_first():
    # Rows as itch-book 0.2.1 emits them for the same messages.
    eng = BookEngine(ROOMY)
    recs = eng.process(
        *frame(
            add(1, 100, "B", 100, 10000),
            add(2, 200, "B", 50, 20000),
            add(1, 200, "S", 10, 30000),  # ref 200 still live on locate 2
        )
    )
    assert tops(recs) == [
        (1, 1, 10000, 100, 0, 0),
        (2, 2, 20000, 50, 0, 0),
        (3, 2, 0, 0, 0, 0),
        (3, 1, 10000, 100, 30000, 10),
    ]
    assert eng.counters()["duplicate_ref"] == 1
    assert eng.counters()["dual_records"] == 1


def test_replace_keeps_original_instrument_and_side_and_evicts_a_live_new_reference():
    eng = BookEngine(ROOMY)
    recs = eng.process(
        *frame(
            add(5, 500, "B", 10, 50000),
            add(3, 300, "S", 10, 60000),
            replace(5, 300, 500, 20, 61000),  # header says locate 5; the order lives on 3
        )
    )
    assert tops(recs)[2:] == [(3, 5, 0, 0, 0, 0), (3, 3, 0, 0, 61000, 20)]


def test_replace_with_zero_shares_removes_the_original_and_still_evicts():
    eng = BookEngine(ROOMY)
    recs = eng.process(
        *frame(
            add(2, 200, "B", 50, 20000),
            add(3, 300, "B", 50, 30000),
            replace(2, 200, 300, 0, 20000),
        )
    )
    assert tops(recs)[2:] == [(3, 3, 0, 0, 0, 0), (3, 2, 0, 0, 0, 0)]
    assert eng.counters()["rejected_add"] == 1


def test_faults_are_counted_and_change_nothing():
    eng = BookEngine(ROOMY)
    recs = eng.process(
        *frame(
            add(1, 100, "B", 100, 10000),
            add(1, 100, "B", 0, 10000),  # zero shares on a live ref: rejected, ref stays
            replace(2, 999, 100, 10, 20000),  # unknown original: the live new ref is untouched
            encode("D", order_ref=12345),
            b"Z" + bytes(10),  # not an ITCH type
            encode("D", order_ref=100)[:-1],  # D one byte short
        )
    )
    assert tops(recs) == [(1, 1, 10000, 100, 0, 0)]
    c = eng.counters()
    assert (c["rejected_add"], c["unknown_ref"], c["unknown_type"], c["bad_length"]) == (1, 2, 1, 1)


def test_execution_beyond_remaining_shares_takes_the_order_to_zero():
    eng = BookEngine(ROOMY)
    recs = eng.process(
        *frame(
            add(3, 1, "S", 20, 1000),
            add(3, 2, "S", 30, 1000),
            encode("E", order_ref=1, executed_shares=999),
            encode("X", order_ref=2, cancelled_shares=10),
        )
    )
    assert tops(recs) == [
        (1, 3, 0, 0, 1000, 20),
        (2, 3, 0, 0, 1000, 50),
        (3, 3, 0, 0, 1000, 30),
        (4, 3, 0, 0, 1000, 20),
    ]


def test_side_byte_other_than_b_is_an_ask():
    eng = BookEngine(ROOMY)
    assert tops(eng.process(*frame(add(4, 1, "X", 10, 100)))) == [(1, 4, 0, 0, 100, 10)]


@pytest.mark.parametrize(
    "shape",
    [
        Shape(),
        Shape(locates=40, ticks=5),
        Shape(locates=2, ticks=40),  # deep books
        Shape(p_replace=0.3, p_delete=0.05),  # replace chains
        Shape(p_execute=0.35, p_delete=0.05, ticks=2),  # executions that empty the best level
        Shape(p_noise=0.25),
    ],
    ids=["default", "many-instruments", "deep", "replace-chains", "executions", "faults"],
)
def test_engine_equals_reference_book(shape):
    data, seqs = stream(seed=hash(shape) & 0xFFFF, n=20_000, shape=shape)
    eng = BookEngine(ROOMY)
    recs = eng.process(data, seqs)
    ref = ReferenceBook()
    ref.run(data, seqs)
    assert not np.any(recs["flags"]), "the roomy capacity must not be exceeded here"
    assert csv_of(eng, recs) == ref.csv()


def test_symbol_filter_tracks_only_subscribed_instruments_even_with_a_late_directory():
    data, seqs = stream(seed=7, n=20_000, shape=Shape(locates=6, directory_late=True))
    eng = BookEngine(ROOMY, symbols=["T002", "T005"])
    recs = eng.process(data, seqs)
    ref = ReferenceBook(symbols=["T002", "T005"])
    ref.run(data, seqs)
    assert set(np.unique(recs["locate"])) == {2, 5}
    assert csv_of(eng, recs) == ref.csv()
    assert eng.counters()["untracked"] > 0


def test_chunked_processing_equals_one_shot():
    data, seqs = stream(seed=3, n=5_000)
    whole = BookEngine(ROOMY).process(data, seqs)
    eng = BookEngine(ROOMY)
    parts, pos, i = [], 0, 0
    while i < len(seqs):
        take, end = 0, pos
        while i + take < len(seqs) and take < 97:
            end += 2 + struct.unpack_from(">H", data, end)[0]
            take += 1
        parts.append(eng.process(data[pos:end], seqs[i : i + take]))
        pos, i = end, i + take
    assert np.concatenate(parts).tobytes() == whole.tobytes()


def _packets(data: bytes, seqs: np.ndarray, sizes: list[int]) -> list[bytes]:
    """The blocks of `data` as MoldUDP64 payloads of `sizes[i % len(sizes)]` messages."""
    out, pos, i, k = [], 0, 0, 0
    while i < len(seqs):
        take, end = 0, pos
        while i + take < len(seqs) and take < sizes[k % len(sizes)]:
            end += 2 + struct.unpack_from(">H", data, end)[0]
            take += 1
        out.append(moldudp64.HEADER.pack(b"SESSION001", int(seqs[i]), take) + data[pos:end])
        pos, i, k = end, i + take, k + 1
    return out


def test_packet_entry_equals_block_entry_with_header_sequence_numbers():
    data, seqs = stream(seed=5, n=4_000)
    seqs = seqs + np.uint64(1000)  # numbering from the header, not from 1
    want = BookEngine(ROOMY).process(data, seqs)
    eng = BookEngine(ROOMY)
    got = [eng.process_packet(p).copy() for p in _packets(data, seqs, [1, 3, 44, 2, 17])]
    assert np.concatenate(got).tobytes() == want.tobytes()
    ref = BookEngine(ROOMY)
    ref.process(data, seqs)
    assert eng.counters() == ref.counters()


def test_heartbeat_and_end_of_session_packets_carry_no_records():
    eng = BookEngine(ROOMY)
    for count in (0, 0xFFFF):
        assert len(eng.process_packet(moldudp64.HEADER.pack(b"SESSION001", 7, count))) == 0
    assert eng.counters()["messages"] == 0


@pytest.mark.parametrize(
    "mangle",
    [
        lambda p: p[:-1],  # last block cut short
        lambda p: p + b"\x00",  # a trailing byte after the announced blocks
        lambda p: p[:18] + b"\x00\x03" + p[20:],  # more messages announced than present
        lambda p: p[:10],  # shorter than the header
        lambda p: moldudp64.HEADER.pack(b"SESSION001", 1, 0) + b"\x00",  # heartbeat with data
    ],
)
def test_corrupt_packet_raises_and_changes_nothing(mangle):
    data, seqs = frame(add(1, 1, "B", 100, 5000), add(1, 2, "S", 100, 6000))
    good = _packets(data, seqs, [2])[0]
    eng = BookEngine(ROOMY)
    with pytest.raises(moldudp64.MoldError):
        eng.process_packet(mangle(good))
    assert eng.counters()["messages"] == 0
    assert tops(eng.process_packet(good)) == [(1, 1, 5000, 100, 0, 0), (2, 1, 5000, 100, 6000, 100)]


def test_truncated_block_is_a_clear_error():
    data, seqs = frame(add(1, 1, "B", 1, 1))
    with pytest.raises(EngineInputError, match="truncated"):
        BookEngine(ROOMY).process(data[:-3], seqs)


def test_sequence_gap_sets_the_sticky_flag_and_duplicates_are_dropped():
    data, _ = frame(
        add(1, 1, "B", 1, 100),
        add(1, 2, "B", 1, 200),
        add(1, 3, "B", 1, 300),
        add(1, 4, "B", 1, 400),
    )
    eng = BookEngine(ROOMY)
    recs = eng.process(data, np.array([10, 10, 13, 14], dtype=np.uint64))
    assert [int(r["seq"]) for r in recs] == [10, 13, 14]
    assert [int(r["flags"]) for r in recs] == [0, bc.FLAG_SEQ_GAP, bc.FLAG_SEQ_GAP]
    c = eng.counters()
    assert (c["seq_duplicates"], c["seq_gaps"]) == (1, 2)


def test_level_capacity_keeps_the_top_exact_and_flags_an_unknown_best():
    cap = bc.Capacity(locate_bits=2, levels=2, order_set_bits=4, order_ways=2, sub_symbols=1)
    eng = BookEngine(cap)
    recs = eng.process(
        *frame(
            add(1, 1, "B", 10, 100),
            add(1, 2, "B", 10, 99),
            add(1, 3, "B", 10, 101),  # full: 99 pushed beyond the held levels, bound 99
            add(1, 4, "B", 10, 98),  # beyond: no top change, no record
            encode("D", order_ref=3),
            encode("D", order_ref=1),  # held levels now empty, two orders beyond
            add(1, 5, "B", 10, 97),  # not better than the bound: beyond too
            add(1, 6, "B", 10, 102),  # better than anything beyond: the top is exact again
            encode("D", order_ref=6),
            encode("D", order_ref=2),
            encode("D", order_ref=4),
            encode("D", order_ref=5),  # nothing beyond: the side is exact again
            add(1, 7, "B", 10, 50),
        )
    )
    got = [(int(r["seq"]), int(r["bid_px"]), int(r["bid_qty"]), int(r["flags"])) for r in recs]
    depth, unknown = bc.FLAG_DEPTH_TRUNCATED, bc.FLAG_BID_UNKNOWN
    assert got == [
        (1, 100, 10, 0),  # seq 2 adds a worse price: top unchanged, no record
        (3, 101, 10, depth),
        (5, 100, 10, depth),
        (6, 0, 0, depth | unknown),
        (8, 102, 10, depth),
        (9, 0, 0, depth | unknown),
        (13, 50, 10, 0),
    ]
    c = eng.counters()
    assert (c["level_evictions"], c["beyond_levels"]) == (1, 2)


def test_a_price_between_the_bound_and_the_held_levels_is_held_when_there_is_room():
    cap = bc.Capacity(locate_bits=2, levels=2, order_set_bits=4, order_ways=2, sub_symbols=1)
    eng = BookEngine(cap)
    recs = eng.process(
        *frame(
            add(1, 1, "S", 10, 100),
            add(1, 2, "S", 10, 110),
            add(1, 3, "S", 10, 90),  # evicts 110: bound 110
            encode("D", order_ref=3),  # held [100], room for one more
            add(1, 4, "S", 10, 105),  # better than the bound: held
            encode("D", order_ref=1),
        )
    )
    got = [(int(r["seq"]), int(r["ask_px"]), int(r["flags"])) for r in recs]
    depth = bc.FLAG_DEPTH_TRUNCATED
    assert got == [(1, 100, 0), (3, 90, depth), (4, 100, depth), (6, 105, depth)]


def test_full_order_set_drops_the_add_and_flags_the_instrument_from_then_on():
    cap = bc.Capacity(locate_bits=2, levels=4, order_set_bits=1, order_ways=2, sub_symbols=1)
    eng = BookEngine(cap)
    recs = eng.process(
        *frame(
            add(1, 2, "B", 10, 100),
            add(1, 4, "B", 10, 101),
            add(1, 6, "B", 10, 102),  # set 0 already holds refs 2 and 4
            add(1, 1, "S", 10, 200),
        )
    )
    assert [(int(r["seq"]), int(r["flags"])) for r in recs] == [
        (1, 0),
        (2, 0),
        (4, bc.FLAG_ORDERS_LOST),
    ]
    assert eng.counters()["orders_lost"] == 1


def test_a_full_packet_of_deletes_each_moving_the_top_fits_the_packet_record_buffer():
    # The kernel writes a record slot for every book message and keeps it only when the top
    # changed; the packet buffer must hold the most a 65,535-byte payload can produce. Deletes
    # are the shortest book messages (21-byte blocks), and each one here takes the best bid's
    # aggregate down, so every one of them keeps its record.
    n = (0xFFFF - moldudp64.HEADER_LEN) // 21
    adds = [add(1, ref, "B", 1, 5000) for ref in range(1, n + 1)]
    deletes = [encode("D", stock_locate=1, order_ref=ref, timestamp=ref) for ref in range(1, n + 1)]
    data, seqs = frame(*adds, *deletes)
    want = BookEngine(ROOMY).process(data, seqs)
    eng = BookEngine(ROOMY)
    eng.process(*frame(*adds))
    payload = _packets(data, seqs, [n])[1]
    assert len(payload) == moldudp64.HEADER_LEN + 21 * n
    got = eng.process_packet(payload)
    assert len(got) == n
    assert got.tobytes() == want[n:].tobytes()
    assert tops(got[-1:]) == [(2 * n, 1, 0, 0, 0, 0)]
