"""The risk manager: SEC 15c3-5 style market-access controls on the only path to the venue.

It owns the venue session (and the approval authority the session is bound to), so every new
order and every cancel passes through here. Pre-trade checks run in a fixed order and the first
failure is the reason. Circuit breakers (loss limit, venue reject rate) move the trading state
and stay tripped until a risk officer resets them; stale or gapped market data blocks new orders
in that instrument for as long as it lasts, and a market order is never priced from it. Every
decision, limit change and state change is appended to the audit log, and the trading state,
kill switch and limits are restored from that log on start.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from json.encoder import encode_basestring_ascii as _json_str
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from velocimex.control.journal import Journal
from velocimex.control.order_manager import OrderBookView, RiskDecision
from velocimex.control.order_state import OrderRecord
from velocimex.control.venue import ApprovalAuthority, Venue

from velocimex.domain import (
    MAX_ITCH_PRICE,
    BookTop,
    Instrument,
    Order,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderReplaced,
    OrderState,
    OrderSubmitted,
    OrderType,
    Side,
    TradingState,
)

SECOND_NS = 1_000_000_000

# Enum members bound to module names for the per-order paths: on CPython 3.11 reading a
# member off its class (``Side.BUY``) goes through the enum machinery and costs several
# attribute lookups; a module global is one.
_BUY = Side.BUY
_MARKET = OrderType.MARKET
_HALTED = TradingState.HALTED
_REDUCING_ONLY = TradingState.REDUCING_ONLY
# RiskDecision's generated ``__new__`` is a Python lambda around ``tuple.__new__``; calling the
# latter builds the same named tuple without a Python frame per order.
_new_tuple = tuple.__new__
# A duplicate of an order that ended in one of these is a re-send, not a duplicate.
_RESENDABLE = frozenset({OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED})
_FINISHED = frozenset(s for s in OrderState if s.is_terminal)
_FINISHING_EVENTS = (OrderFilled, OrderCancelled, OrderRejected, OrderExpired)


_FINISHED_OR_UNKNOWN = _FINISHED | {None}


def market_order_price(buying: bool, opposite: int, collar_bps: int) -> int:
    """The limit a market order goes out at: the far edge of the price collar around the best
    opposite price, so it can sweep the book but never trade through the collar (the smart
    router prices a market parent with this too)."""
    if buying:
        return min(MAX_ITCH_PRICE, opposite * (10_000 + collar_bps) // 10_000)
    return max(1, -(-opposite * (10_000 - collar_bps) // 10_000))


def _self_trade_reason(order: Order, against_id: str, resting: int | None) -> str:
    side, against = ("buy", "sell") if order.side is _BUY else ("sell", "buy")
    at = "market" if order.order_type is _MARKET else str(order.price)
    return (
        f"self_trade: {side} at {at} would trade against our own working {against}"
        f" {against_id} at {resting}"
    )


def _self_trade_scan(order: Order, records: Iterable[OrderRecord]) -> str:
    """The self-trade check over every open order: what the index answers in one look."""
    buying = order.side is _BUY
    market = order.order_type is _MARKET
    price = order.price
    assert price is not None
    for record in records:
        other = record.order
        if (
            other.side is order.side
            or other.symbol != order.symbol
            or other.account_id != order.account_id
            or record.leaves_quantity <= 0
            or record.state in _FINISHED
        ):
            continue
        resting = other.price
        if market or resting is None or (price >= resting if buying else price <= resting):
            return _self_trade_reason(order, other.client_order_id, resting)
    return ""


class RiskLimits(BaseModel):
    """Limits of one account. Prices and notionals in ITCH units (1/10000 dollar)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_quantity: int = Field(10_000, ge=1, description="shares per order")
    max_order_notional: int = Field(
        1_000_000 * 10_000, ge=1, description="price * shares per order, ITCH units"
    )
    price_collar_bps: int = Field(
        500, ge=0, le=100_000, description="how far through the opposite best a limit may go"
    )
    max_position: int = Field(50_000, ge=0, description="absolute shares per instrument")
    max_gross_exposure: int = Field(
        5_000_000 * 10_000, ge=0, description="sum of |positions| and open orders, ITCH units"
    )
    max_open_orders: int = Field(200, ge=0)
    max_messages_per_second: int = Field(500, ge=1, description="new orders + cancels")
    duplicate_window_ms: int = Field(
        250, ge=0, description="same strategy/symbol/side/price/qty inside this window is refused"
    )
    max_loss: int = Field(
        100_000 * 10_000, ge=0, description="realised + unrealised loss that trips reducing-only"
    )
    max_reject_rate: float = Field(0.5, ge=0.0, le=1.0, description="venue rejects / orders")
    reject_rate_min_orders: int = Field(20, ge=1, description="orders in window before judging")
    reject_rate_window_s: int = Field(60, ge=1)
    max_market_data_age_ms: int = Field(5_000, ge=1)
    self_trade_prevention: bool = Field(
        True,
        description="refuse an order that would trade against our own working order on the"
        " other side of the same instrument and account",
    )


