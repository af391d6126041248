"""Trade prints of the feed (velocimex.feed.trades): which ITCH messages print, at what price,
with what flags; the same volume as the capture reader of control/trade_prints.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from velocimex.control.trade_prints import load_trades

from velocimex.feed import trades
from velocimex.feed.trades import (
    PRINT_BYTES,
    PRINT_DTYPE,
    PRINT_PRICE_UNKNOWN,
    PRINT_SEQ_GAP,
    TradeTap,
)
from velocimex.wire.blocks import as_u8, block_offsets
from velocimex.wire.itch import encode

VELOCIMEX = str(Path(sys.executable).with_name("velocimex"))


def blocks(*messages: bytes) -> bytes:
    return b"".join(len(m).to_bytes(2, "big") + m for m in messages)


def run(tap: TradeTap, *messages: bytes, first_seq: int = 1) -> np.ndarray:
    seqs = np.arange(first_seq, first_seq + len(messages), dtype=np.uint64)
    return tap.process(blocks(*messages), seqs)


def directory(locate: int, stock: str) -> bytes:
    return encode("R", stock_locate=locate, stock=stock)


def add(ref: int, price: int, shares: int = 100, locate: int = 1, side: str = "S") -> bytes:
    return encode("A", stock_locate=locate, order_ref=ref, side=side, shares=shares,
                  stock="AAPL", price=price)  # fmt: skip


def execute(ref: int, shares: int, match: int, locate: int = 1, ts: int = 5) -> bytes:
    return encode("E", stock_locate=locate, timestamp=ts, order_ref=ref,
                  executed_shares=shares, match_number=match)  # fmt: skip


def rows(prints: np.ndarray) -> list[tuple[int, int, int, int, str, int]]:
    return [
        (int(p["seq"]), int(p["shares"]), int(p["price"]), int(p["match_number"]),
         chr(p["kind"]), int(p["flags"]))
        for p in prints
    ]  # fmt: skip


def test_print_record_is_the_documented_36_bytes() -> None:
    assert PRINT_BYTES == 36 and PRINT_DTYPE.isalignedstruct is False
    assert PRINT_DTYPE.names == (
        "seq", "timestamp", "match_number", "price", "shares", "locate", "kind", "flags",
    )  # fmt: skip


def test_execution_prints_at_the_resting_orders_price_and_takes_it_off_the_index() -> None:
    tap = TradeTap()
    out = run(tap, add(7, 1_000_000), execute(7, 30, 901), execute(7, 70, 902), execute(7, 5, 903))
    # The third E names an order already executed to zero: unknown, price 0, flagged.
    assert rows(out) == [
        (2, 30, 1_000_000, 901, "E", 0),
        (3, 70, 1_000_000, 902, "E", 0),
        (4, 5, 0, 903, "E", PRINT_PRICE_UNKNOWN),
    ]
    assert int(out[0]["timestamp"]) == 5 and int(out[0]["locate"]) == 1
    assert tap.counters()["orders_indexed"] == 0
    assert tap.counters()["executions_unknown_order"] == 1


def test_only_printable_c_and_p_print_and_a_cross_does_not() -> None:
    tap = TradeTap()
    out = run(
        tap,
        add(1, 500_000, 200),
        encode("C", stock_locate=1, order_ref=1, executed_shares=50, match_number=11,
               printable="N", execution_price=499_000),
        encode("C", stock_locate=1, order_ref=1, executed_shares=60, match_number=12,
               printable="Y", execution_price=498_000),
        encode("P", stock_locate=1, order_ref=0, side="B", shares=40, stock="AAPL",
               price=501_000, match_number=13),
        encode("Q", stock_locate=1, shares=10_000, stock="AAPL", cross_price=500_000,
               match_number=14, cross_type="O"),
        execute(1, 500, 15),
    )  # fmt: skip
    assert rows(out) == [
        (3, 60, 498_000, 12, "C", 0),
        (4, 40, 501_000, 13, "P", 0),
        (6, 500, 500_000, 15, "E", 0),  # 90 left, but the print says what the venue printed
    ]


def test_replace_moves_the_price_and_cancel_or_delete_forget_the_order() -> None:
    tap = TradeTap()
    out = run(
        tap,
        add(1, 100_000),
        encode("U", stock_locate=1, original_order_ref=1, new_order_ref=2, shares=80,
               price=101_000),
        execute(1, 10, 1),  # the original is gone
        execute(2, 10, 2),
        add(3, 102_000, 50),
        encode("X", stock_locate=1, order_ref=3, cancelled_shares=50),
        execute(3, 10, 3),
        add(4, 103_000),
        encode("D", stock_locate=1, order_ref=4),
        execute(4, 10, 4),
    )  # fmt: skip
    assert [(r[2], r[5]) for r in rows(out)] == [
        (0, PRINT_PRICE_UNKNOWN),
        (101_000, 0),
        (0, PRINT_PRICE_UNKNOWN),
        (0, PRINT_PRICE_UNKNOWN),
    ]
    assert tap.counters()["orders_indexed"] == 1  # order 2, 70 shares left


def test_symbols_chosen_print_only_their_instruments_once_named() -> None:
    tap = TradeTap(["AAPL"])
    out = run(
        tap,
        add(1, 100_000, locate=1),  # before its directory message: not yet tracked
        directory(1, "AAPL"),
        directory(2, "MSFT"),
        add(2, 100_000, locate=1),
        add(3, 200_000, locate=2),
        execute(1, 10, 1),
        execute(2, 10, 2),
        execute(3, 10, 3, locate=2),
    )
    assert [(r[3], r[2], r[5]) for r in rows(out)] == [
        (1, 0, PRINT_PRICE_UNKNOWN),
        (2, 100_000, 0),
    ]
    assert tap.counters()["orders_indexed"] == 1


def test_prints_after_a_sequence_gap_are_flagged_and_nothing_is_invented() -> None:
    tap = TradeTap()
    out = run(tap, add(1, 100_000), execute(1, 10, 1))
    # Seqs 3..9 lost (given up): the next delivered message is 10.
    out2 = run(tap, execute(1, 10, 2), first_seq=10)
    assert rows(out) == [(2, 10, 100_000, 1, "E", 0)]
    assert rows(out2) == [(10, 10, 100_000, 2, "E", PRINT_SEQ_GAP)]


def test_malformed_lengths_are_counted_and_print_nothing() -> None:
    tap = TradeTap()
    bad = execute(1, 10, 1)[:-1]
    out = run(tap, add(1, 100_000), bad, execute(1, 10, 2))
    assert rows(out) == [(3, 10, 100_000, 2, "E", 0)]
    assert tap.counters()["bad_length"] == 1


def test_generated_session_prints_the_capture_readers_volume(tmp_path: Path) -> None:
    capture = tmp_path / "s.itch"
    subprocess.run(
        [VELOCIMEX, "generate", "--symbols", "4", "--messages", "60000", "--seed", "5",
         "--out", str(capture)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    expected, _ = load_trades(capture)
    data = capture.read_bytes()
    offsets, end, _ = block_offsets(as_u8(data))
    assert end == len(data)
    bounds = [*offsets.tolist(), end]
    n = len(offsets)
    # Delivered in uneven batches, as the feed handler's receive batches are.
    tap = TradeTap()
    out, seq, rng = [], 1, np.random.default_rng(5)
    while seq <= n:
        count = min(int(rng.integers(1, 300)), n - seq + 1)
        chunk = data[bounds[seq - 1] : bounds[seq - 1 + count]]
        out.append(tap.process(chunk, np.arange(seq, seq + count, dtype=np.uint64)))
        seq += count
    prints = np.concatenate(out)
    assert len(expected) > 1000
    for name in ("timestamp", "locate", "shares", "price"):
        assert np.array_equal(prints[name], expected[name]), name
    assert not prints["flags"].any()


def test_price_index_grows_and_deletes_keep_every_other_order_findable() -> None:
    tap = TradeTap()
    rng = np.random.default_rng(3)
    refs = rng.choice(2**40, size=20_000, replace=False).astype(np.uint64) + 1
    run(tap, *[add(int(r), 100_000 + i) for i, r in enumerate(refs)])
    assert tap.counters()["orders_indexed"] == 20_000
    gone = set(range(0, 20_000, 3))
    run(tap, *[encode("D", stock_locate=1, order_ref=int(refs[i])) for i in sorted(gone)])
    out = run(tap, *[execute(int(r), 1, i) for i, r in enumerate(refs)], first_seq=40_001)
    expected = [0 if i in gone else 100_000 + i for i in range(20_000)]
    assert out["price"].tolist() == expected
    assert tap.counters()["orders_indexed"] == 20_000 - len(gone)


def test_a_full_price_index_forgets_counts_and_flags_never_misprices(monkeypatch) -> None:
    monkeypatch.setattr(trades, "MAX_INDEXED_ORDERS", 4096)
    tap = TradeTap()
    run(tap, *[add(r, 100_000 + r) for r in range(1, 9001)])
    counters = tap.counters()
    assert counters["price_index_full"] > 0
    assert counters["orders_indexed"] + counters["price_index_full"] == 9000
    out = run(tap, *[execute(r, 1, r) for r in range(1, 9001)], first_seq=9001)
    known = out["flags"] == 0
    assert known.sum() == counters["orders_indexed"]
    assert (out["price"][known] == 100_000 + out["match_number"][known]).all()
    assert (out["price"][~known] == 0).all()
    assert (out["flags"][~known] == PRINT_PRICE_UNKNOWN).all()
