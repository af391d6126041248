"""Backtesting: a capture through the software book engine into the same strategy, order
manager and risk manager as live, against a simulated exchange on a simulated clock.

Only the clock and the venue change from a live run. The simulated exchange sees each book
top at its ITCH timestamp; the trading core sees it ``feed_latency_ns`` later; orders and
cancels reach the exchange ``order_latency_ns`` after they are sent, and its reports come back
as late. Everything happens in timestamp order on one thread, so a run is reproducible.

Queue model for passive orders (top of book only, so it is an approximation, documented in
docs/control-plane.md): an order that joins the best price queues behind the displayed
quantity there; every later decrease of that displayed quantity moves it forward (decreases
are taken as trades or cancels ahead of it); once the queue ahead is used up, further
decreases fill it. An order better than the public best is invisible and fills only when the
opposite side trades through its price; if the level it rests on disappears from the top the
rest of it fills at its price. Marketable orders take the displayed opposite quantity at the
best price (each displayed share once per book update); IOC and market remainders cancel.
"""

from __future__ import annotations

import heapq
import itertools
import math
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from velocimex.control.core import TradingCore
from velocimex.control.risk import RiskLimits
from velocimex.control.venue import VenueSessionBase

from velocimex.book_contract import DEFAULT_CAPACITY, RECORD_DTYPE
from velocimex.domain import (
    BookTop,
    Fill,
    Instrument,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderFillReported,
    OrderType,
    Side,
    Trade,
)

SECOND_NS = 1_000_000_000
TRADING_SECONDS_PER_YEAR = 252 * 6.5 * 3600


class EventQueue:
    """Simulated time: callbacks in (time, insertion) order."""

    def __init__(self) -> None:
        self.now = 0
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def at(self, when: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(when, self.now), next(self._order), action))

    def run_until(self, when: int) -> None:
        while self._heap and self._heap[0][0] <= when:
            t, _, action = heapq.heappop(self._heap)
            self.now = t
            action()
        self.now = max(self.now, when)


@dataclass
class _Resting:
    order: Order
    leaves: int
    queue_ahead: int | None  # None: behind a better public price, position unknown
    last_level_qty: int | None = None  # displayed quantity at our price when it was the best


