"""Assembly of the trading core: journal, order manager, risk manager, strategies, one venue.

This is the one place that holds the venue session, and it hands it straight to the risk
manager; everything else (API, strategies) gets the order manager and the risk manager only.
Holding the session object would not help anyone else anyway: it sends nothing without an
approval minted by the risk manager it is bound to.

All state changes run under the order manager's lock, taken first, so market data arriving
on a feed thread and requests arriving on the API thread never interleave inside the core.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from velocimex.control.journal import Journal
from velocimex.control.order_manager import OrderManager
from velocimex.control.risk import RiskLimits, RiskManager
from velocimex.control.strategy import StrategyHost
from velocimex.control.venue import Venue

from velocimex.domain import BookTop, Instrument, Trade

if TYPE_CHECKING:
    from velocimex.control.routing import SmartRouter

BookTopListener = Callable[[BookTop], None]

# Every order leaves a few container objects alive for good (its record, order, event), so
# with CPython's default threshold (700) a young-generation collection runs every ~125
# orders and costs ~60 us, and every tenth a middle one of ~1 ms (gc callbacks in the order
# path bench): an order-path tail of the collector's making. A higher first threshold makes
# them rare; objects alive once the core is built (imports, the replayed history) are frozen
# out of every later collection, once per process (a frozen object is never collected, so
# freezing again for every core a backtest sweep builds would keep each run's garbage).
GC_THRESHOLD0 = 50_000
_gc_frozen = False


def tune_gc_for_order_path() -> None:
    """Raise the young-generation threshold (never lowers it); the first time, freeze what
    is alive now."""
    global _gc_frozen
    threshold0, threshold1, threshold2 = gc.get_threshold()
    if threshold0 and threshold0 < GC_THRESHOLD0:
        gc.set_threshold(GC_THRESHOLD0, threshold1, threshold2)
    if not _gc_frozen:
        _gc_frozen = True
        gc.freeze()


class TradingCore:
    def __init__(
        self,
        data_dir: str | Path,
        instruments: Iterable[Instrument],
        venue: Venue,
        limits: RiskLimits | None = None,
        *,
        fsync: bool = True,
        group_commit: bool = True,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        tune_gc: bool = True,
    ) -> None:
        data_dir = Path(data_dir)
        self.instruments = {i.symbol: i for i in instruments}
        self.started_ns = time.time_ns()
        # group_commit (the default): see velocimex.control.journal for what survives which
        # crash, and velocimex.control.ouch_venue for how the orders a power loss took from
        # the journals are recovered from the venue's replay.
        self.journal = Journal(data_dir / "orders.jsonl", fsync=fsync, group_commit=group_commit)
        self.audit = Journal(data_dir / "audit.jsonl", fsync=fsync, group_commit=group_commit)
        self.risk = RiskManager(
            venue, self.audit, self.instruments.values(), limits, clock_ns=clock_ns
        )
        self.orders = OrderManager(self.journal, self.risk)
        self.lock = self.orders.lock
        self.risk.attach_order_book(self.orders, self.orders.cancel_all)
        self.orders.subscribe(self.risk.on_order_event)
        self.strategies = StrategyHost(self.orders, self.instruments)
        self.router: SmartRouter | None = None  # set by a SmartRouter built over this core
        # A venue that simulates fills needs the market data; it still cannot send by itself.
        market_sink = getattr(venue, "on_book_top", None)
        self._book_top_listeners: list[BookTopListener] = [self.risk.on_book_top]
        if callable(market_sink):
            self._book_top_listeners.append(market_sink)
        self._book_top_listeners.append(self.strategies.on_book_top)
        self.book_tops_received = 0
        self.trades_received = 0
        self._trade_listeners: list[Callable[[Trade], None]] = []
        self.book_top_listener_errors = 0
        venue.set_report_handler(self.orders.on_venue_report)
        share_lock = getattr(venue, "share_lock", None)
        if callable(share_lock):  # a venue set orders its sessions' reports under our lock
            share_lock(self.lock)
        # Resume the venue's sequenced stream right after the last report we journaled, so
        # fills that happened while we were down are applied exactly once.
        self.risk.connect_venue(self.orders.next_venue_sequence)
        if tune_gc:
            tune_gc_for_order_path()

    def subscribe_book_tops(self, listener: BookTopListener) -> None:
        self._book_top_listeners.append(listener)

    def on_book_top(self, top: BookTop) -> None:
        with self.lock:
            self.book_tops_received += 1
            for listener in self._book_top_listeners:
                try:
                    listener(top)
                except Exception:  # one consumer's bug must not starve the others
                    self.book_top_listener_errors += 1

    def subscribe_trades(self, listener: Callable[[Trade], None]) -> None:
        self._trade_listeners.append(listener)

    def on_trade(self, trade: Trade) -> None:
        """A trade printed on the feed: market volume for the strategies that follow it."""
        with self.lock:
            self.trades_received += 1
            self.strategies.on_trade(trade)
            for listener in self._trade_listeners:
                try:
                    listener(trade)
                except Exception:  # an observer (the UI's tape) must not starve strategies
                    self.book_top_listener_errors += 1

    def kill(self, actor: str, reason: str = "") -> list[str]:
        """The kill switch: stop every strategy, block new orders, cancel every open order."""
        with self.lock:
            for strategy_id, slot in self.strategies.slots.items():
                if slot.running:
                    self.strategies.stop(strategy_id, cancel_orders=False)
            return self.risk.engage_kill_switch(actor, reason)

    def close(self) -> None:
        if self.router is not None:
            self.router.close()
        self.journal.close()
        self.audit.close()
