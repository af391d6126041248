"""The trading domain model, defined once for every engine (order manager, risk, API, strategies).

Prices are ITCH integers: 1/10000 of a dollar (``PRICE_SCALE``), the unit the feed carries, so
no price is ever a float. Quantities are whole shares. Notional amounts are ``price * shares``
in the same integer unit (1/10000 dollar). Average prices and PnL that need division are kept
as exact ``Fraction`` values, so realised + unrealised always equals the mark-to-market change.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from fractions import Fraction
from typing import Any, ClassVar

from velocimex.book_contract import FLAG_ASK_UNKNOWN, FLAG_BID_UNKNOWN, FLAG_SEQ_GAP

PRICE_SCALE = 10_000  # ITCH Price(4): four implied decimals
MAX_ITCH_PRICE = 0xFFFF_FFFF  # Price(4) is a uint32 on the wire


def price_to_str(price: int) -> str:
    """Render an ITCH integer price as a dollar string without going through a float."""
    sign = "-" if price < 0 else ""
    whole, frac = divmod(abs(price), PRICE_SCALE)
    return f"{sign}{whole}.{frac:04d}"


class Side(enum.StrEnum):
    # OUCH and ITCH both spell the sides B and S.
    BUY = "B"
    SELL = "S"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(enum.StrEnum):
    LIMIT = "limit"
    MARKET = "market"  # priced by the risk manager from the current best bid/offer
    IOC = "ioc"  # limit price, immediate-or-cancel


class OrderState(enum.StrEnum):
    NEW = "new"  # sent (or about to be sent), not yet acknowledged by the venue
    ACKNOWLEDGED = "acknowledged"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCEL_PENDING = "cancel_pending"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL_STATES

    @property
    def is_open(self) -> bool:
        return not self.is_terminal


_TERMINAL_STATES = frozenset(
    {OrderState.FILLED, OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED}
)


class TradingState(enum.StrEnum):
    ACTIVE = "active"
    REDUCING_ONLY = "reducing_only"  # only orders that shrink the absolute position
    HALTED = "halted"  # no new orders; cancels still flow


@dataclass(frozen=True)
class Instrument:
    symbol: str  # trimmed ITCH stock symbol
    locate: int  # ITCH stock locate of the session
    tick: int = 1  # minimum price increment, ITCH units (NASDAQ: $0.0001 below $1, else $0.01)
    venue: str = "SIM"

    def __post_init__(self) -> None:
        if not self.symbol or len(self.symbol) > 8 or self.symbol != self.symbol.strip():
            raise ValueError(f"instrument symbol must be 1-8 trimmed characters: {self.symbol!r}")
        if not 0 <= self.locate <= 0xFFFF:
            raise ValueError(f"stock locate out of uint16 range: {self.locate}")
        if self.tick <= 0:
            raise ValueError("tick must be positive")


@dataclass(frozen=True)
class Order:
    """An order as the strategy or the API asked for it; its state lives in the order manager."""

    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    order_type: OrderType = OrderType.LIMIT
    price: int | None = None  # ITCH units; None only for a market order until risk prices it
    strategy_id: str = "manual"
    account_id: str = "default"
    created_ns: int = 0
    # The venue session the order goes to when the core holds several (smart order routing);
    # "" with a single venue.
    venue: str = ""

    def __post_init__(self) -> None:
        if not self.client_order_id or len(self.client_order_id) > 64:
            raise ValueError("client_order_id must be 1-64 characters")
        if self.quantity <= 0:
            raise ValueError(f"order quantity must be positive: {self.quantity}")
        if self.order_type is OrderType.MARKET:
            if self.price is not None and not 0 < self.price <= MAX_ITCH_PRICE:
                raise ValueError(f"price out of ITCH range: {self.price}")
        elif self.price is None or not 0 < self.price <= MAX_ITCH_PRICE:
            raise ValueError(f"{self.order_type} order needs a price in 1..{MAX_ITCH_PRICE}")

    def priced(self, price: int) -> Order:
        return replace(self, price=price)

    @property
    def notional(self) -> int:
        return (self.price or 0) * self.quantity


@dataclass(frozen=True)
class Fill:
    """One execution. ``execution_id`` is unique per venue (OUCH: side + match number): replays
    dedupe."""

    client_order_id: str
    execution_id: str
    symbol: str
    side: Side
    quantity: int
    price: int
    venue: str = "SIM"
    ts_ns: int = 0
    liquidity: str = ""  # OUCH liquidity flag, e.g. "A" added, "R" removed

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"fill quantity must be positive: {self.quantity}")
        if not 0 < self.price <= MAX_ITCH_PRICE:
            raise ValueError(f"fill price out of ITCH range: {self.price}")


@dataclass(frozen=True)
class Trade:
    """A trade printed on a venue's feed (ITCH E, C or P): market volume, not our own fill."""

    symbol: str
    quantity: int
    price: int
    timestamp: int  # ITCH nanoseconds since midnight
    venue: str = ""
    match_number: int = 0  # the venue's ITCH match number; 0 when the source has none

    def __post_init__(self) -> None:
        if self.quantity <= 0:
            raise ValueError(f"trade quantity must be positive: {self.quantity}")


