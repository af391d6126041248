"""The imbalance taker and the pairs strategy, through risk and the paper venue."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from velocimex.control.core import TradingCore
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.strategies.pairs import PairsParams

from velocimex.book_contract import FLAG_SEQ_GAP
from velocimex.domain import BookTop, Instrument

AAA, BBB = Instrument("AAA", locate=1), Instrument("BBB", locate=2)
LIMITS = RiskLimits(duplicate_window_ms=0, max_messages_per_second=10**6)


def make_core(tmp_path: Path) -> TradingCore:
    return TradingCore(tmp_path, [AAA, BBB], PaperVenue([AAA, BBB]), LIMITS, fsync=False)


def top(locate: int, bid: int, bid_qty: int, ask: int, ask_qty: int, ts: int = 0, flags=0):
    return BookTop(locate, ts, ts, flags, bid, bid_qty, ask, ask_qty)


def test_imbalance_taker_enters_with_the_imbalance_and_exits_when_it_turns(
    tmp_path: Path,
) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "imb", "imbalance_taker", {"symbol": "AAA", "trade_size": 100, "cooldown_ns": 1000}
    )
    core.strategies.start("imb")
    core.on_book_top(top(1, 100_0000, 500, 100_0100, 500, ts=1))  # balanced: nothing
    assert core.orders.position("AAA").quantity == 0
    core.on_book_top(top(1, 100_0000, 900, 100_0100, 100, ts=2))  # bids outweigh: buy at ask
    pos = core.orders.position("AAA")
    assert pos.quantity == 100 and pos.average_price == 100_0100
    core.on_book_top(top(1, 100_0000, 900, 100_0100, 100, ts=3))  # cooling down
    assert core.orders.position("AAA").quantity == 100
    core.on_book_top(top(1, 100_0000, 100, 100_0100, 900, ts=5000))  # turned: exit at bid
    assert core.orders.position("AAA").quantity == 0
    assert core.orders.position("AAA").realised_pnl == -100 * 100


def test_imbalance_taker_ignores_gapped_data_and_respects_max_position(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "imb",
        "imbalance_taker",
        {"symbol": "AAA", "trade_size": 100, "max_position": 150, "cooldown_ns": 0},
    )
    core.strategies.start("imb")
    core.on_book_top(top(1, 100_0000, 900, 100_0100, 1000, flags=FLAG_SEQ_GAP))
    assert core.orders.position("AAA").quantity == 0
    for ts in range(1, 5):
        core.on_book_top(top(1, 100_0000, 9000, 100_0100, 1000, ts=ts))
    assert core.orders.position("AAA").quantity == 150


def test_pairs_sells_the_rich_leg_buys_the_cheap_one_and_unwinds(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "pair",
        "pairs",
        {"symbol_a": "AAA", "symbol_b": "BBB", "window": 10, "entry_z": 2.0, "exit_z": 0.5,
         "quantity_a": 100, "hedge_ratio": 2.0},
    )  # fmt: skip
    core.strategies.start("pair")
    core.on_book_top(top(2, 50_0000, 1000, 50_0100, 1000))
    # A wobbles around 100.00 while B stays put: the spread has a mean and a spread.
    for i in range(10):
        bid = 100_0000 + (100 if i % 2 else -100)
        core.on_book_top(top(1, bid, 1000, bid + 100, 1000, ts=i))
    assert core.orders.position("AAA").quantity == 0
    core.on_book_top(top(1, 101_0000, 1000, 101_0100, 1000, ts=20))  # A rich: z >> 2
    assert core.orders.position("AAA").quantity == -100
    assert core.orders.position("BBB").quantity == 200
    core.on_book_top(top(1, 100_0000, 1000, 100_0100, 1000, ts=21))  # back to the mean
    assert core.orders.position("AAA").quantity == 0
    assert core.orders.position("BBB").quantity == 0


def test_pairs_parameters_are_validated() -> None:
    with pytest.raises(ValidationError):
        PairsParams(symbol_a="AAA", symbol_b="AAA")
    with pytest.raises(ValidationError):
        PairsParams(symbol_a="AAA", symbol_b="BBB", entry_z=1.0, exit_z=1.5)


def test_pairs_rolling_zscore_equals_the_two_pass_statistics_of_the_window() -> None:
    import random
    import statistics

    from velocimex.control.strategies.pairs import PairsTrader

    rng = random.Random(7)
    pairs = PairsTrader("p", PairsParams(symbol_a="AAA", symbol_b="BBB", window=25))
    spread = 1_234_567.5
    for i in range(2_000):
        # Long flat stretches, steps, and noise: the cases where running sums go wrong.
        if i % 400 < 100:
            spread += 0.0
        elif i % 400 < 110:
            spread += rng.choice((-50_000.0, 50_000.0))
        else:
            spread += rng.gauss(0, 30)
        z = pairs.zscore(spread)
        window = list(pairs._spreads)
        if len(window) < 25:
            assert z is None
        else:
            sd = statistics.stdev(window)
            if sd == 0:
                assert z is None
            else:
                expected = (spread - statistics.fmean(window)) / sd
                assert z == pytest.approx(expected, rel=1e-6, abs=1e-6)
        pairs._push(spread)
