"""Execution algorithms as strategies: TWAP and iceberg. Each works one parent order and
tracks its own fills from its order events; timing uses the feed's ITCH timestamps, so a
backtest and a live run schedule the same slices."""

from __future__ import annotations

from pydantic import Field, model_validator
from velocimex.control.strategy import Intent, PlaceOrder, Strategy, StrategyContext, StrategyParams

from velocimex.domain import BookTop, OrderEvent, OrderType, Side

_FILL_KINDS = ("partially_filled", "filled")


class _ParentParams(StrategyParams):
    symbol: str = Field(min_length=1, max_length=8)
    side: Side
    quantity: int = Field(ge=1, description="parent order shares")


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


class TwapParams(_ParentParams):
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
        return [PlaceOrder(symbol, p.side, missing, price, OrderType.IOC)]


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
