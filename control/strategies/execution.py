"""Execution algorithms as strategies: TWAP, VWAP, POV and iceberg. Each works one parent
order and tracks its own fills from its order events; timing uses the feed's ITCH timestamps
and volume the feed's trade prints, so a backtest and a live run schedule the same children.

Every algorithm sends at most ``quantity - filled - working`` (never more than the parent),
never pays through its ``limit_price``, and sends nothing once stopped: the kill switch stops
every strategy and cancels its working orders, and stopping a strategy cancels its own."""

from __future__ import annotations

import math
from collections import deque

from pydantic import Field, model_validator
from velocimex.control.strategy import Intent, PlaceOrder, Strategy, StrategyContext, StrategyParams

from velocimex.domain import BookTop, OrderEvent, OrderType, Side, Trade

_FILL_KINDS = ("partially_filled", "filled")


class _ParentParams(StrategyParams):
    symbol: str = Field(min_length=1, max_length=8)
    side: Side
    quantity: int = Field(ge=1, description="parent order shares")


class _TakingParams(_ParentParams):
    """Algorithms whose children are IOCs at the touch; with ``route`` each child is an ioc
    parent of the smart order router, split across the venues (multi-venue cores)."""

    route: bool = Field(False, description="send children through the smart order router")


class _ParentStrategy(Strategy):
    """Counts the parent's filled shares from its own fill events."""

    def __init__(self, strategy_id: str, params: _ParentParams) -> None:
        super().__init__(strategy_id, params)
        self.filled = 0

    def on_order_event(self, event: OrderEvent, ctx: StrategyContext) -> list[Intent]:
        fill = getattr(event, "fill", None)
        if event.kind in _FILL_KINDS and fill is not None:
            self.filled += fill.quantity
        return []

    def working_quantity(self, ctx: StrategyContext) -> int:
        return sum(w.leaves_quantity for w in ctx.working if w.symbol == self.params.symbol)

    def remaining(self, ctx: StrategyContext) -> int:
        """Shares neither filled nor working: the most any new child may be."""
        return self.params.quantity - self.filled - self.working_quantity(ctx)


def touch_within_limit(side: Side, top: BookTop | None, limit_price: int | None) -> int | None:
    """The price a taking child pays (the opposite best), or None when there is none or it
    is through the limit."""
    if top is None or top.has_sequence_gap:
        return None
    price = top.best_ask if side is Side.BUY else top.best_bid
    if price is None or limit_price is None:
        return price
    if (side is Side.BUY and price > limit_price) or (side is Side.SELL and price < limit_price):
        return None
    return price


class TwapParams(_TakingParams):
    duration_ns: int = Field(ge=1, description="spread the parent over this much feed time")
    slices: int = Field(10, ge=1)
    limit_price: int | None = Field(None, ge=1, description="never pay more (buy) / less (sell)")


