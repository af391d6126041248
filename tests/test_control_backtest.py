"""Backtesting: the simulated exchange's queue model and latency, reproducible reports, and the
same strategy decisions in a backtest and in a live run fed over the market-data bus."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from velocimex.control.backtest import (
    BacktestConfig,
    EventQueue,
    SimulatedVenue,
    load_book_tops,
    max_drawdown,
    run_backtest,
    sharpe,
)
from velocimex.control.core import TradingCore
from velocimex.control.feed_bridge import BookTopSubscriber
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.risk import RiskLimits

from velocimex.cli import main as cli
from velocimex.domain import BookTop, Instrument, OrderState, OrderType, Side

AAPL = Instrument("AAPL", locate=7)
BID, ASK = 1_000_000, 1_000_100
# Time-based limits (throttle, staleness, duplicates) judge a burst replayed in wall time
# differently from the same data on the simulated clock, so parity runs without them.
LIMITS = RiskLimits(
    duplicate_window_ms=0, max_market_data_age_ms=10**9, max_messages_per_second=10**9
)


def make_sim(tmp_path: Path, latency_ns: int = 0, maker_fee: int = 0, taker_fee: int = 0):
    sim = EventQueue()
    venue = SimulatedVenue(sim, latency_ns, maker_fee, taker_fee)
    core = TradingCore(tmp_path, [AAPL], venue, LIMITS, fsync=False, clock_ns=lambda: sim.now)

    def market(ts: int, bid: int, bid_qty: int, ask: int, ask_qty: int) -> None:
        sim.run_until(ts)
        top = BookTop(7, ts, ts, 0, bid, bid_qty, ask, ask_qty)
        venue.on_market("AAPL", top)
        core.on_book_top(top)
        sim.run_until(ts)

    return sim, venue, core, market


def test_passive_order_fills_only_after_the_queue_ahead_is_used_up(tmp_path: Path) -> None:
    sim, _, core, market = make_sim(tmp_path)
    market(1, BID, 300, ASK, 100)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=BID).order.client_order_id
    sim.run_until(1)
    # 300 shown ahead of us; 50 more join behind us; then the level shrinks.
    for ts, shown in ((2, 350), (3, 200), (4, 100)):
        market(ts, BID, shown, ASK, 100)
        assert core.orders.get(cid).filled_quantity == 0  # 250 of the 300 ahead gone
    market(5, BID, 20, ASK, 100)  # 80 more gone: the last 50 ahead, then 30 of ours
    assert core.orders.get(cid).filled_quantity == 30
    market(6, BID - 100, 500, ASK, 100)  # our level is gone: the rest traded too
    rec = core.orders.get(cid)
    assert rec.state is OrderState.FILLED and rec.fill_cost == 100 * BID


def test_better_than_best_order_is_invisible_until_traded_through(tmp_path: Path) -> None:
    sim, _, core, market = make_sim(tmp_path)
    market(1, BID, 300, ASK, 100)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=BID + 50).order.client_order_id
    market(2, BID - 100, 300, ASK, 100)  # public bid below us: nothing happens
    market(3, BID, 300, ASK - 10, 100)
    assert core.orders.get(cid).filled_quantity == 0
    market(4, BID, 300, BID + 50, 60)  # an offer at our price: we trade at our price
    assert core.orders.get(cid).filled_quantity == 60


def test_marketable_ioc_takes_displayed_size_with_taker_fee(tmp_path: Path) -> None:
    sim, venue, core, market = make_sim(tmp_path, taker_fee=30, maker_fee=-20)
    market(1, BID, 300, ASK, 100)
    rec = core.orders.submit("AAPL", Side.BUY, 250, order_type=OrderType.IOC, price=ASK + 100)
    sim.run_until(1)
    rec = core.orders.get(rec.order.client_order_id)
    assert (rec.state, rec.filled_quantity) == (OrderState.CANCELLED, 100)
    assert venue.fees == 30 * 100


def test_order_latency_delays_arrival_and_reports(tmp_path: Path) -> None:
    sim, _, core, market = make_sim(tmp_path, latency_ns=1_000)
    market(10_000, BID, 300, ASK, 100)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=ASK).order.client_order_id
    sim.run_until(10_999)
    assert core.orders.get(cid).state is OrderState.NEW
    market(10_500, BID, 300, ASK + 500, 100)  # the offer moves away before we arrive
    sim.run_until(13_000)
    rec = core.orders.get(cid)
    assert rec.state is OrderState.ACKNOWLEDGED and rec.filled_quantity == 0


def test_drawdown_and_sharpe() -> None:
    assert max_drawdown([0, 5, 2, 8, 1, 3]) == 7
    assert sharpe([0, 0, 0], 10**9) is None
    assert sharpe([0, 1, 2, 3, 4, 6], 10**9) > 0


@pytest.fixture(scope="module")
def capture(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("cap") / "session.pcap"
    assert cli(["generate", "--symbols", "2", "--messages", "6000", "--seed", "5",
                "--out", str(path)]) == 0  # fmt: skip
    return path


def test_backtest_report_is_reproducible(capture: Path, tmp_path: Path) -> None:
    records, symbols = load_book_tops(capture)
    symbol = symbols[1]
    outs = []
    for run in ("a", "b"):
        out = tmp_path / run
        params = json.dumps({"symbol": symbol, "half_spread": 300, "requote_threshold": 2000})
        argv = ["backtest", str(capture), "--symbols", symbol, "--params", params,
                "--order-latency-us", "30", "--maker-fee", "-20", "--taker-fee", "30",
                "--out", str(out)]  # fmt: skip
        assert cli(argv) == 0
        outs.append(((out / "report.json").read_bytes(), (out / "pnl.csv").read_bytes()))
    assert outs[0] == outs[1]
    summary = json.loads(outs[0][0])["summary"]
    assert summary["orders_sent"] > 0 and summary["records"] > 0
    assert 0 <= summary["fill_ratio"] <= 1


def test_strategy_decides_the_same_in_backtest_and_live_over_the_bus(
    capture: Path, tmp_path: Path
) -> None:
    records, symbols = load_book_tops(capture)
    symbol = symbols[1]
    # Quotes far from the market never fill, so both runs see exactly the same inputs.
    params = {"symbol": symbol, "half_spread": 500_000, "skew": 0, "requote_threshold": 100}
    tracked = records[records["locate"] == 1]
    backtest = run_backtest(
        records, symbols, BacktestConfig("market_maker", params, (symbol,), limits=LIMITS)
    )
    assert backtest.fills == 0

    instrument = Instrument(symbol, 1)
    live = TradingCore(
        tmp_path / "live", [instrument], PaperVenue([instrument]), LIMITS, fsync=False
    )
    live.strategies.add("live", "market_maker", params)
    live.strategies.start("live")
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    pub.setsockopt(zmq.SNDHWM, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    seen = []
    sub = BookTopSubscriber(
        f"tcp://127.0.0.1:{port}", lambda t: (seen.append(t), live.on_book_top(t))
    )
    sub.start()
    try:
        probe = np.zeros(1, dtype=records.dtype)  # locate 0: not tracked, only proves the link
        deadline = time.monotonic() + 10
        while not seen:
            assert time.monotonic() < deadline
            pub.send_multipart([b"", probe.tobytes()])
            time.sleep(0.02)
        for rec in tracked:
            pub.send_multipart([symbol.encode(), rec.tobytes()])
        deadline = time.monotonic() + 60
        while sum(1 for t in seen if t.locate == 1) < len(tracked):
            assert time.monotonic() < deadline, "bus lost records"
            time.sleep(0.02)
    finally:
        sub.stop()
        pub.close()
    live_orders = [(r.order.side, r.order.quantity, r.order.price) for r in live.orders.records()]
    bt_orders = [(Side(s), q, p) for _, s, q, p in backtest.orders]
    assert len(live_orders) > 10
    assert live_orders == bt_orders
    live.close()
