"""Smart order routing: one parent order split into child orders across venues with their own
books, by price then size.

The router holds no venue session. Each child is an ordinary order submitted through the
order manager with ``Order.venue`` set, so it passes every pre-trade check (size, collar,
position and exposure over all venues' fills and working orders, throttle, kill switch) and
reaches its venue through the risk manager's :class:`~velocimex.control.venue_set.VenueSet`.

Rules (docs/control-plane.md, "Smart order routing", says the same for users):

* Market data is per venue. A venue whose top is missing, carries a sequence-gap flag, or is
  older than ``max_age_ms`` is not routed to on that data, and it is left out of the
  consolidated top (best bid and offer over the usable venues, sizes summed at the best price)
  that the risk manager and the strategies see. With no usable venue the consolidated top is
  flagged as gapped, so risk refuses orders in that instrument.
* Ranking: best price for us first (lowest offer for a buy, highest bid for a sell); at equal
  price, more displayed size first (less what this router already sent against that same
  top); then the lower ``fee``; then the venue name. Only prices within the parent's limit.
* A taking child is an IOC at that venue's displayed price, for at most its displayed size: it
  never trades through another venue's better price and never rests by accident. No child is
  larger than the risk limit ``max_order_quantity``; a bigger share becomes several children.
* No overfill: a new child is at most ``quantity - filled - leaves of working children``, all
  read from the order manager's records, so a fill racing a cancel (which moves shares from
  leaves to filled) can never let the children's total exceed the parent.
* A child cancelled unfilled (liquidity gone) or partly filled frees its shares, which are
  routed again on current data; shares already sent against a top are not sent against it
  again, so a venue that keeps refusing liquidity waits for its next top.
* A venue whose order session is down (``session_problem``: the OUCH link is lost and
  reconnecting) is not routed to until it is back; a child not sent because of that holds its
  shares until the next top. A child the venue rejects (or its session refuses outright)
  removes that venue from this parent; the rest goes to the other venues.
* A child the risk manager refuses stops the parent (routing the same shares again would fail
  the same check); children already working keep working and can be cancelled with the
  parent. Refusals that clear by themselves (``duplicate_order``, ``throttle``,
  ``max_open_orders``, ``stale_market_data``) only leave those shares unrouted until the next
  top.
* Market parents (``limit_price=None``) follow the risk manager's market-order rules: refused
  (:class:`RoutingError`, nothing sent) unless the consolidated top is fresh and some usable
  venue shows the opposite side; priced once, at submission, at the far edge of the risk price
  collar around the best usable opposite price (what risk would price a single market order
  at), and then routed as an ``ioc`` parent with that protection limit: venues walked by best
  displayed price then size, never on a stale or gapped venue's data, never resting, never
  trading through the collar.
* ``day`` parents rest what displayed liquidity within the limit cannot fill as a limit order
  at the limit price on the top-ranked usable venue; if liquidity within the limit appears on
  another venue, the resting child is cancelled and its shares routed there once the cancel is
  confirmed. ``ioc`` parents never rest: what the displayed liquidity cannot fill is cancelled.
* Cancelling the parent cancels every working child; it is cancelled once none is working.
  The kill switch stops every parent (risk cancels the children).
* Parents, their children and state changes are journaled (``routing.jsonl``, write-ahead),
  so after a restart a working parent carries on with the children the order manager restored.
"""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from velocimex.control.journal import Journal
from velocimex.control.order_manager import OrderError
from velocimex.control.risk import market_order_price

from velocimex.book_contract import FLAG_SEQ_GAP
from velocimex.domain import (
    MAX_ITCH_PRICE,
    BookTop,
    OrderCancelled,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    OrderType,
    Side,
)

if TYPE_CHECKING:
    from velocimex.control.core import TradingCore

TimeInForce = Literal["day", "ioc"]
# Risk refusals that clear by themselves; any other refusal stops the parent.
_TRANSIENT_RISK_CODES = frozenset(
    {"duplicate_order", "throttle", "max_open_orders", "stale_market_data"}
)
_CHILD_DONE = (OrderFilled, OrderCancelled, OrderRejected, OrderExpired, OrderPartiallyFilled)