class Twap(_ParentStrategy):
    """Time-weighted: by the start of slice k, k/slices of the parent has been sent; each
    slice goes out as an IOC at the touch (capped by ``limit_price``), and what a slice did
    not get is carried into the next."""

    name = "twap"
    Params = TwapParams
    params: TwapParams

    def __init__(self, strategy_id: str, params: TwapParams) -> None:
        super().__init__(strategy_id, params)
        self.start_ns: int | None = None

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        if symbol != p.symbol or top.has_sequence_gap:
            return []
        if self.start_ns is None:
            self.start_ns = top.timestamp
        slice_ns = max(1, p.duration_ns // p.slices)
        due_slices = min(p.slices, (top.timestamp - self.start_ns) // slice_ns + 1)
        target = p.quantity * due_slices // p.slices
        missing = target - self.filled - self.working_quantity(ctx)
        if missing <= 0:
            return []
        price = top.best_ask if p.side is Side.BUY else top.best_bid
        if price is None:
            return []
        if p.limit_price is not None:
            if (p.side is Side.BUY and price > p.limit_price) or (
                p.side is Side.SELL and price < p.limit_price
            ):
                return []
        return [PlaceOrder(symbol, p.side, missing, price, OrderType.IOC, p.route)]


class IcebergParams(_ParentParams):
    price: int = Field(ge=1, description="limit price of every child")
    display: int = Field(ge=1, description="shares shown at a time")

    @model_validator(mode="after")
    def _display_fits(self) -> IcebergParams:
        if self.display > self.quantity:
            raise ValueError("display cannot exceed the parent quantity")
        return self


class Iceberg(_ParentStrategy):
    """Shows ``display`` shares at ``price`` and replaces the child when it has filled, until
    the parent is done."""

    name = "iceberg"
    Params = IcebergParams
    params: IcebergParams

    def next_child(self, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        remaining = p.quantity - self.filled - self.working_quantity(ctx)
        if remaining <= 0 or any(w.symbol == p.symbol for w in ctx.working):
            return []
        return [PlaceOrder(p.symbol, p.side, min(p.display, remaining), p.price)]

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        return self.next_child(ctx) if symbol == self.params.symbol else []

    def on_order_event(self, event: OrderEvent, ctx: StrategyContext) -> list[Intent]:
        super().on_order_event(event, ctx)
        # Replenish at once when the shown child is done, not on the next book update.
        return self.next_child(ctx) if event.kind in ("filled", "cancelled") else []


class VwapParams(_TakingParams):
    duration_ns: int = Field(ge=1, description="schedule window in feed time")
    start_ns: int | None = Field(
        None, ge=0, description="window start (ITCH ns since midnight); default: first book top"
    )
    profile: list[float] = Field(
        min_length=1,
        max_length=10_000,
        description="relative volume of equal buckets across the window (e.g. from "
        "velocimex.control.trade_prints.volume_profile over a capture)",
    )
    limit_price: int | None = Field(None, ge=1, description="never pay more (buy) / less (sell)")
    min_child: int = Field(1, ge=1, description="smallest child, except the last one")

    @model_validator(mode="after")
    def _profile_is_usable(self) -> VwapParams:
        if any(not math.isfinite(w) or w < 0 for w in self.profile) or sum(self.profile) <= 0:
            raise ValueError("profile weights must be finite, non-negative, not all zero")
        return self


class Vwap(_ParentStrategy):
    """Volume-weighted: by feed time t, the share of the parent sent is the share of the
    profile's volume expected by t (whole buckets, plus the elapsed part of the current one,
    linearly). Children are IOCs at the touch, capped by ``limit_price``; what the market or
    the limit did not allow is carried forward, and at the window's end the target is the
    whole parent."""

    name = "vwap"
    Params = VwapParams
    params: VwapParams

    def __init__(self, strategy_id: str, params: VwapParams) -> None:
        super().__init__(strategy_id, params)
        self.start_ns = params.start_ns
        total = sum(params.profile)
        self._cumulative = [0.0]
        for weight in params.profile:
            self._cumulative.append(self._cumulative[-1] + weight / total)

    def scheduled(self, now_ns: int) -> int:
        """Shares that should have been sent by ``now_ns``."""
        p = self.params
        if self.start_ns is None or now_ns < self.start_ns:
            return 0
        elapsed = (now_ns - self.start_ns) / p.duration_ns
        if elapsed >= 1:
            return p.quantity
        position = elapsed * len(p.profile)
        bucket = int(position)
        done = self._cumulative[bucket] + (position - bucket) * (
            self._cumulative[bucket + 1] - self._cumulative[bucket]
        )
        return min(p.quantity, int(p.quantity * done))

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        if symbol != p.symbol or top.has_sequence_gap:
            return []
        if self.start_ns is None:
            self.start_ns = top.timestamp
        remaining = self.remaining(ctx)
        missing = min(
            remaining, self.scheduled(top.timestamp) - self.filled - self.working_quantity(ctx)
        )
        if missing <= 0 or (missing < p.min_child and missing < remaining):
            return []
        price = touch_within_limit(p.side, top, p.limit_price)
        if price is None:
            return []
        return [PlaceOrder(symbol, p.side, missing, price, OrderType.IOC, p.route)]


class PovParams(_TakingParams):
    participation: float = Field(gt=0, le=1, description="fraction of the traded volume")
    min_child: int = Field(1, ge=1, description="smallest child, except the last one")
    max_child: int | None = Field(None, ge=1, description="largest child")
    limit_price: int | None = Field(None, ge=1, description="never pay more (buy) / less (sell)")
    repeat_window_ms: int = Field(
        250,
        ge=0,
        description="the risk limit duplicate_window_ms: a child equal in price and size to one "
        "sent this recently (feed time) is priced a tick through the touch instead",
    )

    @model_validator(mode="after")
    def _child_bounds(self) -> PovParams:
        if self.max_child is not None and self.max_child < self.min_child:
            raise ValueError("max_child cannot be below min_child")
        return self


class Pov(_ParentStrategy):
    """Percentage of volume: after the feed has printed V shares of the symbol since the
    start, the parent has sent ``participation * V`` (rounded down, never more than the
    parent). Each trade print (and each book top, to catch up what the limit held back) may
    send one IOC at the touch of at least ``min_child`` (the parent's last shares excepted)
    and at most ``max_child`` shares. V counts every print of the feed, ours included when we
    trade on that venue.

    Steady prints make consecutive children alike: the same touch, the same few shares owed.
    The risk manager refuses an order equal (strategy, symbol, side, price, size) to one sent
    within its duplicate window that is still working or filled, so such a child was refused
    and the shares waited for the next print (and the next alike child was refused again). A
    child equal to one sent within ``repeat_window_ms`` of feed time therefore goes one tick
    (up to three) through the touch, only while it and the children already sent against this
    top fit in the size displayed at the touch (it still trades at the touch, never sweeps the
    next level) and never through ``limit_price``; when no such price is free it is held (not
    sent only to be refused) until a print changes its size or the window has passed. Set
    ``repeat_window_ms`` to the risk limit (0 when duplicate detection is off)."""

    name = "pov"
    Params = PovParams
    params: PovParams

    def __init__(self, strategy_id: str, params: PovParams) -> None:
        super().__init__(strategy_id, params)
        self.volume = 0
        self.last_top: BookTop | None = None
        self._feed_ns = 0  # the latest feed timestamp seen (print or top)
        self._sent: deque[tuple[int, int, int]] = deque()  # (feed ns, price, size) per child
        self._taken = 0  # shares our children were sent against the current top

    def target(self) -> int:
        return min(self.params.quantity, int(self.volume * self.params.participation))

    def next_child(self, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        remaining = self.remaining(ctx)
        missing = min(remaining, self.target() - self.filled - self.working_quantity(ctx))
        if missing <= 0 or (missing < p.min_child and missing < remaining):
            return []
        price = touch_within_limit(p.side, self.last_top, p.limit_price)
        if price is None:
            return []
        size = missing if p.max_child is None else min(missing, p.max_child)
        price = self._unrepeated_price(price, size, ctx)
        if price is None:
            return []  # risk would refuse it as a duplicate: wait for a print or the window
        self._sent.append((self._feed_ns, price, size))
        self._taken += size
        return [PlaceOrder(p.symbol, p.side, size, price, OrderType.IOC, p.route)]

    def _unrepeated_price(self, touch: int, size: int, ctx: StrategyContext) -> int | None:
        p = self.params
        window = p.repeat_window_ms * 1_000_000
        sent = self._sent
        if not window:  # as risk with duplicate_window_ms=0: no repeat is refused
            sent.clear()
            return touch
        while sent and self._feed_ns - sent[0][0] > window:
            sent.popleft()
        used = {(price, qty) for _, price, qty in sent}
        top = self.last_top
        if (touch, size) not in used or top is None:
            return touch
        buying = p.side is Side.BUY
        if self._taken + size > (top.ask_qty if buying else top.bid_qty):
            return None  # a price through the touch could trade at the next level
        instrument = ctx.instruments.get(p.symbol)
        tick = instrument.tick if instrument is not None else 1
        for ticks in range(1, 4):
            price = touch + ticks * tick if buying else touch - ticks * tick
            if price <= 0 or (
                p.limit_price is not None
                and (price > p.limit_price if buying else price < p.limit_price)
            ):
                break
            if (price, size) not in used:
                return price
        return None

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        if symbol != self.params.symbol:
            return []
        self.last_top = top
        self._taken = 0
        self._feed_ns = max(self._feed_ns, top.timestamp)
        return self.next_child(ctx)

    def on_trade(self, symbol: str, trade: Trade, ctx: StrategyContext) -> list[Intent]:
        if symbol != self.params.symbol:
            return []
        self.volume += trade.quantity
        self._feed_ns = max(self._feed_ns, trade.timestamp)
        return self.next_child(ctx)