class _PlainLimits:
    """The per-order limits as plain ints in slots: a pydantic model's attribute reads go
    through its ``__getattr__`` hook, several times the cost of a slot."""

    __slots__ = (
        "max_gross_exposure",
        "max_messages_per_second",
        "max_open_orders",
        "max_order_notional",
        "max_order_quantity",
        "max_position",
        "price_collar_bps",
    )

    def __init__(self, limits: RiskLimits) -> None:
        for name in self.__slots__:
            setattr(self, name, int(getattr(limits, name)))


class _MarketView:
    """The last book top of one instrument, unpacked once per update for the pre-trade path."""

    __slots__ = ("ask", "bid", "gap", "received_ns", "top")

    def __init__(self, top: BookTop, received_ns: int) -> None:
        self.top = top
        self.received_ns = received_ns
        self.bid = top.best_bid
        self.ask = top.best_ask
        self.gap = top.has_sequence_gap


@dataclass
class BreakerStatus:
    name: str
    tripped: bool = False
    reason: str = ""
    tripped_ns: int = 0


@dataclass
class RiskCounters:
    checked: int = 0
    approved: int = 0
    rejected: int = 0
    cancels_sent: int = 0
    listener_errors: int = 0
    reject_reasons: dict[str, int] = field(default_factory=dict)


