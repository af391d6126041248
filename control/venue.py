"""The venue session interface, and the risk approval every outbound message must carry.

A venue session (OUCH over SoupBinTCP, the paper venue, a test double) sends nothing without a
:class:`RiskApproval`. Approvals are minted only by the :class:`ApprovalAuthority` the session
was bound to, are tied to one order and one action, and are spent on use. The risk manager owns
the only authority and binds the session when it takes it over, so code that gets hold of a
session object (a strategy, an API route) still cannot put an order on the wire.
"""

from __future__ import annotations

import itertools
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from velocimex.domain import Order, OrderEvent

Action = Literal["new", "cancel"]
ReportHandler = Callable[[OrderEvent], None]


class ApprovalError(PermissionError):
    """An outbound message without a valid, unspent approval from the bound risk manager."""


@dataclass(eq=False)
class RiskApproval:
    client_order_id: str
    action: Action
    serial: int
    _issuer_key: str = field(repr=False)
    _spent: bool = field(default=False, repr=False)


class ApprovalAuthority:
    def __init__(self) -> None:
        self._key = secrets.token_hex(16)
        self._serials = itertools.count(1)
        self._outstanding: set[int] = set()
        self._lock = threading.Lock()

    def mint(self, client_order_id: str, action: Action) -> RiskApproval:
        with self._lock:
            serial = next(self._serials)
            self._outstanding.add(serial)
        return RiskApproval(client_order_id, action, serial, self._key)

    def redeem(self, approval: object, client_order_id: str, action: Action) -> None:
        if not isinstance(approval, RiskApproval) or approval._issuer_key != self._key:
            raise ApprovalError("message not approved by this session's risk manager")
        if approval.client_order_id != client_order_id or approval.action != action:
            raise ApprovalError("approval was issued for a different order or action")
        with self._lock:
            if approval._spent or approval.serial not in self._outstanding:
                raise ApprovalError("approval already used")
            self._outstanding.discard(approval.serial)
            approval._spent = True

    def void(self, approval: RiskApproval) -> None:
        with self._lock:
            self._outstanding.discard(approval.serial)
            approval._spent = True


class Venue(Protocol):
    """What the order path needs from a venue session."""

    name: str

    def bind_risk(self, authority: ApprovalAuthority) -> None: ...

    def set_report_handler(self, handler: ReportHandler) -> None: ...

    def connect(self, next_sequence: int) -> None:
        """Log in and replay every sequenced report from ``next_sequence`` (SoupBinTCP style)."""

    def send_order(self, order: Order, approval: RiskApproval) -> None: ...

    def send_cancel(self, order: Order, approval: RiskApproval) -> None: ...

    def close(self) -> None: ...


class VenueSessionBase:
    """Approval bookkeeping shared by every session; subclasses implement the ``_transmit_*``."""

    name = "venue"

    def __init__(self) -> None:
        self._authority: ApprovalAuthority | None = None
        self._handler: ReportHandler | None = None

    def bind_risk(self, authority: ApprovalAuthority) -> None:
        if self._authority is not None and self._authority is not authority:
            raise ApprovalError("venue session is already bound to a risk manager")
        self._authority = authority

    def set_report_handler(self, handler: ReportHandler) -> None:
        self._handler = handler

    def _report(self, event: OrderEvent) -> None:
        if self._handler is not None:
            self._handler(event)

    def _redeem(self, approval: object, client_order_id: str, action: Action) -> None:
        if self._authority is None:
            raise ApprovalError("venue session is not bound to a risk manager")
        self._authority.redeem(approval, client_order_id, action)

    def send_order(self, order: Order, approval: RiskApproval) -> None:
        self._redeem(approval, order.client_order_id, "new")
        self._transmit_order(order)

    def send_cancel(self, order: Order, approval: RiskApproval) -> None:
        self._redeem(approval, order.client_order_id, "cancel")
        self._transmit_cancel(order)

    def connect(self, next_sequence: int) -> None:
        pass

    def close(self) -> None:
        pass

    def _transmit_order(self, order: Order) -> None:
        raise NotImplementedError

    def _transmit_cancel(self, order: Order) -> None:
        raise NotImplementedError


class RecordingVenue(VenueSessionBase):
    """A session that records what it is asked to send and reports only what it is told to.

    Used by tests and by dry runs: the caller plays the exchange through :meth:`report`, and
    :meth:`connect` replays the reports it was told to keep, from the requested sequence.
    """

    name = "recording"

    def __init__(self) -> None:
        super().__init__()
        self.sent_orders: list[Order] = []
        self.sent_cancels: list[Order] = []
        self.sequenced: list[OrderEvent] = []  # what the "exchange" would replay on login

    def _transmit_order(self, order: Order) -> None:
        self.sent_orders.append(order)

    def _transmit_cancel(self, order: Order) -> None:
        self.sent_cancels.append(order)

    def report(self, event: OrderEvent) -> None:
        self._report(event)

    def connect(self, next_sequence: int) -> None:
        for event in self.sequenced:
            seq = getattr(event, "venue_seq", None)
            if seq is not None and seq >= next_sequence:
                self._report(event)
