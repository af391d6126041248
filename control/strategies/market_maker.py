"""An inventory-aware market maker: two-sided quotes around a reservation price.

The reservation price is the mid shifted against the inventory (long -> quote lower, to sell
more and buy less), in the spirit of Avellaneda and Stoikov; quote sizes shrink as the
position approaches ``max_inventory`` so the limit is never exceeded by its own quotes. It
never quotes on a book with a sequence gap or a missing side: it pulls its quotes instead.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from velocimex.control.strategies.plain_params import plain_params
from velocimex.control.strategy import (
    CancelOrder,
    Intent,
    PlaceOrder,
    Strategy,
    StrategyContext,
    StrategyParams,
)

from velocimex.domain import BookTop, Side

# Module globals: cheaper than Side.BUY (an enum class lookup) on CPython 3.11.
_BUY, _SELL = Side.BUY, Side.SELL


class MarketMakerParams(StrategyParams):
    symbol: str = Field(min_length=1, max_length=8)
    quote_size: int = Field(100, ge=1)
    half_spread: int = Field(200, ge=1, description="ITCH units from reservation price")
    max_inventory: int = Field(1_000, ge=1, description="absolute shares")
    skew: int = Field(400, ge=0, description="reservation shift at full inventory, ITCH units")
    requote_threshold: int = Field(100, ge=1, description="move before a quote is replaced")


class InventoryMarketMaker(Strategy):
    name = "market_maker"
    Params = MarketMakerParams
    params: MarketMakerParams

    def desired_quotes(
        self, top: BookTop, position: int, tick: int
    ) -> dict[Side, tuple[int, int] | None]:
        """Per side, (price, size) to quote, or None to quote nothing."""
        bid_want, ask_want = _quotes(plain_params(self), top, position, tick)
        return {Side.BUY: bid_want, Side.SELL: ask_want}

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        # Called on every book update: one pass over the working orders, no per-side lists.
        p = plain_params(self)
        if symbol != p.symbol:
            return []
        position = ctx.positions.get(symbol, 0)
        bid_want, ask_want = _quotes(p, top, position, ctx.instruments[symbol].tick)
        intents: list[Intent] = []
        threshold = p.requote_threshold
        working = ctx.working
        for side, want in ((_BUY, bid_want), (_SELL, ask_want)):
            any_working = False
            keep = None
            for w in working:
                if w.side is not side or w.symbol != symbol:
                    continue
                any_working = True
                if w.cancel_pending:
                    continue
                fits = (
                    want is not None
                    and keep is None
                    and w.price is not None
                    and -threshold < w.price - want[0] < threshold
                    and w.leaves_quantity <= want[1]
                )
                if fits:
                    keep = w
                else:
                    intents.append(CancelOrder(w.client_order_id))
            # Replace only after the old quote is gone, so both never rest at once and the
            # inventory limit holds even if both fill.
            if want is not None and keep is None and not any_working:
                intents.append(PlaceOrder(symbol, side, want[1], want[0]))
        return intents


def _quotes(
    p: Any, top: BookTop, position: int, tick: int
) -> tuple[tuple[int, int] | None, tuple[int, int] | None]:
    """(bid, ask) quotes as (price, size) or None, for params ``p`` (a plain copy). A module
    function: CPython 3.11 does not specialise a staticmethod looked up on the instance."""
    touch = top.touch()
    if touch is None:
        return None, None
    bid, ask = touch
    reservation = (bid + ask) / 2 - p.skew * position / p.max_inventory
    bid_px = int((reservation - p.half_spread) // tick) * tick
    ask_px = -int(-(reservation + p.half_spread) // tick) * tick
    # Stay passive: never cross the opposite best. Comparisons, not min()/max(): those
    # parse keyword arguments on every call, several times the cost of the comparison.
    if bid_px > ask - tick:
        bid_px = ask - tick
    if ask_px < bid + tick:
        ask_px = bid + tick
    quote_size = p.quote_size
    bid_size = p.max_inventory - position
    if bid_size > quote_size:
        bid_size = quote_size
    ask_size = p.max_inventory + position
    if ask_size > quote_size:
        ask_size = quote_size
    return (
        (bid_px, bid_size) if bid_size > 0 and bid_px > 0 else None,
        (ask_px, ask_size) if ask_size > 0 else None,
    )
