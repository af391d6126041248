"""TWAP and iceberg execution strategies through risk and the paper venue."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from velocimex.control.core import TradingCore
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.strategies.execution import IcebergParams

from velocimex.domain import BookTop, Instrument, OrderState

AAA = Instrument("AAA", locate=1)
LIMITS = RiskLimits(duplicate_window_ms=0, max_messages_per_second=10**6)
SEC = 1_000_000_000


def make_core(tmp_path: Path) -> TradingCore:
    return TradingCore(tmp_path, [AAA], PaperVenue([AAA]), LIMITS, fsync=False)


def top(ts: int, bid: int = 100_0000, ask: int = 100_0100, qty: int = 1000) -> BookTop:
    return BookTop(1, ts, ts, 0, bid, qty, ask, qty)


def test_twap_sends_one_slice_per_interval_and_carries_shortfalls(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "twap",
        "twap",
        {"symbol": "AAA", "side": "B", "quantity": 300, "duration_ns": 3 * SEC, "slices": 3},
    )
    core.strategies.start("twap")
    core.on_book_top(top(10 * SEC))
    assert core.orders.position("AAA").quantity == 100
    core.on_book_top(top(10 * SEC + SEC // 2))  # same slice: nothing more
    assert core.orders.position("AAA").quantity == 100
    core.on_book_top(top(11 * SEC, qty=40))  # second slice, only 40 shown: IOC gets 40
    assert core.orders.position("AAA").quantity == 140
    core.on_book_top(top(12 * SEC))  # third slice catches up to the full 300
    assert core.orders.position("AAA").quantity == 300
    core.on_book_top(top(20 * SEC))
    assert core.orders.position("AAA").quantity == 300  # never more than the parent


def test_twap_respects_its_limit_price(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "twap",
        "twap",
        {"symbol": "AAA", "side": "B", "quantity": 100, "duration_ns": SEC, "slices": 1,
         "limit_price": 100_0050},
    )  # fmt: skip
    core.strategies.start("twap")
    core.on_book_top(top(SEC))  # offer 100.01 above the limit
    assert core.orders.position("AAA").quantity == 0
    core.on_book_top(top(2 * SEC, bid=99_9900, ask=100_0000))
    assert core.orders.position("AAA").quantity == 100


def test_iceberg_shows_display_size_and_replenishes_until_done(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "ice",
        "iceberg",
        {"symbol": "AAA", "side": "S", "quantity": 250, "display": 100, "price": 100_0100},
    )
    core.strategies.start("ice")
    core.on_book_top(top(1))
    shown = core.orders.open_records()
    assert [(r.order.quantity, r.order.price) for r in shown] == [(100, 100_0100)]
    # Buyers lift our price three times; each time only the shown child trades.
    for ts in (2, 3, 4):
        core.on_book_top(top(ts, bid=100_0100, ask=100_0200, qty=100))
    assert core.orders.position("AAA").quantity == -250
    sizes = [r.order.quantity for r in core.orders.records()]
    assert sizes == [100, 100, 50]
    assert all(r.state is OrderState.FILLED for r in core.orders.records())


def test_iceberg_display_cannot_exceed_parent() -> None:
    with pytest.raises(ValidationError):
        IcebergParams(symbol="AAA", side="B", quantity=10, display=20, price=1)
