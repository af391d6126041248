"""Request and response models of the control API. Prices are ITCH integers (1/10000 USD);
the ``*_usd`` fields are the same amounts as decimal strings, for people."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from velocimex.control.auth import Role
from velocimex.control.order_state import OrderRecord

from velocimex.domain import (
    MAX_ITCH_PRICE,
    BookTop,
    Fill,
    OrderState,
    OrderType,
    Position,
    Side,
    TradingState,
    price_to_str,
)

Symbol = Field(min_length=1, max_length=8, pattern=r"^[A-Z0-9.\-+ ]*[A-Z0-9.\-+]$")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- auth
class TokenRequest(Model):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenResponse(Model):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    role: Role


class UserIn(Model):
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    password: str = Field(min_length=12, max_length=256)
    role: Role


class UserOut(Model):
    username: str
    role: Role


# ----------------------------------------------------------------------------- orders
class OrderIn(Model):
    symbol: str = Symbol
    side: Side
    quantity: int = Field(ge=1, le=1_000_000_000)
    order_type: OrderType = OrderType.LIMIT
    price: int | None = Field(None, ge=1, le=MAX_ITCH_PRICE, description="ITCH units")
    strategy_id: str = Field("manual", min_length=1, max_length=64)
    client_order_id: str | None = Field(
        None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$"
    )


class OrderOut(Model):
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    price: int | None
    price_usd: str | None
    strategy_id: str
    state: OrderState
    filled_quantity: int
    leaves_quantity: int
    average_fill_price: float | None
    venue_order_id: str
    venue: str = Field("", description="venue session the order went to; empty: the only one")
    reason: str
    created_ns: int

    @classmethod
    def of(cls, rec: OrderRecord) -> OrderOut:
        o = rec.order
        avg = rec.average_fill_price
        return cls(
            client_order_id=o.client_order_id,
            symbol=o.symbol,
            side=o.side,
            order_type=o.order_type,
            quantity=o.quantity,
            price=o.price,
            price_usd=None if o.price is None else price_to_str(o.price),
            strategy_id=o.strategy_id,
            state=rec.state,
            filled_quantity=rec.filled_quantity,
            leaves_quantity=rec.leaves_quantity,
            average_fill_price=None if avg is None else float(avg),
            venue_order_id=rec.venue_order_id,
            venue=o.venue,
            reason=rec.reason,
            created_ns=o.created_ns,
        )


class CancelAllOut(Model):
    cancelled: list[str]


# ----------------------------------------------------------------------------- positions
class PositionOut(Model):
    symbol: str
    quantity: int
    average_price: float | None = Field(description="ITCH units")
    mark_price: int | None
    realised_pnl: float = Field(description="ITCH units x shares (1/10000 USD)")
    unrealised_pnl: float
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    bought: int
    sold: int
    traded_notional: int

    @classmethod
    def of(cls, pos: Position, mark: int | None) -> PositionOut:
        avg = pos.average_price
        unreal = pos.unrealised_pnl(mark)
        return cls(
            symbol=pos.symbol,
            quantity=pos.quantity,
            average_price=None if avg is None else float(avg),
            mark_price=mark,
            realised_pnl=float(pos.realised_pnl),
            unrealised_pnl=float(unreal),
            realised_pnl_usd=float(pos.realised_pnl) / 10_000,
            unrealised_pnl_usd=float(unreal) / 10_000,
            bought=pos.bought,
            sold=pos.sold,
            traded_notional=pos.traded_notional,
        )


class PnlPointOut(Model):
    ts_ns: int
    realised_usd: float
    unrealised_usd: float


class AccountOut(Model):
    account_id: str
    realised_pnl_usd: float
    unrealised_pnl_usd: float
    gross_exposure_usd: float
    open_orders: int
    positions: list[PositionOut]


# ----------------------------------------------------------------------------- risk
class BreakerOut(Model):
    name: str
    tripped: bool
    reason: str
    tripped_ns: int


class RiskStatusOut(Model):
    state: TradingState
    kill_switch: bool
    breakers: list[BreakerOut]
    limits: dict[str, Any]
    checked: int
    approved: int
    rejected: int
    cancels_sent: int
    reject_reasons: dict[str, int]


class TradingStateIn(Model):
    state: TradingState
    reason: str = Field("", max_length=256)


class KillSwitchIn(Model):
    reason: str = Field("", max_length=256)


class KillSwitchOut(Model):
    kill_switch: bool
    state: TradingState
    cancelled: list[str]


class AuditRecordOut(Model):
    model_config = ConfigDict(extra="allow")
    ts_ns: int
    action: str


# ----------------------------------------------------------------------------- strategies
class StrategyIn(Model):
    strategy_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")
    kind: str = Field(min_length=1, max_length=200, description="built-in name or module:Class")
    params: dict[str, Any] = Field(default_factory=dict)


class StrategyParamsIn(Model):
    params: dict[str, Any]


class StrategyOut(Model):
    strategy_id: str
    kind: str
    running: bool
    params: dict[str, Any]
    intents: int
    rejected_intents: int
    last_error: str
    open_orders: int


class StrategyKindOut(Model):
    kind: str
    params_schema: dict[str, Any]


# ----------------------------------------------------------------------------- feeds
class BookTopIn(Model):
    locate: int = Field(ge=0, le=0xFFFF)
    seq: int = Field(0, ge=0, le=2**64 - 1)
    timestamp: int = Field(0, ge=0, le=2**64 - 1)
    flags: int = Field(0, ge=0, le=0xFFFF)
    bid_px: int = Field(ge=0, le=MAX_ITCH_PRICE)
    bid_qty: int = Field(ge=0, le=0xFFFF_FFFF)
    ask_px: int = Field(ge=0, le=MAX_ITCH_PRICE)
    ask_qty: int = Field(ge=0, le=0xFFFF_FFFF)

    def to_domain(self) -> BookTop:
        return BookTop(**self.model_dump())


class FeedInstrumentOut(Model):
    symbol: str
    locate: int
    bid_px: int | None
    bid_qty: int | None
    ask_px: int | None
    ask_qty: int | None
    seq: int | None
    flags: int | None
    sequence_gap: bool
    problem: str | None


class FeedsOut(Model):
    book_tops_received: int
    instruments: list[FeedInstrumentOut]


# ----------------------------------------------------------------------------- system
class SystemStatusOut(Model):
    version: str
    venue: str
    uptime_s: float
    trading_state: TradingState
    next_venue_sequence: int
    orders: int
    open_orders: int
    anomalies: dict[str, int]
    last_anomaly: str
    websocket_clients: int
    events_dropped: int


class HardwareCountersOut(Model):
    engine: str
    attached: bool
    counters: dict[str, int | None]


def book_top_out(symbol: str, locate: int, top: BookTop | None, problem: str | None):
    return FeedInstrumentOut(
        symbol=symbol,
        locate=locate,
        bid_px=None if top is None else top.bid_px,
        bid_qty=None if top is None else top.bid_qty,
        ask_px=None if top is None else top.ask_px,
        ask_qty=None if top is None else top.ask_qty,
        seq=None if top is None else top.seq,
        flags=None if top is None else top.flags,
        sequence_gap=False if top is None else top.has_sequence_gap,
        problem=problem,
    )


# ----------------------------------------------------------------------------- market (UI)
class TopSampleOut(Model):
    ts_ns: int = Field(description="local receive time, ns since the epoch")
    bid_px: int
    bid_qty: int
    ask_px: int
    ask_qty: int


class TradeOut(Model):
    symbol: str
    quantity: int
    price: int = Field(description="ITCH units")
    timestamp: int = Field(description="ITCH nanoseconds since midnight")
    venue: str
    match_number: int


class FillOut(Model):
    client_order_id: str
    execution_id: str
    symbol: str
    side: Side
    quantity: int
    price: int = Field(description="ITCH units")
    venue: str
    ts_ns: int
    liquidity: str

    @classmethod
    def of(cls, fill: Fill) -> FillOut:
        return cls(**{name: getattr(fill, name) for name in cls.model_fields})


class LatencyQuantilesOut(Model):
    p50: float
    p90: float
    p99: float
    p99_9: float
    max: float
    count: float


class EngineLatencyOut(Model):
    name: str
    label: str
    latency_ns: LatencyQuantilesOut


class LiveFeedLatencyOut(Model):
    source: str
    samples: int
    p50_ns: float
    p99_ns: float
    max_ns: float


class LatencyReportOut(Model):
    available: bool
    source: str = Field(description="the bench.json read")
    command: str = Field(description="the command that wrote it")
    date: str
    error: str | None = None
    engines: list[EngineLatencyOut] = Field(default_factory=list)
    live_feed: LiveFeedLatencyOut | None = Field(
        None, description="the running feed handler's software path, from its bus status"
    )
