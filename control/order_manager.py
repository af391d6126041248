"""The order manager: order lifecycle, positions, and the durable journal they are rebuilt from.

Write-ahead: an event is validated against a copy of the order, journaled (fsync), and only
then applied, so the journal is the truth and replaying it on start rebuilds the same orders
and positions. Venue reports carry the venue's sequence number; after a restart the session
resumes from ``next_venue_sequence`` and anything already journaled (by sequence number or by
execution id) is dropped and counted, so a replay can never count a fill twice.

The order manager never talks to a venue: new orders and cancels go to the gateway (the risk
manager), which is the only holder of a venue session.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Protocol

from velocimex.control.event_records import event_record_text
from velocimex.control.journal import Journal
from velocimex.control.order_state import IllegalTransition, OrderRecord, apply_event

from velocimex.domain import (
    VENUE_REPORT_TYPES,
    Account,
    Order,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderFilled,
    OrderFillReported,
    OrderPartiallyFilled,
    OrderRejected,
    OrderState,
    OrderSubmitted,
    OrderType,
    Position,
    Side,
    event_from_dict,
)

EventListener = Callable[[OrderEvent], None]

# Enum members bound to module names for the per-order paths: on CPython 3.11 reading a
# member off its class (``Side.BUY``) goes through the enum machinery and costs several
# attribute lookups; a module global is one.
_BUY, _SELL = Side.BUY, Side.SELL
_FILL_EVENTS = (OrderPartiallyFilled, OrderFilled)
_TERMINAL_STATES = frozenset(s for s in OrderState if s.is_terminal)


class OrderError(ValueError):
    """A request the order manager refuses (unknown order, duplicate id, order not open)."""


class RiskDecision(NamedTuple):
    # A tuple, not a frozen dataclass: one is built per order and a tuple costs far less.
    approved: bool
    reason: str
    order: Order  # as it will be sent: a market order comes back priced
    approval: Any = None  # a control.venue.RiskApproval when approved


class OrderGateway(Protocol):
    """The risk manager as the order manager sees it: the only way out to a venue."""

    def check_order(self, order: Order, book: OrderBookView) -> RiskDecision: ...

    def transmit_order(self, decision: RiskDecision) -> None: ...

    def transmit_cancel(self, order: Order) -> None: ...


@dataclass(frozen=True)
class OpenExposure:
    """Working orders summed, kept up to date on every event (pre-trade checks read it)."""

    count: int
    notional: int  # sum of price * leaves over open orders, ITCH units
    quantity: dict[tuple[str, Side], int]  # leaves by (symbol, side)


class OrderBookView(Protocol):
    """Read access to our own orders and positions (what pre-trade checks need)."""

    def position(self, symbol: str) -> Position: ...

    def open_records(self) -> list[OrderRecord]: ...

    def open_exposure(self) -> OpenExposure: ...

    def exposure(
        self, symbol: str, marks: Mapping[str, int | None]
    ) -> tuple[int, int, int, int, int, int]:
        """(position, open buy leaves, open sell leaves) in ``symbol``, then the account's open
        order count, open notional and gross position exposure at ``marks``: everything one
        pre-trade check reads, in one call."""
        ...

    def gross_position_exposure(self, marks: Mapping[str, int | None]) -> int:
        """``Account.gross_exposure(marks)`` without building the account."""
        ...

    def has_order(self, client_order_id: str) -> bool: ...

    def order_state(self, client_order_id: str) -> OrderState | None: ...

    def account(self) -> Account: ...


class OrderManager:
    def __init__(
        self,
        journal: Journal,
        gateway: OrderGateway | None = None,
        *,
        account_id: str = "default",
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.journal = journal
        self.gateway = gateway
        self.account_id = account_id
        self.clock_ns = clock_ns
        self._lock = threading.RLock()
        self.lock = self._lock  # the core's lock: see velocimex.control.core
        self._records: dict[str, OrderRecord] = {}
        self._positions: dict[str, Position] = {}
        self._execution_ids: set[str] = set()
        self._listeners: list[EventListener] = []
        self.last_venue_sequence = 0
        self.anomalies: Counter[str] = Counter()
        self.last_anomaly = ""
        self._ids = itertools.count(1)
        self._open_count = 0
        self._open_ids: dict[str, None] = {}  # insertion-ordered set of open order ids
        self._open_notional = 0
        self._open_quantity: Counter[tuple[str, Side]] = Counter()
        self._replay()

    # ------------------------------------------------------------------ wiring
    def attach_gateway(self, gateway: OrderGateway) -> None:
        self.gateway = gateway

    def subscribe(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    @property
    def next_venue_sequence(self) -> int:
        """The first venue sequence number not yet journaled: where a session resumes."""
        return self.last_venue_sequence + 1

    # ------------------------------------------------------------------ views
    def position(self, symbol: str) -> Position:
        with self._lock:
            return self._positions.get(symbol) or Position(symbol)

    def positions(self) -> dict[str, Position]:
        with self._lock:
            return dict(self._positions)

    def account(self) -> Account:
        return Account(self.account_id, self.positions())

    def has_order(self, client_order_id: str) -> bool:
        with self._lock:
            return client_order_id in self._records

    def order_state(self, client_order_id: str) -> OrderState | None:
        with self._lock:
            record = self._records.get(client_order_id)
            return None if record is None else record.state

    def get(self, client_order_id: str) -> OrderRecord:
        with self._lock:
            try:
                return self._records[client_order_id].snapshot()
            except KeyError:
                raise OrderError(f"unknown order {client_order_id!r}") from None

    def records(self) -> list[OrderRecord]:
        with self._lock:
            return [r.snapshot() for r in self._records.values()]

    def open_records(self) -> list[OrderRecord]:
        with self._lock:
            return [self._records[cid].snapshot() for cid in self._open_ids]

    def open_exposure(self) -> OpenExposure:
        with self._lock:
            return OpenExposure(self._open_count, self._open_notional, dict(self._open_quantity))

    def exposure(
        self, symbol: str, marks: Mapping[str, int | None]
    ) -> tuple[int, int, int, int, int, int]:
        self._lock.acquire()
        try:
            position = self._positions.get(symbol)
            leaves = self._open_quantity
            return (
                0 if position is None else position.quantity,
                leaves.get((symbol, _BUY), 0),
                leaves.get((symbol, _SELL), 0),
                self._open_count,
                self._open_notional,
                self.gross_position_exposure(marks) if self._positions else 0,
            )
        finally:
            self._lock.release()

    def gross_position_exposure(self, marks: Mapping[str, int | None]) -> int:
        with self._lock:
            total = 0
            for symbol, pos in self._positions.items():
                if pos.quantity == 0 and pos.cost == 0:
                    continue
                mark = marks.get(symbol)
                total += abs(int(pos.cost)) if mark is None else abs(pos.quantity) * mark
            return total

    def _count_open(self, record: OrderRecord, sign: int) -> None:
        if record.state not in _TERMINAL_STATES:
            o = record.order
            if sign > 0:
                self._open_ids[o.client_order_id] = None
            else:
                self._open_ids.pop(o.client_order_id, None)
            self._open_count += sign
            self._open_notional += sign * (o.price or 0) * record.leaves_quantity
            self._open_quantity[(o.symbol, o.side)] += sign * record.leaves_quantity

    # ------------------------------------------------------------------ commands
    def new_client_order_id(self) -> str:
        with self._lock:
            return self._next_client_order_id()

    def _next_client_order_id(self) -> str:
        while True:
            cid = f"VX{next(self._ids):010d}"
            if cid not in self._records:
                return cid

    def submit(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        *,
        order_type: OrderType = OrderType.LIMIT,
        price: int | None = None,
        strategy_id: str = "manual",
        client_order_id: str | None = None,
        venue: str = "",
    ) -> OrderRecord:
        """Create an order, pass it through risk, journal it, and hand it to the venue.

        A risk rejection is a normal outcome (the order ends REJECTED with the reason); bad
        arguments raise ``ValueError``/:class:`OrderError`.
        """
        if self.gateway is None:
            raise OrderError("no order gateway attached")
        # acquire/release, not ``with``: under half the cost on CPython 3.11 (timeit, this build).
        self._lock.acquire()
        try:
            cid = client_order_id or self._next_client_order_id()
            if cid in self._records:
                raise OrderError(f"duplicate client order id {cid!r}")
            order = Order(
                client_order_id=cid,
                symbol=symbol,
                side=side,
                quantity=quantity,
                order_type=order_type,
                price=price,
                strategy_id=strategy_id,
                account_id=self.account_id,
                created_ns=self.clock_ns(),
                venue=venue,
            )
            decision = self.gateway.check_order(order, self)
            self._commit(OrderSubmitted(cid, order.created_ns, order=decision.order), wake=False)
            if not decision.approved:
                self._commit(
                    OrderRejected(cid, self.clock_ns(), reason=decision.reason, by_risk=True)
                )
                return self._records[cid].snapshot()
            try:
                self.gateway.transmit_order(decision)
            except Exception as exc:  # the venue or risk refused at the last moment
                self._commit(
                    OrderRejected(cid, self.clock_ns(), reason=f"not sent: {exc}", by_risk=True)
                )
            return self._records[cid].snapshot()
        finally:
            self._lock.release()
            # The record was written to the OS before the order left; its group fsync starts
            # now that the order is out, so the flusher thread does not compete with the send.
            self.journal.wake()

    def cancel(self, client_order_id: str, reason: str = "") -> OrderRecord:
        if self.gateway is None:
            raise OrderError("no order gateway attached")
        with self._lock:
            record = self._records.get(client_order_id)
            if record is None:
                raise OrderError(f"unknown order {client_order_id!r}")
            if record.state.is_terminal:
                raise OrderError(f"order {client_order_id} is {record.state}, nothing to cancel")
            if record.state.value == "cancel_pending":
                return record.snapshot()  # already asked; asking twice only adds traffic
            self._commit(OrderCancelRequested(client_order_id, self.clock_ns(), reason=reason))
            try:
                self.gateway.transmit_cancel(record.order)
            except Exception as exc:  # link down: the order is still working, say so
                self._commit(
                    OrderCancelRejected(client_order_id, self.clock_ns(), reason=f"not sent: {exc}")
                )
                raise OrderError(f"cancel of {client_order_id} not sent: {exc}") from exc
            return self._records[client_order_id].snapshot()

    def cancel_all(self, reason: str = "") -> list[str]:
        """Ask to cancel every open order; returns the ids whose cancel went out."""
        with self._lock:
            targets = [
                cid
                for cid, r in self._records.items()
                if r.state.is_open and r.state.value != "cancel_pending"
            ]
            sent = []
            for cid in targets:
                try:
                    self.cancel(cid, reason)
                except OrderError as exc:
                    self._anomaly("cancel_not_sent", str(exc))
                    continue
                sent.append(cid)
            return sent

    # ------------------------------------------------------------------ venue reports
    def on_venue_report(self, event: OrderEvent) -> list[OrderEvent]:
        """Apply one venue report. Duplicates and anomalies are counted, never raised.

        An ``OrderSubmitted`` from a venue is an order the venue holds that our journal lost
        (group commit and a power loss; see velocimex.control.ouch_venue): it is journaled as
        ours, so its Accepted and fills that follow land on it, and new client order ids
        continue past it. One we already hold is dropped."""
        if type(event) is OrderSubmitted:
            return self._adopt(event)
        if not isinstance(event, VENUE_REPORT_TYPES):
            self._anomaly("not_a_venue_report", f"{type(event).__name__}")
            return []
        with self._lock:
            seq = getattr(event, "venue_seq", None)
            if seq is not None and seq <= self.last_venue_sequence:
                self._anomaly("duplicate_sequence", f"venue seq {seq} already journaled")
                return []
            if isinstance(event, OrderFillReported) and event.fill is not None:
                if event.fill.execution_id in self._execution_ids:
                    self._anomaly("duplicate_execution", event.fill.execution_id)
                    if seq is not None:
                        self._journal_sequence(seq)
                    return []
            if event.client_order_id not in self._records:
                self._anomaly("unknown_order", event.client_order_id)
                if seq is not None:
                    self._journal_sequence(seq)
                return []
            try:
                return self._commit(event)
            except IllegalTransition as exc:
                self._anomaly("illegal_transition", str(exc))
                if seq is not None:
                    self._journal_sequence(seq)
                return []

    def _adopt(self, event: OrderSubmitted) -> list[OrderEvent]:
        with self._lock:
            cid = event.client_order_id
            if cid in self._records:
                return []
            order = replace(event.order, account_id=self.account_id)
            self._anomaly("recovered_from_venue", cid)
            produced = self._commit(OrderSubmitted(cid, event.ts_ns, order=order))
            if cid.startswith("VX") and cid[2:].isdigit():
                issued = int(cid[2:])
                nxt = next(self._ids)
                self._ids = itertools.count(max(nxt, issued + 1))
            return produced

    # ------------------------------------------------------------------ internals
    def _anomaly(self, kind: str, detail: str) -> None:
        self.anomalies[kind] += 1
        self.last_anomaly = f"{kind}: {detail}"

    def _journal_sequence(self, seq: int) -> None:
        # A dropped report still consumes its sequence number, or a restart would replay it.
        self.journal.append({"type": "venue_seq", "seq": seq})
        self.last_venue_sequence = max(self.last_venue_sequence, seq)

    def _commit(
        self, event: OrderEvent, *, write: bool = True, wake: bool = True
    ) -> list[OrderEvent]:
        current: OrderRecord | None = None
        submitted = isinstance(event, OrderSubmitted)
        if submitted:
            staged = OrderRecord(event.order)  # type: ignore[attr-defined]
            produced: list[OrderEvent] = [event]
        else:
            current = self._records[event.client_order_id]
            staged = current.snapshot()
            produced = apply_event(staged, event)
        if write:
            self.journal.append_canonical(event_record_text(event), wake=wake)
        if current is not None:
            self._count_open(current, -1)
        self._count_open(staged, +1)
        self._records[event.client_order_id] = staged
        if not submitted:
            # (A new order carries neither a venue sequence nor a fill: no getattr misses.)
            seq = getattr(event, "venue_seq", None)
            if seq is not None:
                self.last_venue_sequence = max(self.last_venue_sequence, seq)
            for out in produced:
                if isinstance(out, _FILL_EVENTS):
                    fill = out.fill
                    if fill is not None:
                        self._execution_ids.add(fill.execution_id)
                        self._positions[fill.symbol] = self.position(fill.symbol).apply(fill)
        if write:
            for out in produced:
                for listener in self._listeners:
                    try:
                        listener(out)
                    except Exception as exc:  # the event is journaled and applied already
                        self._anomaly("listener_error", f"{type(exc).__name__}: {exc}")
        return produced

    def _replay(self) -> None:
        for body in self.journal.records():
            kind = body.get("type")
            if kind == "venue_seq":
                self.last_venue_sequence = max(self.last_venue_sequence, int(body["seq"]))
            elif kind == "event":
                event = event_from_dict(body["event"])
                try:
                    self._commit(event, write=False)
                except (IllegalTransition, KeyError) as exc:
                    # Only validated events are journaled, so this means a foreign edit.
                    self._anomaly("replay_inconsistent", str(exc))
        # Continue the id sequence after the highest id we issued.
        issued = [
            int(cid[2:]) for cid in self._records if cid.startswith("VX") and cid[2:].isdigit()
        ]
        self._ids = itertools.count(max(issued, default=0) + 1)


def replay_reports(manager: OrderManager, reports: Iterable[OrderEvent]) -> int:
    """Feed a venue's replayed reports; return how many changed state."""
    return sum(1 for r in reports if manager.on_venue_report(r))