class ParentState(enum.StrEnum):
    WORKING = "working"
    CANCEL_PENDING = "cancel_pending"
    FILLED = "filled"
    CANCELLED = "cancelled"  # by the user, or the unfilled rest of an ioc parent
    STOPPED = "stopped"  # risk refused a child, or the kill switch: nothing more is routed


@dataclass(frozen=True)
class RoutingVenue:
    name: str
    fee: int = 0  # ITCH units per share taken: the tie-breaker after price and size


@dataclass
class ParentOrder:
    parent_id: str
    symbol: str
    side: Side
    quantity: int
    limit_price: int
    time_in_force: TimeInForce
    strategy_id: str
    state: ParentState = ParentState.WORKING
    market: bool = False  # a market parent: limit_price is the collar edge it was priced at
    reason: str = ""
    filled: int = 0
    working: int = 0  # leaves of working children
    children: dict[str, str] = field(default_factory=dict)  # client order id -> venue
    excluded: set[str] = field(default_factory=set)  # venues that rejected a child
    _routing: bool = field(default=False, repr=False)
    _held: bool = field(default=False, repr=False)
    _on_child: Callable[[str], None] | None = field(
        default=None, repr=False
    )  # refused for now: wait for the next top
    _again: bool = field(default=False, repr=False)

    @property
    def is_done(self) -> bool:
        return self.state in (ParentState.FILLED, ParentState.CANCELLED, ParentState.STOPPED)


@dataclass
class _Quote:
    top: BookTop
    received_ns: int
    taken: dict[Side, int]  # shares our children were sent against this very top, per our side


class RoutingError(ValueError):
    """A parent order the router refuses outright (bad symbol, price, unknown parent)."""