class SimulatedVenue(VenueSessionBase):
    """The exchange of a backtest. Fees are ITCH units (1/10000 USD) per share; negative is a
    rebate."""

    name = "backtest"

    def __init__(
        self,
        sim: EventQueue,
        latency_ns: int = 0,
        maker_fee: int = 0,
        taker_fee: int = 0,
    ) -> None:
        super().__init__()
        self.sim = sim
        self.latency_ns = latency_ns
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.fees = 0
        self._tops: dict[str, BookTop] = {}
        self._taken: dict[tuple[str, Side], int] = {}
        self._resting: dict[str, _Resting] = {}
        self._seq = 0
        self._exec_ids = itertools.count(1)

    def connect(self, next_sequence: int) -> None:
        self._seq = next_sequence - 1

    # ------------------------------------------------------------------ wire, both ways
    def _transmit_order(self, order: Order) -> None:
        self.sim.at(self.sim.now + self.latency_ns, lambda: self._arrive(order))

    def _transmit_cancel(self, order: Order) -> None:
        self.sim.at(self.sim.now + self.latency_ns, lambda: self._cancel(order))

    def _emit(self, event: OrderEvent) -> None:
        self.sim.at(self.sim.now + self.latency_ns, lambda: self._report(event))

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ matching
    def on_market(self, symbol: str, top: BookTop) -> None:
        """The exchange's own book moved (at the record's timestamp)."""
        self._tops[symbol] = top
        self._taken[(symbol, Side.BUY)] = 0
        self._taken[(symbol, Side.SELL)] = 0
        for resting in [r for r in self._resting.values() if r.order.symbol == symbol]:
            self._update(resting, top)

    def _arrive(self, order: Order) -> None:
        cid = order.client_order_id
        self._emit(OrderAccepted(cid, self.sim.now, venue_order_id=cid, venue_seq=self._next_seq()))
        resting = _Resting(order, order.quantity, None)
        self._take(resting)
        if resting.leaves and order.order_type in (OrderType.IOC, OrderType.MARKET):
            self._emit(
                OrderCancelled(
                    cid,
                    self.sim.now,
                    cancelled_quantity=resting.leaves,
                    reason="ioc",
                    venue_seq=self._next_seq(),
                )
            )
            return
        if resting.leaves:
            self._join_queue(resting)
            self._resting[cid] = resting

    def _cancel(self, order: Order) -> None:
        cid = order.client_order_id
        resting = self._resting.pop(cid, None)
        if resting is None:
            self._emit(OrderCancelRejected(cid, self.sim.now, venue_seq=self._next_seq()))
            return
        self._emit(
            OrderCancelled(
                cid, self.sim.now, cancelled_quantity=resting.leaves, venue_seq=self._next_seq()
            )
        )

    def _take(self, resting: _Resting) -> None:
        order = resting.order
        top = self._tops.get(order.symbol)
        if top is None or order.price is None:
            return
        if order.side is Side.BUY:
            price, shown = top.best_ask, top.ask_qty
            crosses = price is not None and order.price >= price
        else:
            price, shown = top.best_bid, top.bid_qty
            crosses = price is not None and order.price <= price
        key = (order.symbol, order.side)
        available = shown - self._taken.get(key, 0)
        if crosses and price is not None and available > 0:
            qty = min(resting.leaves, available)
            self._taken[key] = self._taken.get(key, 0) + qty
            self._fill(resting, qty, price, self.taker_fee, "R")

    def _join_queue(self, resting: _Resting) -> None:
        order = resting.order
        top = self._tops.get(order.symbol)
        same = None if top is None else (top.best_bid if order.side is Side.BUY else top.best_ask)
        if same is None or _better(order.side, order.price, same):
            resting.queue_ahead = 0  # alone at a new best price (invisible in the public data)
        elif order.price == same:
            shown = top.bid_qty if order.side is Side.BUY else top.ask_qty  # type: ignore[union-attr]
            resting.queue_ahead = shown
            resting.last_level_qty = shown

    def _update(self, resting: _Resting, top: BookTop) -> None:
        order = resting.order
        assert order.price is not None
        if order.side is Side.BUY:
            opposite, same, same_qty = top.best_ask, top.best_bid, top.bid_qty
        else:
            opposite, same, same_qty = top.best_bid, top.best_ask, top.ask_qty
        if opposite is not None and not _better(order.side, opposite, order.price):
            # The other side reached our price: we trade at our (resting) price.
            shown = top.ask_qty if order.side is Side.BUY else top.bid_qty
            self._fill(resting, min(resting.leaves, shown), order.price, self.maker_fee, "A")
        elif same is None or _better(order.side, order.price, same):
            if resting.last_level_qty is not None:
                # Our level was the best and is gone: everything at it traded, us included.
                self._fill(resting, resting.leaves, order.price, self.maker_fee, "A")
        elif same == order.price:
            if resting.queue_ahead is None:
                resting.queue_ahead = same_qty  # the level became the best: join behind it
            elif resting.last_level_qty is not None and same_qty < resting.last_level_qty:
                resting.queue_ahead -= resting.last_level_qty - same_qty
                if resting.queue_ahead < 0:
                    qty = min(resting.leaves, -resting.queue_ahead)
                    resting.queue_ahead = 0
                    self._fill(resting, qty, order.price, self.maker_fee, "A")
            resting.last_level_qty = same_qty
        else:
            resting.last_level_qty = None  # a better price is in front of ours

    def _fill(self, resting: _Resting, qty: int, price: int, fee: int, liquidity: str) -> None:
        if qty <= 0:
            return
        order = resting.order
        resting.leaves -= qty
        self.fees += fee * qty
        fill = Fill(
            order.client_order_id,
            f"BT{next(self._exec_ids)}",
            order.symbol,
            order.side,
            qty,
            price,
            venue=self.name,
            ts_ns=self.sim.now,
            liquidity=liquidity,
        )
        self._emit(
            OrderFillReported(
                order.client_order_id, self.sim.now, fill=fill, venue_seq=self._next_seq()
            )
        )
        if resting.leaves == 0:
            self._resting.pop(order.client_order_id, None)


def _better(side: Side, a: int | None, b: int | None) -> bool:
    """Is price ``a`` strictly more aggressive than ``b`` for ``side``?"""
    if a is None or b is None:
        return False
    return a > b if side is Side.BUY else a < b


# ----------------------------------------------------------------------------- inputs