# ----------------------------------------------------------------------------- order events
# One class per lifecycle event. The venue reports the ones with a ``venue_seq`` (its sequenced
# SoupBinTCP message number, used to resume after a restart); the order manager creates the rest.


@dataclass(frozen=True)
class OrderEvent:
    kind: ClassVar[str] = ""
    client_order_id: str
    ts_ns: int


@dataclass(frozen=True)
class OrderSubmitted(OrderEvent):
    kind: ClassVar[str] = "submitted"
    order: Order


@dataclass(frozen=True)
class OrderAccepted(OrderEvent):
    kind: ClassVar[str] = "accepted"
    venue_order_id: str = ""
    venue_seq: int | None = None


@dataclass(frozen=True)
class OrderRejected(OrderEvent):
    kind: ClassVar[str] = "rejected"
    reason: str = ""
    by_risk: bool = False
    venue_seq: int | None = None


@dataclass(frozen=True)
class OrderFillReported(OrderEvent):
    """What the venue sends; the order manager turns it into partially filled or filled."""

    kind: ClassVar[str] = "fill_reported"
    fill: Fill | None = None
    venue_seq: int | None = None


@dataclass(frozen=True)
class OrderPartiallyFilled(OrderEvent):
    kind: ClassVar[str] = "partially_filled"
    fill: Fill | None = None
    filled_quantity: int = 0
    leaves_quantity: int = 0


@dataclass(frozen=True)
class OrderFilled(OrderEvent):
    kind: ClassVar[str] = "filled"
    fill: Fill | None = None
    filled_quantity: int = 0


@dataclass(frozen=True)
class OrderCancelRequested(OrderEvent):
    kind: ClassVar[str] = "cancel_requested"
    reason: str = ""


@dataclass(frozen=True)
class OrderCancelled(OrderEvent):
    kind: ClassVar[str] = "cancelled"
    cancelled_quantity: int = 0
    reason: str = ""
    venue_seq: int | None = None


@dataclass(frozen=True)
class OrderCancelRejected(OrderEvent):
    kind: ClassVar[str] = "cancel_rejected"
    reason: str = ""
    venue_seq: int | None = None


@dataclass(frozen=True)
class OrderReplaced(OrderEvent):
    kind: ClassVar[str] = "replaced"
    new_quantity: int = 0  # total quantity of the order after the replace (OUCH semantics)
    new_price: int = 0
    venue_seq: int | None = None


@dataclass(frozen=True)
class OrderExpired(OrderEvent):
    kind: ClassVar[str] = "expired"
    reason: str = ""
    venue_seq: int | None = None


