"""An in-process paper venue: acknowledges, fills marketable orders against the displayed top
of book, rests the rest, and fills resting orders when the market trades through them.

It is what ``velocimex serve`` trades against when no exchange session is configured. It is
deliberately simple (no queue position, liquidity taken from the displayed top only, one fill
per order and book update) and it keeps no state across restarts: orders left open by a
previous run are not known to it. Reports are sequenced like a SoupBinTCP stream and continue
from the sequence number the order manager asks for on connect.
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Callable, Iterable

from velocimex.control.venue import VenueSessionBase

from velocimex.domain import (
    BookTop,
    Fill,
    Instrument,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderFillReported,
    OrderType,
    Side,
)


class PaperVenue(VenueSessionBase):
    name = "paper"

    def __init__(
        self, instruments: Iterable[Instrument], clock_ns: Callable[[], int] | None = None
    ) -> None:
        super().__init__()
        self._clock = clock_ns or time.time_ns
        self._symbols = {i.locate: i.symbol for i in instruments}
        self._tops: dict[str, BookTop] = {}
        self._taken: dict[str, dict[Side, int]] = {}  # displayed shares used since the last top
        self._resting: dict[str, list] = {}  # cid -> [order, leaves]
        self._seq = 0
        self._exec_ids = itertools.count(1)
        # Execution ids must not repeat across runs, or a restart would drop real fills.
        self._run = secrets.token_hex(4)

    def connect(self, next_sequence: int) -> None:
        self._seq = next_sequence - 1

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def on_book_top(self, top: BookTop) -> None:
        symbol = self._symbols.get(top.locate)
        if symbol is None:
            return
        self._tops[symbol] = top
        self._taken[symbol] = {Side.BUY: 0, Side.SELL: 0}
        for cid in [c for c, (o, _) in self._resting.items() if o.symbol == symbol]:
            self._match(cid)

    def _transmit_order(self, order: Order) -> None:
        cid = order.client_order_id
        self._report(
            OrderAccepted(cid, self._clock(), venue_order_id=f"P{cid}", venue_seq=self._next_seq())
        )
        self._resting[cid] = [order, order.quantity]
        self._match(cid)
        if cid in self._resting and order.order_type in (OrderType.IOC, OrderType.MARKET):
            leaves = self._resting.pop(cid)[1]
            self._report(
                OrderCancelled(
                    cid,
                    self._clock(),
                    cancelled_quantity=leaves,
                    reason="ioc",
                    venue_seq=self._next_seq(),
                )
            )

    def _transmit_cancel(self, order: Order) -> None:
        cid = order.client_order_id
        entry = self._resting.pop(cid, None)
        if entry is None:
            # Only an order from before a restart can be open for us and unknown here (this
            # venue keeps no state): it no longer exists, so it is cancelled, not left open.
            self._report(
                OrderCancelled(
                    cid, self._clock(), reason="unknown after restart", venue_seq=self._next_seq()
                )
            )
            return
        self._report(
            OrderCancelled(
                cid, self._clock(), cancelled_quantity=entry[1], venue_seq=self._next_seq()
            )
        )

    def _match(self, cid: str) -> None:
        order, leaves = self._resting[cid]
        top = self._tops.get(order.symbol)
        if top is None or order.price is None or top.has_sequence_gap:
            return
        taken = self._taken.setdefault(order.symbol, {Side.BUY: 0, Side.SELL: 0})
        if order.side is Side.BUY:
            px, shown = top.best_ask, top.ask_qty
            crosses = px is not None and order.price >= px
        else:
            px, shown = top.best_bid, top.bid_qty
            crosses = px is not None and order.price <= px
        available = shown - taken[order.side]
        if not crosses or available <= 0 or px is None:
            return
        qty = min(leaves, available)
        taken[order.side] += qty
        fill = Fill(
            cid,
            f"P{self._run}-{next(self._exec_ids)}",
            order.symbol,
            order.side,
            qty,
            px,
            venue=self.name,
            ts_ns=self._clock(),
            liquidity="R",
        )
        leaves -= qty
        if leaves:
            self._resting[cid][1] = leaves
        else:
            del self._resting[cid]
        self._report(OrderFillReported(cid, fill.ts_ns, fill=fill, venue_seq=self._next_seq()))
