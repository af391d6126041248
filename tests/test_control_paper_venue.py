"""The paper venue behind `velocimex serve`: fills against the displayed top, IOC remainders,
resting orders, and orders it lost at a restart."""

from __future__ import annotations

from pathlib import Path

from velocimex.control.core import TradingCore
from velocimex.control.paper_venue import PaperVenue

from velocimex.domain import BookTop, Instrument, OrderState, OrderType, Side

AAPL = Instrument("AAPL", locate=7)
BID, ASK = 1_000_000, 1_000_100


def make_core(tmp_path: Path) -> TradingCore:
    core = TradingCore(tmp_path, [AAPL], PaperVenue([AAPL]), fsync=False)
    core.on_book_top(BookTop(7, 1, 0, 0, BID, 300, ASK, 200))
    return core


def test_ioc_takes_displayed_size_and_cancels_the_rest(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    rec = core.orders.submit("AAPL", Side.BUY, 500, order_type=OrderType.IOC, price=ASK)
    assert rec.state is OrderState.CANCELLED
    assert rec.filled_quantity == 200
    assert core.orders.position("AAPL").quantity == 200
    # The same displayed liquidity is not sold twice before the book updates.
    again = core.orders.submit("AAPL", Side.BUY, 10, order_type=OrderType.IOC, price=ASK)
    assert again.filled_quantity == 0


def test_resting_order_fills_when_the_market_trades_through_it(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.SELL, 100, price=ASK + 500).order.client_order_id
    assert core.orders.get(cid).state is OrderState.ACKNOWLEDGED
    core.on_book_top(BookTop(7, 2, 0, 0, ASK + 600, 40, ASK + 700, 100))
    rec = core.orders.get(cid)
    assert (rec.state, rec.filled_quantity) == (OrderState.PARTIALLY_FILLED, 40)
    assert rec.fill_cost == 40 * (ASK + 600)


def test_order_lost_by_a_restart_can_still_be_cancelled(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=BID - 100).order.client_order_id
    core.close()
    again = make_core(tmp_path)
    assert again.orders.get(cid).state is OrderState.ACKNOWLEDGED
    again.orders.cancel(cid)
    assert again.orders.get(cid).state is OrderState.CANCELLED
    assert not again.orders.anomalies  # sequence numbers continued past the journaled ones