class SmartRouter:
    def __init__(
        self,
        core: TradingCore,
        venues: Sequence[RoutingVenue],
        market_sink: Callable[[str, BookTop], None] | None = None,
        *,
        max_age_ms: int | None = None,
        clock_ns: Callable[[], int] = time.monotonic_ns,
        journal: Journal | None = None,
        session_problem: Callable[[str], str | None] | None = None,
    ) -> None:
        names = [v.name for v in venues]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"routing venues must be distinct and non-empty: {names}")
        self.core = core
        self.orders = core.orders
        self.venues = list(venues)
        self.market_sink = market_sink
        self._max_age_ms = max_age_ms
        self._session_problem = session_problem
        self.clock_ns = clock_ns
        self.lock: threading.RLock = core.lock
        self._by_locate = {i.locate: s for s, i in core.instruments.items()}
        self._quotes: dict[tuple[str, str], _Quote] = {}
        self.parents: dict[str, ParentOrder] = {}
        self._parent_of: dict[str, ParentOrder] = {}
        self._ids = itertools.count(1)
        self.counters: Counter[str] = Counter()
        self.journal = journal
        if journal is not None:
            self._replay()
        self.orders.subscribe(self.on_order_event)
        core.risk.subscribe(self._on_risk_record)
        core.router = self
        core.strategies.router = self

    @property
    def max_age_ms(self) -> int:
        if self._max_age_ms is not None:
            return self._max_age_ms
        return self.core.risk.limits.max_market_data_age_ms

    # ------------------------------------------------------------------ market data
    def on_venue_book_top(self, venue_name: str, top: BookTop) -> None:
        """One venue's own top of book (its feed, locate already the configured one)."""
        symbol = self._by_locate.get(top.locate)
        if symbol is None or venue_name not in self.venue_names:
            self.counters["book_top_ignored"] += 1
            return
        with self.lock:
            self._quotes[(venue_name, symbol)] = _Quote(
                top, self.clock_ns(), {Side.BUY: 0, Side.SELL: 0}
            )
            if self.market_sink is not None:
                self.market_sink(venue_name, top)
            self.core.on_book_top(self.consolidated_top(symbol, top))
            for parent in list(self.parents.values()):
                if parent.symbol == symbol and not parent.is_done:
                    parent._held = False
                    self._route(parent)

    @property
    def venue_names(self) -> list[str]:
        return [v.name for v in self.venues]

    def quote_problem(self, venue_name: str, symbol: str) -> str | None:
        """Why this venue's data for ``symbol`` must not be routed on, or None."""
        quote = self._quotes.get((venue_name, symbol))
        if quote is None:
            return "no market data"
        if quote.top.has_sequence_gap:
            return "sequence gap in market data"
        age_ms = (self.clock_ns() - quote.received_ns) // 1_000_000
        if age_ms > self.max_age_ms:
            return f"market data {age_ms} ms old"
        return None

    def session_problem(self, venue_name: str) -> str | None:
        """Why this venue's order session cannot take orders now (link down), or None."""
        return None if self._session_problem is None else self._session_problem(venue_name)

    def usable(self, venue_name: str, symbol: str) -> bool:
        return (
            self.quote_problem(venue_name, symbol) is None
            and self.session_problem(venue_name) is None
        )

    def venue_top(self, venue_name: str, symbol: str) -> BookTop | None:
        quote = self._quotes.get((venue_name, symbol))
        return None if quote is None else quote.top

    def consolidated_top(self, symbol: str, trigger: BookTop) -> BookTop:
        usable = [
            self._quotes[(v, symbol)].top
            for v in self.venue_names
            if self.quote_problem(v, symbol) is None
        ]
        locate = self.core.instruments[symbol].locate
        if not usable:
            return BookTop(locate, trigger.seq, trigger.timestamp, FLAG_SEQ_GAP, 0, 0, 0, 0)
        bids = [t.best_bid for t in usable if t.best_bid is not None]
        asks = [t.best_ask for t in usable if t.best_ask is not None]
        bid = max(bids, default=0)
        ask = min(asks, default=0)
        bid_qty = sum(t.bid_qty for t in usable if bid and t.best_bid == bid)
        ask_qty = sum(t.ask_qty for t in usable if ask and t.best_ask == ask)
        return BookTop(locate, trigger.seq, trigger.timestamp, 0, bid, bid_qty, ask, ask_qty)

    # ------------------------------------------------------------------ parents
    def submit(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        limit_price: int | None,
        *,
        time_in_force: TimeInForce = "day",
        strategy_id: str = "router",
        on_child: Callable[[str], None] | None = None,
    ) -> ParentOrder:
        """``limit_price=None``: a market parent (see the module notes; always ``ioc``).
        ``on_child(client_order_id)`` is told of each child before it is submitted (a
        strategy host makes the children its strategy's orders)."""
        if symbol not in self.core.instruments:
            raise RoutingError(f"unknown instrument {symbol!r}")
        if quantity <= 0:
            raise RoutingError(f"quantity must be positive: {quantity}")
        if limit_price is not None and not 0 < limit_price <= MAX_ITCH_PRICE:
            raise RoutingError(f"limit price out of ITCH range: {limit_price}")
        if time_in_force not in ("day", "ioc"):
            raise RoutingError(f"time in force must be day or ioc: {time_in_force!r}")
        with self.lock:
            market = limit_price is None
            if limit_price is None:
                limit_price = self._market_price(symbol, side)
                time_in_force = "ioc"
            parent_id = f"PR{next(self._ids):08d}"
            parent = ParentOrder(
                parent_id, symbol, side, quantity, limit_price, time_in_force, strategy_id
            )
            parent.market = market
            parent._on_child = on_child
            body: dict[str, Any] = {
                "type": "parent",
                "parent_id": parent_id,
                "symbol": symbol,
                "side": str(side),
                "quantity": quantity,
                "limit_price": limit_price,
                "time_in_force": time_in_force,
                "strategy_id": strategy_id,
            }
            if market:
                body["market"] = True
            self._journal(body)
            self.parents[parent_id] = parent
            self._route(parent)
            return self.snapshot(parent_id)

    def _market_price(self, symbol: str, side: Side) -> int:
        """The protection limit of a market parent, or :class:`RoutingError` when there is no
        market to price it from (risk's rules for a single market order, over the venues)."""
        problem = self.core.risk.market_data_problem(symbol)
        if problem is not None:
            raise RoutingError(f"stale_market_data: {problem}")
        prices = []
        for venue in self.venues:
            if not self.usable(venue.name, symbol):
                continue
            top = self._quotes[(venue.name, symbol)].top
            price = top.best_ask if side is Side.BUY else top.best_bid
            if price is not None:
                prices.append(price)
        if not prices:
            what = "offer to price a market buy" if side is Side.BUY else "bid to price a sell"
            raise RoutingError(f"no_market: no {what} on a venue with fresh data")
        buying = side is Side.BUY
        best = min(prices) if buying else max(prices)
        return market_order_price(buying, best, self.core.risk.limits.price_collar_bps)

    def cancel(self, parent_id: str) -> ParentOrder:
        with self.lock:
            parent = self._parent(parent_id)
            if parent.state in (ParentState.FILLED, ParentState.CANCELLED):
                raise RoutingError(f"parent {parent_id} is {parent.state}, nothing to cancel")
            if parent.state is ParentState.WORKING:
                self._set_state(parent, ParentState.CANCEL_PENDING, "cancelled by request")
            for cid in list(parent.children):
                rec = self.orders.get(cid)
                if rec.state.is_open and rec.state.value != "cancel_pending":
                    try:
                        self.orders.cancel(cid, reason=f"parent {parent_id} cancelled")
                    except OrderError as exc:  # filled meanwhile, or link down: say so
                        self.counters["child_cancel_not_sent"] += 1
                        parent.reason = f"cancel of {cid} not sent: {exc}"
            self._settle(parent)
            return self.snapshot(parent_id)

    def snapshot(self, parent_id: str) -> ParentOrder:
        with self.lock:
            parent = self._parent(parent_id)
            self._settle(parent)
            return ParentOrder(
                parent.parent_id,
                parent.symbol,
                parent.side,
                parent.quantity,
                parent.limit_price,
                parent.time_in_force,
                parent.strategy_id,
                parent.state,
                parent.market,
                parent.reason,
                parent.filled,
                parent.working,
                dict(parent.children),
                set(parent.excluded),
            )

    def _parent(self, parent_id: str) -> ParentOrder:
        try:
            return self.parents[parent_id]
        except KeyError:
            raise RoutingError(f"unknown parent order {parent_id!r}") from None

    # ------------------------------------------------------------------ child events
    def on_order_event(self, event: OrderEvent) -> None:
        parent = self._parent_of.get(event.client_order_id)
        if parent is None or not isinstance(event, _CHILD_DONE):
            return
        if isinstance(event, OrderRejected):
            venue_name = parent.children[event.client_order_id]
            if event.by_risk and not event.reason.startswith("not sent"):
                self.counters["child_refused_by_risk"] += 1
                code = event.reason.split(":", 1)[0]
                why = f"risk refused child {event.client_order_id}: {event.reason}"
                if code in _TRANSIENT_RISK_CODES:
                    # Passes by itself (a window, a rate, an order finishing): the shares
                    # stay unrouted until the next top, not given up, and not retried at
                    # once (that would only repeat the refusal).
                    parent.reason = why
                    parent._held = True
                elif not parent.is_done:
                    self._stop(parent, why)
            elif event.by_risk and self.session_problem(venue_name) is not None:
                # Not sent because the session is down (it reconnects by itself): hold the
                # shares; routing skips that venue until it is back.
                self.counters["child_not_sent_session_down"] += 1
                parent._held = True
            else:
                # The venue said no, or the session refused the order itself: try the others.
                self.counters["child_rejected_by_venue"] += 1
                parent.excluded.add(venue_name)
                self._journal(
                    {"type": "exclude", "parent_id": parent.parent_id, "venue": venue_name}
                )
        self._route(parent)

    def _on_risk_record(self, record: dict[str, Any]) -> None:
        # The kill switch stops every parent at once, not at its next routing pass; the risk
        # manager cancels the children.
        if record.get("action") == "kill_switch" and record.get("engaged"):
            with self.lock:
                for parent in self.parents.values():
                    if parent.state is ParentState.WORKING:
                        self._stop(parent, "kill switch")

    # ------------------------------------------------------------------ routing
    def _route(self, parent: ParentOrder) -> None:
        # Child reports can arrive inside our own submit (a synchronous venue): re-entry only
        # marks the parent for another pass, so one pass at a time reads fresh records.
        if parent._routing:
            parent._again = True
            return
        parent._routing = True
        try:
            for _ in range(1000):  # each pass sends against untaken liquidity only
                parent._again = False
                self._route_once(parent)
                if not parent._again:
                    break
        finally:
            parent._routing = False
        self._settle(parent)

    def _route_once(self, parent: ParentOrder) -> None:
        self._settle(parent)
        if parent.state is not ParentState.WORKING:
            return
        if self.core.risk.kill_switch:
            self._stop(parent, "kill switch")
            return
        if parent._held:
            return
        if parent.excluded.issuperset(self.venue_names):
            self._stop(parent, "every venue rejected a child")
            return
        # No child larger than the risk manager's order size limit: a big parent becomes
        # several children rather than one refused order.
        cap = self.core.risk.limits.max_order_quantity
        for venue_name, price, available in self._takeable(parent):
            quote = self._quotes[(venue_name, parent.symbol)]
            while available > 0:
                remaining = self._uncommitted(parent)
                if remaining <= 0 or parent.state is not ParentState.WORKING or parent._held:
                    break
                quantity = min(remaining, available, cap)
                quote.taken[parent.side] += quantity
                available -= quantity
                self._send(parent, venue_name, quantity, price, OrderType.IOC)
        if parent.state is not ParentState.WORKING or parent.time_in_force != "day" or parent._held:
            return
        takeable = {v for v, _, _ in self._takeable(parent)}
        remaining = self._uncommitted(parent)
        if remaining > 0 and not takeable:
            venue_name = self._rest_venue(parent)
            while venue_name is not None and remaining > 0:
                quantity = min(remaining, cap)
                self._send(parent, venue_name, quantity, parent.limit_price, OrderType.LIMIT)
                if parent.state is not ParentState.WORKING or parent._held:
                    break
                if venue_name in parent.excluded:
                    break  # that venue rejected the rest: the next pass picks another
                remaining = self._uncommitted(parent)
        elif takeable:
            # Liquidity within the limit on a venue other than where we rest: free the rest.
            for cid, venue_name in list(parent.children.items()):
                rec = self.orders.get(cid)
                if (
                    rec.order.order_type is OrderType.LIMIT
                    and rec.state.is_open
                    and rec.state.value != "cancel_pending"
                    and venue_name not in takeable
                ):
                    try:
                        self.orders.cancel(cid, reason=f"re-route {parent.parent_id}")
                        self.counters["rest_cancelled_to_take"] += 1
                    except OrderError:
                        self.counters["child_cancel_not_sent"] += 1

    def _takeable(self, parent: ParentOrder) -> list[tuple[str, int, int]]:
        """(venue, price, shares) within the limit on usable venues, best first."""
        ranked = []
        for venue in self.venues:
            if venue.name in parent.excluded:
                continue
            if not self.usable(venue.name, parent.symbol):
                continue
            quote = self._quotes[(venue.name, parent.symbol)]
            top = quote.top
            if parent.side is Side.BUY:
                price, shown = top.best_ask, top.ask_qty
                within = price is not None and price <= parent.limit_price
            else:
                price, shown = top.best_bid, top.bid_qty
                within = price is not None and price >= parent.limit_price
            available = shown - quote.taken[parent.side]
            if not within or available <= 0 or price is None:
                continue
            key = (price if parent.side is Side.BUY else -price, -available, venue.fee, venue.name)
            ranked.append((key, venue.name, price, available))
        ranked.sort()
        return [(name, price, available) for _, name, price, available in ranked]

    def _rest_venue(self, parent: ParentOrder) -> str | None:
        """Where an unfilled day remainder rests: the best-ranked usable venue (opposite price,
        then displayed size, fee, name; a venue with an empty opposite side ranks last)."""
        ranked = []
        for venue in self.venues:
            if venue.name in parent.excluded:
                continue
            if not self.usable(venue.name, parent.symbol):
                continue
            top = self._quotes[(venue.name, parent.symbol)].top
            if parent.side is Side.BUY:
                price, shown = top.best_ask, top.ask_qty
                price_key = price if price is not None else MAX_ITCH_PRICE + 1
            else:
                price, shown = top.best_bid, top.bid_qty
                price_key = -price if price is not None else 1
            ranked.append(((price_key, -shown, venue.fee, venue.name), venue.name))
        return min(ranked)[1] if ranked else None

    def _send(
        self, parent: ParentOrder, venue_name: str, quantity: int, price: int, kind: OrderType
    ) -> None:
        cid = self.orders.new_client_order_id()
        # Write-ahead: after a restart the child's order (journaled by the order manager)
        # must still be known as this parent's.
        self._journal(
            {"type": "child", "parent_id": parent.parent_id, "client_order_id": cid,
             "venue": venue_name},
            wake=False,  # the group fsync starts once the child has left (below)
        )  # fmt: skip
        parent.children[cid] = venue_name
        self._parent_of[cid] = parent
        if parent._on_child is not None:
            parent._on_child(cid)
        self.counters["children_sent"] += 1
        try:
            self.orders.submit(
                parent.symbol,
                parent.side,
                quantity,
                order_type=kind,
                price=price,
                strategy_id=parent.strategy_id,
                client_order_id=cid,
                venue=venue_name,
            )
        except (OrderError, ValueError) as exc:
            del parent.children[cid], self._parent_of[cid]
            self._stop(parent, f"child not created: {exc}")
        finally:
            if self.journal is not None:
                self.journal.wake()

    def _uncommitted(self, parent: ParentOrder) -> int:
        filled = working = 0
        for cid in parent.children:
            rec = self.orders.get(cid)
            filled += rec.filled_quantity
            if rec.state.is_open:
                working += rec.leaves_quantity
        parent.filled, parent.working = filled, working
        return parent.quantity - filled - working

    def _has_working_children(self, parent: ParentOrder) -> bool:
        return any(self.orders.get(cid).state.is_open for cid in parent.children)

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()

    def _set_state(self, parent: ParentOrder, state: ParentState, reason: str) -> None:
        parent.state, parent.reason = state, reason
        self._journal(
            {"type": "state", "parent_id": parent.parent_id, "state": str(state), "reason": reason}
        )

    def _journal(self, body: dict[str, Any], *, wake: bool = True) -> None:
        if self.journal is not None:
            self.journal.append(body, wake=wake)

    def _replay(self) -> None:
        """Parents from ``routing.jsonl``: their children are the order manager's (restored
        from its own journal); a child journaled but never submitted (a crash in between) is
        unknown there and dropped."""
        assert self.journal is not None
        highest = 0
        for body in self.journal.records():
            kind = body.get("type")
            if kind == "parent":
                parent = ParentOrder(
                    body["parent_id"],
                    body["symbol"],
                    Side(body["side"]),
                    int(body["quantity"]),
                    int(body["limit_price"]),
                    body["time_in_force"],
                    body["strategy_id"],
                    market=bool(body.get("market", False)),
                )
                self.parents[parent.parent_id] = parent
                digits = parent.parent_id[2:]
                highest = max(highest, int(digits) if digits.isdigit() else 0)
                continue
            parent = self.parents.get(body.get("parent_id", ""))
            if parent is None:
                self.counters["replay_unknown_parent"] += 1
            elif kind == "child" and self.orders.has_order(body["client_order_id"]):
                parent.children[body["client_order_id"]] = body["venue"]
                self._parent_of[body["client_order_id"]] = parent
            elif kind == "exclude":
                parent.excluded.add(body["venue"])
            elif kind == "state":
                parent.state, parent.reason = ParentState(body["state"]), body["reason"]
        self._ids = itertools.count(highest + 1)

    def _stop(self, parent: ParentOrder, reason: str) -> None:
        self._set_state(parent, ParentState.STOPPED, reason)

    def _settle(self, parent: ParentOrder) -> None:
        self._uncommitted(parent)
        if parent.filled >= parent.quantity:
            if parent.state is not ParentState.FILLED:
                self._set_state(parent, ParentState.FILLED, parent.reason)
            return
        if parent.working or parent._routing:
            return
        if parent.state is ParentState.CANCEL_PENDING:
            self._set_state(parent, ParentState.CANCELLED, parent.reason)
        elif parent.state is ParentState.WORKING and parent.time_in_force == "ioc":
            if parent._held or not self._takeable(parent):
                # An ioc parent does not wait for a refusal to clear: it ends with the reason.
                reason = parent.reason if parent._held else "ioc: no more displayed liquidity"
                self._set_state(parent, ParentState.CANCELLED, reason)