class RiskManager:
    def __init__(
        self,
        venue: Venue,
        audit: Journal,
        instruments: Iterable[Instrument],
        limits: RiskLimits | None = None,
        *,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._authority = ApprovalAuthority()
        self._venue = venue
        venue.bind_risk(self._authority)
        self.audit = audit
        self.clock_ns = clock_ns
        self.limits = limits or RiskLimits()
        self.instruments = {i.symbol: i for i in instruments}
        self._marks: dict[str, int | None] = {}
        self._by_locate = {i.locate: i.symbol for i in self.instruments.values()}
        self.state = TradingState.ACTIVE
        self.kill_switch = False
        self.breakers = {
            name: BreakerStatus(name)
            for name in ("loss_limit", "reject_rate", "stale_market_data", "kill_switch")
        }
        self.counters = RiskCounters()
        self._market: dict[str, _MarketView] = {}
        self._message_times: deque[int] = deque()
        # (strategy, symbol, buying, price, qty, venue) -> (when, client order id) of the last
        # approval. The venue is part of it: a router splitting a parent sends equal children to
        # two venues on purpose.
        self._recent: dict[tuple[str, str, bool, int | None, int, str], tuple[int, str]] = {}
        self._sent_times: deque[int] = deque()
        self._venue_reject_times: deque[int] = deque()
        self._book: OrderBookView | None = None
        self._cancel_all: Callable[[str], object] | None = None
        # Our working orders for the self-trade check, kept from the attached book's events:
        # client order id -> ((symbol, buying), heap key, price), and per (symbol, buying) a
        # heap whose top is the best working price (a buy's key is -price, a sell's price), so
        # a check looks at one order, not all of them. Entries of finished or repriced orders
        # are dropped when they reach the top.
        self._working: dict[str, tuple[tuple[str, bool], int, int | None]] = {}
        self._resting: dict[tuple[str, bool], list[tuple[int, str]]] = {}
        self._lock = threading.RLock()
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self._restore()

    @property
    def limits(self) -> RiskLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: RiskLimits) -> None:
        # Derived nanosecond bounds, computed once per limit change instead of per order.
        self._duplicate_window_ns = limits.duplicate_window_ms * 1_000_000
        # age_ms = age_ns // 1e6 exceeds the limit exactly when age_ns reaches (limit + 1) ms.
        self._stale_after_ns = (limits.max_market_data_age_ms + 1) * 1_000_000
        self._self_trade_prevention = limits.self_trade_prevention
        self._plain = _PlainLimits(limits)
        self._limits = limits

    # ------------------------------------------------------------------ wiring
    def attach_order_book(
        self, book: OrderBookView, cancel_all: Callable[[str], object] | None = None
    ) -> None:
        """The order manager's view (positions, open orders) and its cancel-all. Its events
        must reach :meth:`on_order_event` (``TradingCore`` subscribes it)."""
        with self._lock:
            self._book = book
            self._cancel_all = cancel_all
            # Orders restored from the journal are working before any event is seen.
            self._reindex(book.open_records())

    def subscribe(self, listener: Callable[[dict[str, Any]], None]) -> None:
        self._listeners.append(listener)

    def connect_venue(self, next_sequence: int) -> None:
        self._venue.connect(next_sequence)

    @property
    def venue_name(self) -> str:
        return self._venue.name

    # ------------------------------------------------------------------ market data
    def on_book_top(self, top: BookTop) -> None:
        symbol = self._by_locate.get(top.locate)
        if symbol is None:
            return
        with self._lock:
            self._market[symbol] = _MarketView(top, self.clock_ns())
            self._marks[symbol] = top.mark()
        if self.breakers["stale_market_data"].tripped:
            self.evaluate_market_data()
        self._check_loss()

    def evaluate_market_data(self) -> None:
        """The stale-data breaker: tripped while any instrument's data is missing, gapped or
        older than the limit, cleared by itself when all are fresh again. (Orders are blocked
        per instrument by the pre-trade check whatever this breaker says.) Called on a timer
        and on every book top while tripped."""
        problems = {}
        for symbol in self.instruments:
            problem = self.market_data_problem(symbol)
            if problem is not None:
                problems[symbol] = problem
        with self._lock:
            status = self.breakers["stale_market_data"]
            reason = "; ".join(f"{s}: {p}" for s, p in sorted(problems.items()))
            if problems and not status.tripped:
                status.tripped, status.tripped_ns = True, time.time_ns()
                self._audit("breaker_tripped", breaker="stale_market_data", reason=reason)
            elif not problems and status.tripped:
                self.breakers["stale_market_data"] = BreakerStatus("stale_market_data")
                self._audit("breaker_cleared", breaker="stale_market_data")
            self.breakers["stale_market_data"].reason = reason
            # Forget duplicate-detection keys that can no longer match.
            horizon = self.clock_ns() - self.limits.duplicate_window_ms * 1_000_000
            self._recent = {k: v for k, v in self._recent.items() if v[0] >= horizon}

    def market_top(self, symbol: str) -> BookTop | None:
        view = self._market.get(symbol)
        return None if view is None else view.top

    def market_data_problem(self, symbol: str) -> str | None:
        """Why the market data of ``symbol`` cannot be trusted right now, or None."""
        view = self._market.get(symbol)
        if view is None:
            return "no market data"
        return self._market_view_problem(view, self.clock_ns())

    def _market_view_problem(self, view: _MarketView, now: int) -> str | None:
        if view.gap:
            return "sequence gap in market data"
        age_ns = now - view.received_ns
        if age_ns >= self._stale_after_ns:
            return f"market data {age_ns // 1_000_000} ms old"
        return None

    def marks(self) -> dict[str, int | None]:
        return dict(self._marks)

    # ------------------------------------------------------------------ pre-trade
    def check_order(self, order: Order, book: OrderBookView) -> RiskDecision:
        # acquire/release, not ``with``: under half the cost on CPython 3.11 (timeit, this build).
        self._lock.acquire()
        try:
            now = self.clock_ns()
            counters = self.counters
            counters.checked += 1
            # The side as a bool, not the Side member: hashing an enum member runs the Python
            # level Enum.__hash__, and the key is hashed twice per order.
            key = (
                order.strategy_id,
                order.symbol,
                order.side is _BUY,
                order.price,
                order.quantity,
                order.venue,
            )
            reason, priced = self._first_failure(order, book, now, key)
            if reason is None:
                self._message_times.append(now)
                self._sent_times.append(now)
                self._recent[key] = (now, order.client_order_id)
                counters.approved += 1
                approval = self._authority.mint(order.client_order_id, "new")
                decision = _new_tuple(RiskDecision, (True, "", priced, approval))
                self._audit_order_check(order, priced.price, True, "")
            else:
                counters.rejected += 1
                code = reason.split(":", 1)[0]
                counters.reject_reasons[code] = counters.reject_reasons.get(code, 0) + 1
                decision = _new_tuple(RiskDecision, (False, reason, priced, None))
                self._audit_order_check(order, priced.price, False, reason)
            return decision
        finally:
            self._lock.release()

    def _first_failure(
        self, order: Order, book: OrderBookView, now: int, key: tuple[Any, ...]
    ) -> tuple[str | None, Order]:
        if self.kill_switch:
            return "kill_switch: trading killed", order
        if self.state is _HALTED:
            return "halted: trading state is halted", order
        symbol = order.symbol
        # Only configured instruments ever get a market view: one lookup serves both checks.
        view = self._market.get(symbol)
        if view is None and symbol not in self.instruments:
            return f"unknown_instrument: {symbol}", order
        lim = self._plain
        quantity = order.quantity
        if quantity > lim.max_order_quantity:
            return f"max_order_quantity: {quantity} > {lim.max_order_quantity}", order

        window = self._duplicate_window_ns
        if window:
            last = self._recent.get(key)
            if last is not None and now - last[0] <= window:
                # Re-sending an order we cancelled (a quote put back) is not a duplicate; a
                # second copy of one still working, or already filled, is.
                prior = book.order_state(last[1])
                if prior not in _RESENDABLE:
                    return "duplicate_order: same order inside the duplicate window", order

        if view is None:
            return "stale_market_data: no market data", order
        if view.gap or now - view.received_ns >= self._stale_after_ns:
            # Never price a market order, or judge a collar, from data we cannot trust.
            return f"stale_market_data: {self._market_view_problem(view, now)}", order
        buying = order.side is _BUY
        if order.order_type is _MARKET:
            order, why = self._price_market_order(order, view.top)
            if why:
                return why, order
        price = order.price
        assert price is not None
        # The collar, inline: a method call here costs about as much as the arithmetic.
        bps = lim.price_collar_bps
        if buying:
            reference = view.ask if view.ask is not None else view.bid
            if reference is None:
                return "no_market: empty book, cannot collar", order
            ceiling = reference * (10_000 + bps) // 10_000
            if price > ceiling:
                return f"price_collar: buy {price} above {ceiling}", order
        else:
            reference = view.bid if view.bid is not None else view.ask
            if reference is None:
                return "no_market: empty book, cannot collar", order
            floor = -(-reference * (10_000 - bps) // 10_000)
            if price < floor:
                return f"price_collar: sell {price} below {floor}", order
        notional = price * quantity
        if notional > lim.max_order_notional:
            return f"max_order_notional: {notional} > {lim.max_order_notional}", order

        position, open_buy, open_sell, open_count, open_notional, gross_positions = book.exposure(
            symbol, self._marks
        )
        # Our working leaves on the other side are already in hand: only when there are some
        # can the new order meet one of ours, so the common case reads no order record.
        if self._self_trade_prevention and (open_sell if buying else open_buy):
            crossed = self._self_trade_failure(order, book, open_count)
            if crossed:
                return crossed, order
        if self.state is _REDUCING_ONLY:
            if buying and position + open_buy + quantity > 0:
                return "reducing_only: order would not reduce the position", order
            if not buying and position - open_sell - quantity < 0:
                return "reducing_only: order would not reduce the position", order
        worst = position + open_buy + quantity if buying else position - open_sell - quantity
        if abs(worst) > lim.max_position:
            return f"max_position: worst case {worst} beyond {lim.max_position}", order

        gross = gross_positions + open_notional + notional
        if gross > lim.max_gross_exposure:
            return f"max_gross_exposure: {gross} > {lim.max_gross_exposure}", order

        if open_count >= lim.max_open_orders:
            return f"max_open_orders: {open_count} open", order

        times = self._message_times
        horizon = now - SECOND_NS
        while times and times[0] < horizon:
            times.popleft()
        if len(times) >= lim.max_messages_per_second:
            return f"throttle: {lim.max_messages_per_second} messages per second", order
        return None, order

    def _price_market_order(self, order: Order, top: BookTop) -> tuple[Order, str]:
        # A market order goes out as an aggressive limit at the far edge of the collar, so it
        # can sweep the book but never trade through the collar.
        buying = order.side is _BUY
        opposite = top.best_ask if buying else top.best_bid
        if opposite is None:
            what = "offer to price a market buy" if buying else "bid to price a market sell"
            return order, f"no_market: no {what}"
        return order.priced(market_order_price(buying, opposite, self._plain.price_collar_bps)), ""

    def _self_trade_failure(self, order: Order, book: OrderBookView, open_count: int) -> str:
        """The reason ``order`` would trade against one of our own working orders (same
        instrument and account, other side, price that meets it), or "". Any venue counts: a
        buy here and a sell there that meet are still a wash trade of one account. A market
        order meets every working order on the other side, whatever the collar priced it at.

        From the index when it holds exactly the book's open orders (the attached book, every
        event seen); otherwise every open order is read, and the index rebuilt from them."""
        if book is self._book and len(self._working) == open_count:
            reason = self._self_trade_from_index(order, book)
            if reason is not None:
                return reason
        records = book.open_records()
        if book is self._book:
            self._reindex(records)
        return _self_trade_scan(order, records)

    def _self_trade_from_index(self, order: Order, book: OrderBookView) -> str | None:
        """None when the index has no working order on the other side although the book shows
        working leaves there: it missed something, the caller reads the book instead."""
        buying = order.side is _BUY
        heap = self._resting.get((order.symbol, not buying))
        working = self._working
        while heap:
            heap_key, cid = heap[0]
            entry = working.get(cid)
            if entry is None or entry[1] != heap_key:
                heapq.heappop(heap)  # finished, or repriced (its new price has its own entry)
                continue
            if book.order_state(cid) in _FINISHED_OR_UNKNOWN:
                heapq.heappop(heap)  # its finishing event never reached us
                del working[cid]
                continue
            resting = entry[2]
            if (
                order.order_type is _MARKET
                or resting is None
                or (order.price >= resting if buying else order.price <= resting)  # type: ignore[operator]
            ):
                return _self_trade_reason(order, cid, resting)
            return ""  # the best of ours on the other side does not meet it: none does
        return None

    def _track_working(self, cid: str, side_key: tuple[str, bool], price: int | None) -> None:
        buying = side_key[1]
        if price is None:  # (never sent unpriced; if so, it meets anything)
            heap_key = -(MAX_ITCH_PRICE + 1) if buying else 0
        else:
            heap_key = -price if buying else price
        working = self._working
        working[cid] = (side_key, heap_key, price)
        heap = self._resting.get(side_key)
        if heap is None:
            heap = self._resting[side_key] = []
        heapq.heappush(heap, (heap_key, cid))
        if len(heap) > 64 and len(heap) > 4 * len(working):
            # Entries of finished orders below a long-lived best one never reach the top:
            # rebuild from the live ones now and then, so the heap stays the size of the book.
            heap[:] = [(e[1], c) for c, e in working.items() if e[0] == side_key]
            heapq.heapify(heap)

    def _reindex(self, records: Iterable[OrderRecord]) -> None:
        self._working = {}
        self._resting = {}
        for record in records:
            order = record.order
            if record.state not in _FINISHED and record.leaves_quantity > 0:
                self._track_working(
                    order.client_order_id, (order.symbol, order.side is _BUY), order.price
                )

    @staticmethod
    def _expire(times: deque[int], horizon: int) -> None:
        while times and times[0] < horizon:
            times.popleft()

    # ------------------------------------------------------------------ the wire
    def transmit_order(self, decision: RiskDecision) -> None:
        self._lock.acquire()
        try:
            if not decision.approved or decision.approval is None:
                raise PermissionError("order was not approved")
            if self.kill_switch or self.state is _HALTED:
                # The state changed between check and send: the approval is void.
                self._authority.void(decision.approval)
                self._audit(
                    "order_blocked", client_order_id=decision.order.client_order_id, reason="halted"
                )
                raise PermissionError("trading halted before the order was sent")
            self._venue.send_order(decision.order, decision.approval)
        finally:
            self._lock.release()

    def transmit_cancel(self, order: Order) -> None:
        # Cancels reduce risk: they pass in every state and are never throttled away.
        with self._lock:
            self._message_times.append(self.clock_ns())
            self.counters.cancels_sent += 1
            self._audit("cancel_sent", client_order_id=order.client_order_id)
            approval = self._authority.mint(order.client_order_id, "cancel")
            self._venue.send_cancel(order, approval)

    # ------------------------------------------------------------------ events
    def on_order_event(self, event: OrderEvent) -> None:
        """Listener on the order manager: feeds the reject-rate and loss breakers and keeps
        the working-order index of the self-trade check."""
        if isinstance(event, OrderSubmitted):
            order = event.order
            with self._lock:
                self._track_working(
                    order.client_order_id, (order.symbol, order.side is _BUY), order.price
                )
            return
        if isinstance(event, _FINISHING_EVENTS):
            with self._lock:
                self._working.pop(event.client_order_id, None)
        elif isinstance(event, OrderReplaced) and event.new_price:
            with self._lock:
                entry = self._working.get(event.client_order_id)
                if entry is not None:
                    self._track_working(event.client_order_id, entry[0], event.new_price)
        if isinstance(event, OrderRejected) and not event.by_risk:
            with self._lock:
                now = self.clock_ns()
                self._venue_reject_times.append(now)
                self._check_reject_rate(now)
        elif isinstance(event, OrderPartiallyFilled | OrderFilled):
            self._check_loss()

    def _check_reject_rate(self, now: int) -> None:
        horizon = now - self.limits.reject_rate_window_s * SECOND_NS
        self._expire(self._venue_reject_times, horizon)
        self._expire(self._sent_times, horizon)
        sent = len(self._sent_times)
        rejects = len(self._venue_reject_times)
        if (
            sent >= self.limits.reject_rate_min_orders
            and rejects / sent > self.limits.max_reject_rate
        ):
            self._trip(
                "reject_rate", f"{rejects} venue rejects of {sent} orders", TradingState.HALTED
            )

    def pnl(self) -> tuple[Fraction, Fraction]:
        if self._book is None:
            return Fraction(0), Fraction(0)
        account = self._book.account()
        return account.realised_pnl(), account.unrealised_pnl(self.marks())

    def _check_loss(self) -> None:
        if self._book is None or self.breakers["loss_limit"].tripped:
            return
        realised, unrealised = self.pnl()
        total = realised + unrealised
        if total < -self.limits.max_loss:
            self._trip(
                "loss_limit", f"PnL {float(total) / 10_000:.2f} USD", TradingState.REDUCING_ONLY
            )

    def _trip(self, breaker: str, reason: str, state: TradingState) -> None:
        with self._lock:
            status = self.breakers[breaker]
            status.tripped, status.reason, status.tripped_ns = True, reason, time.time_ns()
            self._audit("breaker_tripped", breaker=breaker, reason=reason)
            # A breaker only ever tightens the state; it never re-opens trading.
            order = [TradingState.ACTIVE, TradingState.REDUCING_ONLY, TradingState.HALTED]
            if order.index(state) > order.index(self.state):
                self._set_state(state, f"breaker {breaker}", actor="risk")

    # ------------------------------------------------------------------ controls
    def set_limits(self, limits: RiskLimits, actor: str) -> None:
        with self._lock:
            self.limits = limits
            self._audit("limits_changed", actor=actor, limits=limits.model_dump())

    def set_state(self, state: TradingState, actor: str, reason: str = "") -> None:
        with self._lock:
            if self.kill_switch and state is not TradingState.HALTED:
                raise PermissionError("reset the kill switch before changing the trading state")
            self._set_state(state, reason, actor)

    def _set_state(self, state: TradingState, reason: str, actor: str) -> None:
        previous, self.state = self.state, state
        self._audit(
            "state_changed", actor=actor, state=str(state), previous=str(previous), reason=reason
        )

    def engage_kill_switch(self, actor: str, reason: str = "") -> list[str]:
        """Halt, block every new order, and cancel every open order. Returns the cancelled ids."""
        with self._lock:
            self.kill_switch = True
            self.breakers["kill_switch"].tripped = True
            self.breakers["kill_switch"].reason = reason or f"engaged by {actor}"
            self.breakers["kill_switch"].tripped_ns = time.time_ns()
            self._audit("kill_switch", actor=actor, engaged=True, reason=reason)
            self._set_state(TradingState.HALTED, "kill switch", actor)
        cancelled: list[str] = []
        if self._cancel_all is not None:
            result = self._cancel_all("kill switch")
            if isinstance(result, list):
                cancelled = [str(c) for c in result]
        return cancelled

    def reset_kill_switch(self, actor: str) -> None:
        with self._lock:
            self.kill_switch = False
            self.breakers["kill_switch"] = BreakerStatus("kill_switch")
            self._audit("kill_switch", actor=actor, engaged=False, reason="reset")
            # Trading stays halted until someone chooses to re-open it.

    def reset_breaker(self, name: str, actor: str) -> None:
        with self._lock:
            if name not in self.breakers or name == "kill_switch":
                raise KeyError(name)
            self.breakers[name] = BreakerStatus(name)
            if name == "reject_rate":
                self._venue_reject_times.clear()
                self._sent_times.clear()
            self._audit("breaker_reset", actor=actor, breaker=name)

    # ------------------------------------------------------------------ audit
    # Per-order records are many and rebuild nothing; they ride on the next fsync. Records
    # that restore state on start (trading state, kill switch, limits, breakers) are fsync'd.
    _NOT_DURABLE = frozenset({"order_check", "cancel_sent", "order_blocked"})

    def _audit_order_check(
        self, order: Order, price: int | None, approved: bool, reason: str
    ) -> None:
        """The per-order ``order_check`` record, formatted directly in canonical form (sorted
        keys, compact): the same line ``_audit`` would write, without a dict and json.dumps
        per order. tests/test_risk.py holds the two to byte equality."""
        ts_ns = time.time_ns()
        text = (
            f'{{"action":"order_check","approved":{"true" if approved else "false"}'
            f',"client_order_id":{_json_str(order.client_order_id)}'
            f',"order_type":{_json_str(order.order_type)}'
            f',"price":{"null" if price is None else int(price)}'
            f',"quantity":{int(order.quantity)},"reason":{_json_str(reason)}'
            f',"side":{_json_str(order.side)},"strategy_id":{_json_str(order.strategy_id)}'
            f',"symbol":{_json_str(order.symbol)},"ts_ns":{ts_ns}'
            f',"venue":{_json_str(order.venue)}}}'
        )
        self.audit.append_canonical(text, durable=False)
        if self._listeners:
            self._notify(
                {
                    "ts_ns": ts_ns,
                    "action": "order_check",
                    "client_order_id": order.client_order_id,
                    "strategy_id": order.strategy_id,
                    "symbol": order.symbol,
                    "side": str(order.side),
                    "quantity": order.quantity,
                    "price": price,
                    "order_type": str(order.order_type),
                    "venue": order.venue,
                    "approved": approved,
                    "reason": reason,
                }
            )

    def _audit(self, action: str, **details: Any) -> None:
        record = {"ts_ns": time.time_ns(), "action": action, **details}
        durable = action not in self._NOT_DURABLE
        self.audit.append(record, durable=durable)
        if durable and self.audit.group_commit:
            # State that is restored on start (kill switch, trading state, limits, breakers)
            # is on disk before the call returns, even under group commit.
            self.audit.sync()
        self._notify(record)

    def _notify(self, record: dict[str, Any]) -> None:
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:  # an observer must never change a risk decision
                self.counters.listener_errors += 1

    def _restore(self) -> None:
        for record in self.audit.records():
            action = record.get("action")
            if action == "state_changed":
                self.state = TradingState(record["state"])
            elif action == "kill_switch":
                self.kill_switch = bool(record["engaged"])
                self.breakers["kill_switch"].tripped = self.kill_switch
            elif action == "limits_changed":
                self.limits = RiskLimits(**record["limits"])
            elif action == "breaker_tripped" and record["breaker"] in self.breakers:
                self.breakers[record["breaker"]].tripped = True
                self.breakers[record["breaker"]].reason = record.get("reason", "")
            elif (
                action in ("breaker_reset", "breaker_cleared")
                and record["breaker"] in self.breakers
            ):
                self.breakers[record["breaker"]] = BreakerStatus(record["breaker"])