def load_book_tops(
    capture: str | Path, symbols: Iterable[str] | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """All book-update records of ``capture`` (pcap or BinaryFILE) and the locate -> symbol
    map, from the software engine."""
    from velocimex.sw_fallback.engine import BookEngine

    from velocimex.wire.capture import CaptureReader

    engine = BookEngine(DEFAULT_CAPACITY, list(symbols) if symbols else None)
    chunks = [engine.process(chunk.data, chunk.seqs) for chunk in CaptureReader(capture)]
    records = np.concatenate(chunks) if chunks else np.zeros(0, dtype=RECORD_DTYPE)
    locates = np.unique(records["locate"]) if len(records) else []
    return records, {int(loc): engine.symbol(int(loc)) for loc in locates}


# ----------------------------------------------------------------------------- the run


@dataclass(frozen=True)
class BacktestConfig:
    strategy: str
    params: Mapping[str, Any]
    symbols: tuple[str, ...]
    order_latency_ns: int = 0
    feed_latency_ns: int = 0
    maker_fee: int = 0  # ITCH units per share; negative = rebate
    taker_fee: int = 0
    sample_ns: int = SECOND_NS
    limits: RiskLimits = field(default_factory=RiskLimits)


@dataclass
class PnlPoint:
    ts_ns: int
    realised_usd: float
    unrealised_usd: float
    fees_usd: float
    net_usd: float
    position: int


@dataclass
class BacktestResult:
    curve: list[PnlPoint]
    orders_sent: int
    orders_rejected: int
    shares_sent: int
    shares_filled: int
    fills: int
    turnover_usd: float
    realised_usd: float
    unrealised_usd: float
    fees_usd: float
    net_usd: float
    max_drawdown_usd: float
    sharpe: float | None
    records: int
    orders: list[tuple[str, str, int, int | None]] = field(default_factory=list)

    @property
    def fill_ratio(self) -> float:
        return self.shares_filled / self.shares_sent if self.shares_sent else 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "orders_sent": self.orders_sent,
            "orders_rejected_by_risk": self.orders_rejected,
            "fills": self.fills,
            "fill_ratio": round(self.fill_ratio, 6),
            "turnover_usd": round(self.turnover_usd, 4),
            "realised_pnl_usd": round(self.realised_usd, 4),
            "unrealised_pnl_usd": round(self.unrealised_usd, 4),
            "fees_usd": round(self.fees_usd, 4),
            "net_pnl_usd": round(self.net_usd, 4),
            "max_drawdown_usd": round(self.max_drawdown_usd, 4),
            "sharpe_annualised": None if self.sharpe is None else round(self.sharpe, 4),
        }


def run_backtest(
    records: np.ndarray,
    locate_symbols: Mapping[int, str],
    config: BacktestConfig,
    data_dir: str | Path | None = None,
    trades: np.ndarray | None = None,
) -> BacktestResult:
    """``trades``: the capture's printed trades (``trade_prints.load_trades``), delivered to
    the strategy's ``on_trade`` in feed order, each before the book top of its timestamp."""
    with tempfile.TemporaryDirectory(prefix="vx-backtest-") as scratch:
        return _run(records, locate_symbols, config, Path(data_dir or scratch), trades)


