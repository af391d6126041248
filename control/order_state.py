"""The order lifecycle state machine: which event may move an order from which state.

Races that real venues produce are legal transitions here, not errors:
- a fill that overtakes the acknowledgement acknowledges the order implicitly, and the late
  acknowledgement then changes nothing (in particular it does not restore the leaves quantity);
- a fill that arrives after our cancel request is applied (position included) and the order
  stays cancel-pending until the venue cancels the remainder, or becomes filled;
- a cancel reject that arrives after the order filled or was cancelled is recorded and ignored.
Anything else that does not fit (a fill beyond the order quantity, a fill on a cancelled order,
an acknowledgement of a rejected order) raises :class:`IllegalTransition`; the order is left
unchanged and the caller counts the anomaly.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction

from velocimex.domain import (
    Fill,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderEvent,
    OrderExpired,
    OrderFilled,
    OrderFillReported,
    OrderPartiallyFilled,
    OrderRejected,
    OrderReplaced,
    OrderState,
)

S = OrderState
_NEW = OrderState.NEW  # a module global: cheaper than the enum lookup on CPython 3.11


class IllegalTransition(ValueError):
    def __init__(self, client_order_id: str, state: OrderState, event: OrderEvent, why: str):
        super().__init__(f"order {client_order_id}: {event.kind} not allowed in {state}: {why}")
        self.client_order_id = client_order_id
        self.state = state
        self.event = event
        self.why = why


# Where each event may legally arrive. Fills are handled by leaves quantity, not by this table.
_ALLOWED: dict[str, frozenset[OrderState]] = {
    "accepted": frozenset({S.NEW, S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCEL_PENDING}),
    "rejected": frozenset({S.NEW, S.CANCEL_PENDING}),
    "fill_reported": frozenset({S.NEW, S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.CANCEL_PENDING}),
    "cancel_requested": frozenset({S.NEW, S.ACKNOWLEDGED, S.PARTIALLY_FILLED}),
    "cancelled": frozenset({S.NEW, S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.CANCEL_PENDING}),
    "cancel_rejected": frozenset({S.CANCEL_PENDING, S.FILLED, S.CANCELLED, S.EXPIRED}),
    "replaced": frozenset({S.ACKNOWLEDGED, S.PARTIALLY_FILLED}),
    "expired": frozenset({S.NEW, S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.CANCEL_PENDING}),
}


@dataclass
class OrderRecord:
    """The live state of one order. Mutated only by :func:`apply_event`."""

    order: Order
    state: OrderState = OrderState.NEW
    filled_quantity: int = 0
    leaves_quantity: int = 0
    fill_cost: int = 0  # sum of price * shares over fills
    venue_order_id: str = ""
    acknowledged: bool = False
    reason: str = ""
    execution_ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.leaves_quantity == 0 and self.state is _NEW:
            self.leaves_quantity = self.order.quantity

    def snapshot(self) -> OrderRecord:
        """An independent copy (the order itself is immutable; only the id set is shared)."""
        # copy.copy goes through __reduce_ex__; a snapshot is taken for every order event.
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.execution_ids = set(self.execution_ids)
        return clone

    @property
    def average_fill_price(self) -> Fraction | None:
        if self.filled_quantity == 0:
            return None
        return Fraction(self.fill_cost, self.filled_quantity)

    def _working_state(self) -> OrderState:
        if not self.acknowledged and self.filled_quantity == 0:
            return S.NEW
        return S.PARTIALLY_FILLED if self.filled_quantity else S.ACKNOWLEDGED


def apply_event(record: OrderRecord, event: OrderEvent) -> list[OrderEvent]:
    """Move ``record`` by ``event``; return the events it produced (fills become partial/full).

    Raises :class:`IllegalTransition` without touching ``record`` when the event does not fit.
    """
    cid = record.order.client_order_id
    state = record.state
    allowed = _ALLOWED.get(event.kind)
    if allowed is None:
        raise IllegalTransition(cid, state, event, "not a lifecycle input")
    if state not in allowed:
        raise IllegalTransition(cid, state, event, "state does not accept it")

    if isinstance(event, OrderAccepted):
        # A late acknowledgement must not reset leaves: the fills it was overtaken by stand.
        record.acknowledged = True
        if event.venue_order_id:
            record.venue_order_id = event.venue_order_id
        if state is S.NEW:
            record.state = S.ACKNOWLEDGED
        return [event]

    if isinstance(event, OrderRejected):
        record.state = S.REJECTED
        record.leaves_quantity = 0
        record.reason = event.reason
        return [event]

    if isinstance(event, OrderFillReported):
        return _apply_fill(record, event)

    if isinstance(event, OrderCancelRequested):
        record.state = S.CANCEL_PENDING
        return [event]

    if isinstance(event, OrderCancelled):
        cancelled = event.cancelled_quantity or record.leaves_quantity
        if cancelled > record.leaves_quantity:
            raise IllegalTransition(cid, state, event, "cancels more shares than remain")
        record.leaves_quantity -= cancelled
        if record.leaves_quantity == 0:
            record.state = S.CANCELLED
            record.reason = event.reason
        elif state is not S.CANCEL_PENDING:
            # A partial cancel (OUCH decrement) leaves a working order.
            record.state = record._working_state()
        return [event]

    if isinstance(event, OrderCancelRejected):
        if state is S.CANCEL_PENDING:
            record.state = record._working_state()
        return [event]

    if isinstance(event, OrderReplaced):
        if event.new_quantity <= record.filled_quantity:
            raise IllegalTransition(cid, state, event, "replace to no more than already filled")
        record.leaves_quantity = event.new_quantity - record.filled_quantity
        record.order = replace(
            record.order,
            quantity=event.new_quantity,
            price=event.new_price or record.order.price,
        )
        return [event]

    if isinstance(event, OrderExpired):
        record.state = S.EXPIRED
        record.leaves_quantity = 0
        record.reason = event.reason
        return [event]

    raise IllegalTransition(cid, state, event, "unhandled event")  # pragma: no cover


def _apply_fill(record: OrderRecord, event: OrderFillReported) -> list[OrderEvent]:
    cid = record.order.client_order_id
    fill: Fill | None = event.fill
    if fill is None:
        raise IllegalTransition(cid, record.state, event, "fill report without a fill")
    if fill.client_order_id != cid:
        raise IllegalTransition(cid, record.state, event, "fill names another order")
    if fill.side is not record.order.side or fill.symbol != record.order.symbol:
        raise IllegalTransition(cid, record.state, event, "fill side or symbol differs")
    if fill.quantity > record.leaves_quantity:
        raise IllegalTransition(
            cid,
            record.state,
            event,
            f"overfill: {fill.quantity} shares with {record.leaves_quantity} leaves",
        )
    record.execution_ids.add(fill.execution_id)
    record.filled_quantity += fill.quantity
    record.leaves_quantity -= fill.quantity
    record.fill_cost += fill.price * fill.quantity
    if record.leaves_quantity == 0:
        record.state = S.FILLED
        return [OrderFilled(cid, event.ts_ns, fill=fill, filled_quantity=record.filled_quantity)]
    if record.state is not S.CANCEL_PENDING:
        record.state = S.PARTIALLY_FILLED
    return [
        OrderPartiallyFilled(
            cid,
            event.ts_ns,
            fill=fill,
            filled_quantity=record.filled_quantity,
            leaves_quantity=record.leaves_quantity,
        )
    ]