EVENT_TYPES: dict[str, type[OrderEvent]] = {
    cls.kind: cls
    for cls in (
        OrderSubmitted,
        OrderAccepted,
        OrderRejected,
        OrderFillReported,
        OrderPartiallyFilled,
        OrderFilled,
        OrderCancelRequested,
        OrderCancelled,
        OrderCancelRejected,
        OrderReplaced,
        OrderExpired,
    )
}
# Reports a venue may deliver; everything else is created by the order manager itself.
VENUE_REPORT_TYPES = (
    OrderAccepted,
    OrderRejected,
    OrderFillReported,
    OrderCancelled,
    OrderCancelRejected,
    OrderReplaced,
    OrderExpired,
)


def event_to_dict(event: OrderEvent) -> dict[str, Any]:
    """A JSON-ready dict; nested orders and fills become dicts, enums their wire value."""
    out: dict[str, Any] = {"kind": event.kind}
    for f in fields(event):
        value = getattr(event, f.name)
        if isinstance(value, Order | Fill):
            # Flat records of immutable scalars: a shallow walk, not asdict's deep copy.
            items = ((k.name, getattr(value, k.name)) for k in fields(value))
            value = {k: (str(v) if isinstance(v, enum.Enum) else v) for k, v in items}
        out[f.name] = value
    return out


def _order_from_dict(raw: Mapping[str, Any]) -> Order:
    return Order(
        **{
            **raw,
            "side": Side(raw["side"]),
            "order_type": OrderType(raw["order_type"]),
        }
    )


def _fill_from_dict(raw: Mapping[str, Any]) -> Fill:
    return Fill(**{**raw, "side": Side(raw["side"])})


def event_from_dict(raw: Mapping[str, Any]) -> OrderEvent:
    """Inverse of :func:`event_to_dict`; raises ``ValueError`` on anything malformed."""
    try:
        cls = EVENT_TYPES[raw["kind"]]
        kwargs = {f.name: raw[f.name] for f in fields(cls) if f.name in raw}
        if "order" in kwargs:
            kwargs["order"] = _order_from_dict(kwargs["order"])
        if kwargs.get("fill") is not None:
            kwargs["fill"] = _fill_from_dict(kwargs["fill"])
        return cls(**kwargs)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed order event: {raw!r}") from exc


# ----------------------------------------------------------------------------- positions


@dataclass(frozen=True)
class Position:
    """Net position of one instrument, average-cost accounting.

    ``cost`` is the exact signed cost of the open shares (price * shares, ITCH units), so the
    average price is ``cost / quantity`` without rounding. Realised PnL moves only when a fill
    reduces the absolute position; a fill that flips the sign closes the old side first.
    """

    symbol: str
    quantity: int = 0  # signed: long > 0, short < 0
    cost: Fraction = Fraction(0)
    realised_pnl: Fraction = Fraction(0)  # ITCH units (1/10000 dollar)
    bought: int = 0
    sold: int = 0
    traded_notional: int = 0  # sum of |price * shares| over fills: turnover

    @property
    def average_price(self) -> Fraction | None:
        return None if self.quantity == 0 else self.cost / self.quantity

    def unrealised_pnl(self, mark_price: int | None) -> Fraction:
        if self.quantity == 0 or mark_price is None:
            return Fraction(0)
        return mark_price * self.quantity - self.cost

    def apply(self, fill: Fill) -> Position:
        if fill.symbol != self.symbol:
            raise ValueError(f"fill for {fill.symbol} applied to position in {self.symbol}")
        signed = fill.side.sign * fill.quantity
        qty, cost, realised = self.quantity, self.cost, self.realised_pnl
        if qty == 0 or (qty > 0) == (signed > 0):
            qty, cost = qty + signed, cost + fill.price * signed
        else:
            closing = min(abs(signed), abs(qty))
            avg = cost / qty
            # Closing a long sells at fill.price what cost avg; closing a short is the mirror.
            realised += (fill.price - avg) * closing * (1 if qty > 0 else -1)
            remaining_fill = abs(signed) - closing
            qty_after_close = qty + (closing if qty < 0 else -closing)
            cost = avg * qty_after_close
            qty = qty_after_close
            if remaining_fill:
                opened = remaining_fill * (1 if signed > 0 else -1)
                qty, cost = opened, Fraction(fill.price * opened)
        return replace(
            self,
            quantity=qty,
            cost=Fraction(cost),
            realised_pnl=realised,
            bought=self.bought + (fill.quantity if fill.side is Side.BUY else 0),
            sold=self.sold + (fill.quantity if fill.side is Side.SELL else 0),
            traded_notional=self.traded_notional + fill.price * fill.quantity,
        )


