"""Trade prints priced by the sw book engine (``BookEngine.executions``, the kernel's side
output) instead of the tap's own order index: the same prints where the engine holds the
order, and price 0 with ``PRINT_PRICE_UNKNOWN`` (counted) where it does not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from velocimex.control.trade_prints import load_trades
from velocimex.sw_fallback.engine import BookEngine

from velocimex import book_contract as bc
from velocimex.feed.trades import PRINT_PRICE_UNKNOWN, TradeTap
from velocimex.wire.blocks import as_u8, block_offsets
from velocimex.wire.itch import encode

VELOCIMEX = str(Path(sys.executable).with_name("velocimex"))
# Two locates, one way per order set: refs 1 and 17 share a set, so the second is lost.
TINY = bc.Capacity(locate_bits=1, levels=4, order_set_bits=4, order_ways=1, sub_symbols=1)


def blocks(*messages: bytes) -> bytes:
    return b"".join(len(m).to_bytes(2, "big") + m for m in messages)


def add(ref: int, price: int, locate: int = 1, shares: int = 100) -> bytes:
    return encode("A", stock_locate=locate, order_ref=ref, side="S", shares=shares,
                  stock="AAPL", price=price)  # fmt: skip


def execute(ref: int, shares: int, match: int, locate: int = 1) -> bytes:
    return encode("E", stock_locate=locate, timestamp=5, order_ref=ref,
                  executed_shares=shares, match_number=match)  # fmt: skip


def priced_run(
    engine: BookEngine, tap: TradeTap, *messages: bytes, first_seq: int = 1
) -> np.ndarray:
    seqs = np.arange(first_seq, first_seq + len(messages), dtype=np.uint64)
    data = blocks(*messages)
    engine.process(data, seqs)
    return tap.process(data, seqs, engine.executions())


def test_executions_name_the_message_and_the_held_orders_price() -> None:
    engine = BookEngine(TINY)
    seqs = np.arange(1, 6, dtype=np.uint64)
    data = blocks(
        add(1, 1_000_000),
        execute(1, 30, 901),
        execute(9, 5, 902),  # never added: the engine holds no such order
        encode("X", stock_locate=1, order_ref=1, cancelled_shares=10),
        execute(1, 60, 903),
    )
    engine.process(data, seqs)
    words = engine.executions()
    assert [(int(w) >> 32, int(w) & 0xFFFFFFFF) for w in words] == [
        (1, 1_000_000),
        (4, 1_000_000),
    ]
    # The next call reports its own executions only.
    engine.process(blocks(execute(1, 1, 904)), np.array([6], dtype=np.uint64))
    assert engine.executions().tolist() == []  # the order was executed to zero


def test_orders_the_engine_does_not_hold_print_price_zero_flagged_and_counted() -> None:
    engine = BookEngine(TINY)
    tap = TradeTap(priced_by_engine=True)
    out = priced_run(
        engine,
        tap,
        add(1, 500_000),
        add(17, 600_000),  # same set as ref 1, one way: lost to capacity
        add(2, 700_000, locate=3),  # beyond the engine's two locates
        execute(17, 10, 1),
        execute(2, 10, 2, locate=3),
        execute(1, 10, 3),
        execute(99, 10, 4),  # never seen
    )
    assert engine.counters()["orders_lost"] == 1
    assert [(int(p["match_number"]), int(p["price"]), int(p["flags"])) for p in out] == [
        (1, 0, PRINT_PRICE_UNKNOWN),
        (2, 0, PRINT_PRICE_UNKNOWN),
        (3, 500_000, 0),
        (4, 0, PRINT_PRICE_UNKNOWN),
    ]
    counters = tap.counters()
    assert counters["executions_unknown_order"] == 3
    assert counters["orders_indexed"] == 0  # the tap keeps no order table
    assert len(tap.keys) == 0


def test_symbols_chosen_skip_untracked_instruments_as_the_engine_does() -> None:
    engine = BookEngine(symbols=["AAPL"])
    tap = TradeTap(["AAPL"], priced_by_engine=True)
    out = priced_run(
        engine,
        tap,
        encode("R", stock_locate=1, stock="AAPL"),
        encode("R", stock_locate=2, stock="MSFT"),
        add(1, 100_000, locate=1),
        add(2, 200_000, locate=2),
        execute(2, 5, 1, locate=2),
        execute(1, 5, 2, locate=1),
    )
    assert [(int(p["locate"]), int(p["price"]), int(p["flags"])) for p in out] == [(1, 100_000, 0)]
    assert tap.counters()["executions_unknown_order"] == 0


def test_executions_are_given_exactly_when_the_tap_is_priced_by_the_engine() -> None:
    data, seqs = blocks(add(1, 100)), np.array([1], dtype=np.uint64)
    with pytest.raises(ValueError):
        TradeTap().process(data, seqs, np.zeros(0, np.uint64))
    with pytest.raises(ValueError):
        TradeTap(priced_by_engine=True).process(data, seqs)


def test_generated_session_priced_by_the_engine_equals_the_index_and_the_reader(
    tmp_path: Path,
) -> None:
    capture = tmp_path / "s.itch"
    subprocess.run(
        [VELOCIMEX, "generate", "--symbols", "4", "--messages", "60000", "--seed", "7",
         "--out", str(capture)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    expected, _ = load_trades(capture)
    data = capture.read_bytes()
    offsets, end, _ = block_offsets(as_u8(data))
    assert end == len(data)
    bounds = [*offsets.tolist(), end]
    n = len(offsets)
    # Uneven batches, as the feed handler's receive batches are.
    engine, priced, indexed = BookEngine(), TradeTap(priced_by_engine=True), TradeTap()
    got, ref, seq, rng = [], [], 1, np.random.default_rng(7)
    while seq <= n:
        count = min(int(rng.integers(1, 300)), n - seq + 1)
        chunk = data[bounds[seq - 1] : bounds[seq - 1 + count]]
        seqs = np.arange(seq, seq + count, dtype=np.uint64)
        engine.process(chunk, seqs)
        got.append(priced.process(chunk, seqs, engine.executions()))
        ref.append(indexed.process(chunk, seqs))
        seq += count
    prints = np.concatenate(got)
    assert len(expected) > 1000
    assert prints.tobytes() == np.concatenate(ref).tobytes()
    for name in ("timestamp", "locate", "shares", "price"):
        assert np.array_equal(prints[name], expected[name]), name
    assert not prints["flags"].any()


def test_the_index_forgets_a_live_reference_reused_as_the_engine_does() -> None:
    # A replace with zero shares into a live reference, and an untracked add reusing one,
    # remove that order in the engine; the tap's own index (hw engine) must follow it.
    messages = (
        encode("R", stock_locate=1, stock="AAPL"),
        encode("R", stock_locate=2, stock="MSFT"),
        add(5, 100_000),
        add(6, 110_000),
        add(7, 120_000),
        encode("U", stock_locate=1, original_order_ref=6, new_order_ref=5, shares=0, price=1),
        add(7, 130_000, locate=2),  # MSFT is not tracked: order 7 leaves the book
        execute(5, 1, 1),
        execute(7, 1, 2),
    )
    engine, priced = BookEngine(symbols=["AAPL"]), TradeTap(["AAPL"], priced_by_engine=True)
    by_engine = priced_run(engine, priced, *messages)
    seqs = np.arange(1, len(messages) + 1, dtype=np.uint64)
    by_index = TradeTap(["AAPL"]).process(blocks(*messages), seqs)
    assert by_index.tobytes() == by_engine.tobytes()
    assert [(int(p["price"]), int(p["flags"])) for p in by_index] == [
        (0, PRINT_PRICE_UNKNOWN),
        (0, PRINT_PRICE_UNKNOWN),
    ]