def _run(
    records: np.ndarray,
    locate_symbols: Mapping[int, str],
    config: BacktestConfig,
    data_dir: Path,
    trades: np.ndarray | None = None,
) -> BacktestResult:
    by_symbol = {s: loc for loc, s in locate_symbols.items()}
    missing = [s for s in config.symbols if s not in by_symbol]
    if missing:
        raise ValueError(f"symbols not in the capture: {missing}")
    instruments = [Instrument(s, by_symbol[s]) for s in config.symbols]
    tracked = {i.locate: i.symbol for i in instruments}
    sim = EventQueue()
    venue = SimulatedVenue(sim, config.order_latency_ns, config.maker_fee, config.taker_fee)
    core = TradingCore(
        data_dir, instruments, venue, config.limits, fsync=False, clock_ns=lambda: sim.now
    )
    try:
        core.strategies.add("backtest", config.strategy, dict(config.params))
        core.strategies.start("backtest")
        sent: dict[str, int] = {}
        rejected = 0

        def on_event(event: OrderEvent) -> None:
            nonlocal rejected
            if event.kind == "submitted":
                sent[event.client_order_id] = event.order.quantity  # type: ignore[attr-defined]
            elif event.kind == "rejected" and getattr(event, "by_risk", False):
                rejected += 1
                sent.pop(event.client_order_id, None)

        core.orders.subscribe(on_event)
        curve: list[PnlPoint] = []
        next_sample = next_timer = None

        def sample(ts: int) -> None:
            realised, unrealised = core.risk.pnl()
            fees = venue.fees / 10_000
            net = float(realised + unrealised) / 10_000 - fees
            position = sum(p.quantity for p in core.orders.positions().values())
            curve.append(
                PnlPoint(
                    ts, float(realised) / 10_000, float(unrealised) / 10_000, fees, net, position
                )
            )

        prints = [] if trades is None else [t for t in trades if int(t["locate"]) in tracked]
        next_print = last_print = 0

        def deliver_prints(until_ts: int | None) -> None:
            nonlocal next_print, last_print
            while next_print < len(prints) and (
                until_ts is None or int(prints[next_print]["timestamp"]) <= until_ts
            ):
                row = prints[next_print]
                next_print += 1
                trade = Trade(
                    tracked[int(row["locate"])],
                    int(row["shares"]),
                    int(row["price"]),
                    int(row["timestamp"]),
                )
                last_print = max(sim.now, trade.timestamp) + config.feed_latency_ns
                sim.at(last_print, lambda t=trade: core.on_trade(t))

        for rec in records:
            locate = int(rec["locate"])
            symbol = tracked.get(locate)
            if symbol is None:
                continue
            ts = int(rec["timestamp"])
            deliver_prints(ts)
            if next_sample is None:
                next_sample = ts + config.sample_ns
                next_timer = ts + SECOND_NS
            # Timers and samples fire at their own simulated times, between market events.
            while next_timer is not None and next_timer <= ts:
                sim.run_until(next_timer)
                core.strategies.on_timer(next_timer)
                core.risk.evaluate_market_data()
                next_timer += SECOND_NS
            while next_sample <= ts:
                sim.run_until(next_sample)
                sample(next_sample)
                next_sample += config.sample_ns
            sim.run_until(ts)
            top = BookTop.from_record(rec)
            venue.on_market(symbol, top)
            sim.at(ts + config.feed_latency_ns, lambda t=top: core.on_book_top(t))
            sim.run_until(ts)
        deliver_prints(None)
        sim.run_until(
            max(sim.now, last_print) + config.order_latency_ns * 2 + config.feed_latency_ns
        )
        sample(sim.now)

        records_used = int(np.isin(records["locate"], list(tracked)).sum()) if len(records) else 0
        all_records = core.orders.records()
        filled = sum(r.filled_quantity for r in all_records)
        fills = sum(len(r.execution_ids) for r in all_records)
        positions = core.orders.positions().values()
        turnover = sum(p.traded_notional for p in positions) / 10_000
        last = curve[-1]
        return BacktestResult(
            curve=curve,
            orders_sent=len(sent),
            orders_rejected=rejected,
            shares_sent=sum(sent.values()),
            shares_filled=filled,
            fills=fills,
            turnover_usd=turnover,
            realised_usd=last.realised_usd,
            unrealised_usd=last.unrealised_usd,
            fees_usd=last.fees_usd,
            net_usd=last.net_usd,
            max_drawdown_usd=max_drawdown([p.net_usd for p in curve]),
            sharpe=sharpe([p.net_usd for p in curve], config.sample_ns),
            records=records_used,
            orders=[
                (r.order.client_order_id, str(r.order.side), r.order.quantity, r.order.price)
                for r in all_records
            ],
        )
    finally:
        core.close()


def max_drawdown(equity: list[float]) -> float:
    peak, worst = -math.inf, 0.0
    for value in equity:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


def sharpe(equity: list[float], sample_ns: int) -> float | None:
    """Annualised Sharpe ratio of the per-sample PnL changes (zero risk-free rate), over a
    year of 252 sessions of 6.5 hours; None when it is undefined (flat or too short)."""
    changes = np.diff(np.asarray(equity, dtype=float))
    if len(changes) < 2 or float(np.std(changes, ddof=1)) == 0.0:
        return None
    per_year = TRADING_SECONDS_PER_YEAR * SECOND_NS / sample_ns
    return float(np.mean(changes) / np.std(changes, ddof=1) * math.sqrt(per_year))