@dataclass(frozen=True)
class Account:
    account_id: str
    positions: Mapping[str, Position] = field(default_factory=dict)

    def realised_pnl(self) -> Fraction:
        return sum((p.realised_pnl for p in self.positions.values()), Fraction(0))

    def unrealised_pnl(self, marks: Mapping[str, int | None]) -> Fraction:
        return sum((p.unrealised_pnl(marks.get(s)) for s, p in self.positions.items()), Fraction(0))

    def gross_exposure(self, marks: Mapping[str, int | None]) -> int:
        """Sum of |position| at the mark (or at average cost when there is no mark)."""
        total = 0
        for symbol, pos in self.positions.items():
            mark = marks.get(symbol)
            if mark is None:
                total += abs(int(pos.cost))
            else:
                total += abs(pos.quantity) * mark
        return total


# ----------------------------------------------------------------------------- market data


# Flags under which a record's touch is not one to price from: see ``BookTop.touch``.
_UNPRICEABLE = FLAG_SEQ_GAP | FLAG_BID_UNKNOWN | FLAG_ASK_UNKNOWN


@dataclass(frozen=True)
class BookTop:
    """One top-of-book record (``velocimex.book_contract.RECORD_DTYPE``) in domain form."""

    locate: int
    seq: int
    timestamp: int
    flags: int
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int

    @classmethod
    def from_record(cls, record: Any) -> BookTop:
        """From one element of a RECORD_DTYPE array (or any mapping with the same fields)."""
        return cls(
            locate=int(record["locate"]),
            seq=int(record["seq"]),
            timestamp=int(record["timestamp"]),
            flags=int(record["flags"]),
            bid_px=int(record["bid_px"]),
            bid_qty=int(record["bid_qty"]),
            ask_px=int(record["ask_px"]),
            ask_qty=int(record["ask_qty"]),
        )

    @property
    def has_sequence_gap(self) -> bool:
        return bool(self.flags & FLAG_SEQ_GAP)

    @property
    def best_bid(self) -> int | None:
        if self.bid_px == 0 or self.flags & FLAG_BID_UNKNOWN:
            return None
        return self.bid_px

    @property
    def best_ask(self) -> int | None:
        if self.ask_px == 0 or self.flags & FLAG_ASK_UNKNOWN:
            return None
        return self.ask_px

    def touch(self) -> tuple[int, int] | None:
        """(best bid, best ask) when both sides are known and the record has no sequence gap,
        else None: the test every quoting or taking strategy makes first, in one call (each
        property above is a descriptor call of its own on CPython 3.11, three per update)."""
        if self.flags & _UNPRICEABLE or self.bid_px == 0 or self.ask_px == 0:
            return None
        return self.bid_px, self.ask_px

    @property
    def mid(self) -> Fraction | None:
        bid, ask = self.best_bid, self.best_ask
        if bid is None or ask is None:
            return None
        return Fraction(bid + ask, 2)

    def mark(self) -> int | None:
        """An integer mark price: the mid rounded down, or the one side that exists."""
        bid, ask = self.best_bid, self.best_ask
        if bid is not None and ask is not None:
            return (bid + ask) // 2
        return bid if bid is not None else ask
