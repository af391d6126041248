"""The kill switch against the real exchange simulator, with the market maker quoting into a
moving book and a counterparty ('bob', a second OUCH session) taking its quotes: tripped at
random moments, every order we have open ends cancelled (or filled)
within a bounded time, and the exchange's book holds none of ours afterwards.

The book tops the strategy sees are read from the exchange's matching engine on its loop, so
they lag the orders in flight much as the multicast feed does.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest
from velocimex.control.core import TradingCore
from velocimex.control.ouch_venue import OuchVenue
from velocimex.control.risk import RiskLimits

from tests.exchange_rig import ExchangeRig, venue_config
from velocimex.domain import BookTop, Instrument, OrderState, Side, TradingState
from velocimex.wire import ouch

ITERATIONS = 20
SETTLE_S = 5.0  # every open order must be finished this long after the kill switch
# The feed shows the book this late (multicast, decode, book build, bridge: a few ms).
FEED_LAG_S = 0.05


class LiveExchange(ExchangeRig):
    """The simulator with its participant flow running, on its own loop thread."""

    def __init__(self, seed: int) -> None:
        super().__init__(venue_config(seed=seed, rate=400.0))
        self.locate = self.venue.engine.locate_by_symbol["AAPL"]

    def top(self) -> tuple[int, int, int, int]:
        return self.on_loop(lambda: self.venue.engine.best(self.locate))  # type: ignore[return-value]

    def our_resting(self) -> list[object]:
        return self.on_loop(  # type: ignore[return-value]
            lambda: [
                o
                for o in self.venue.engine.resting_orders()
                if isinstance(o.owner, tuple) and o.owner[0] == "alice" and o.shares
            ]
        )


class TopPump:
    """Hands the engine's top of book to the core every few milliseconds, like the feed."""

    def __init__(self, exchange: LiveExchange, core: TradingCore) -> None:
        self.exchange, self.core = exchange, core
        self.stopped = threading.Event()
        self.seq = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        seen: deque[tuple[float, tuple[int, int, int, int]]] = deque()
        while not self.stopped.wait(0.003):
            now = time.monotonic()
            seen.append((now, self.exchange.top()))
            while len(seen) > 1 and seen[1][0] <= now - FEED_LAG_S:
                seen.popleft()
            bid_px, bid_qty, ask_px, ask_qty = seen[0][1]
            self.seq += 1
            self.core.on_book_top(
                BookTop(self.exchange.locate, self.seq, time.time_ns(), 0, bid_px, bid_qty,
                        ask_px, ask_qty)
            )  # fmt: skip

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(5)


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def live(tmp_path: Path):  # type: ignore[no-untyped-def]
    exchange = LiveExchange(seed=7)
    venue = OuchVenue(
        exchange.host, exchange.port, "alice", "pw1", tmp_path / "ouch_refs.jsonl", fsync=False
    )
    # No duplicate window: the market maker re-posts the same quote right after a cancel.
    limits = RiskLimits(max_messages_per_second=5_000, duplicate_window_ms=0)
    core = TradingCore(
        tmp_path, [Instrument("AAPL", exchange.locate, tick=100)], venue, limits, fsync=False
    )
    pump = TopPump(exchange, core)
    try:
        yield exchange, core
    finally:
        pump.stop()
        venue.close()
        core.close()
        exchange.stop()


def test_kill_switch_at_random_moments_leaves_nothing_open_here_or_at_the_exchange(
    live,
) -> None:  # type: ignore[no-untyped-def]
    exchange, core = live
    rng = random.Random(20261125)
    core.strategies.add(
        "mm",
        "market_maker",
        {"symbol": "AAPL", "quote_size": 100, "half_spread": 100, "requote_threshold": 100,
         "max_inventory": 100_000},
    )  # fmt: skip
    orders_seen = crossed = 0
    for iteration in range(ITERATIONS):
        core.risk.reset_kill_switch("test")
        core.risk.set_state(TradingState.ACTIVE, "test")
        core.strategies.start("mm")
        time.sleep(rng.uniform(0.05, 0.3))
        # A counterparty on its own session takes one of the strategy's quotes, so fills
        # arrive while the kill switch trips. (A desk order of ours would be refused by the
        # self-trade check.)
        quotes = [r for r in core.orders.open_records() if r.state is OrderState.ACKNOWLEDGED]
        if quotes:
            quote = rng.choice(quotes).order
            assert quote.price is not None
            side = "S" if quote.side is Side.BUY else "B"
            exchange.enter("bob", side, quote.quantity, quote.price, ouch.TIF_IOC)
            crossed += 1
        time.sleep(rng.uniform(0.0, 0.2))
        core.kill("test", f"drill {iteration}")
        finished = wait_until(lambda: not core.orders.open_records(), SETTLE_S)
        stuck = [(r.order.client_order_id, r.state.value) for r in core.orders.open_records()]
        assert finished, f"iteration {iteration}: still open {stuck}: {core.orders.last_anomaly}"
        assert exchange.our_resting() == [], f"iteration {iteration}"
        orders_seen = len(core.orders.records())
    assert not core.orders.anomalies, core.orders.last_anomaly
    assert orders_seen > 2 * ITERATIONS  # the strategy really quoted between the kills
    assert crossed > ITERATIONS // 2
    assert any(r.filled_quantity for r in core.orders.records())  # quotes really traded
