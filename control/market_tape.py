"""Recent book tops and trade prints per instrument and recent fills, kept in memory for the
UI's price chart, trades and fills panels (a page opened mid-session starts with history,
then follows /ws/events)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from velocimex.domain import (
    BookTop,
    Fill,
    Instrument,
    OrderEvent,
    OrderFilled,
    OrderPartiallyFilled,
    Trade,
)

TOPS_PER_INSTRUMENT = 2_000
FILLS_KEPT = 2_000
TRADES_PER_INSTRUMENT = 2_000


@dataclass(frozen=True)
class TopSample:
    ts_ns: int  # local receive time: the chart's clock, comparable across instruments
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int


class MarketTape:
    def __init__(
        self,
        instruments: Mapping[str, Instrument],
        tops_per_instrument: int = TOPS_PER_INSTRUMENT,
        fills_kept: int = FILLS_KEPT,
    ) -> None:
        self._symbol_of = {inst.locate: symbol for symbol, inst in instruments.items()}
        self._tops: dict[str, deque[TopSample]] = {
            symbol: deque(maxlen=tops_per_instrument) for symbol in instruments
        }
        self._fills: deque[Fill] = deque(maxlen=fills_kept)
        self._trades: dict[str, deque[Trade]] = {
            symbol: deque(maxlen=TRADES_PER_INSTRUMENT) for symbol in instruments
        }
        self._lock = threading.Lock()

    def on_book_top(self, top: BookTop) -> None:
        symbol = self._symbol_of.get(top.locate)
        if symbol is None:
            return
        sample = TopSample(time.time_ns(), top.bid_px, top.bid_qty, top.ask_px, top.ask_qty)
        with self._lock:
            self._tops[symbol].append(sample)

    def on_order_event(self, event: OrderEvent) -> None:
        # The order manager turns each accepted fill report into exactly one of these two.
        if isinstance(event, OrderPartiallyFilled | OrderFilled) and event.fill is not None:
            with self._lock:
                self._fills.append(event.fill)

    def on_trade(self, trade: Trade) -> None:
        tape = self._trades.get(trade.symbol)
        if tape is not None:
            with self._lock:
                tape.append(trade)

    def trades(self, symbol: str, limit: int) -> list[Trade]:
        with self._lock:
            trades = list(self._trades[symbol])
        return trades[-limit:]

    def has(self, symbol: str) -> bool:
        return symbol in self._tops

    def tops(self, symbol: str, limit: int) -> list[TopSample]:
        with self._lock:
            samples = list(self._tops[symbol])
        return samples[-limit:]

    def fills(self, limit: int, symbol: str | None = None) -> list[Fill]:
        with self._lock:
            fills = list(self._fills)
        if symbol is not None:
            fills = [f for f in fills if f.symbol == symbol]
        return fills[-limit:]
