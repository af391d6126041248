"""An inventory-aware market maker: two-sided quotes around a reservation price.

The reservation price is the mid shifted against the inventory (long -> quote lower, to sell
more and buy less), in the spirit of Avellaneda and Stoikov; quote sizes shrink as the
position approaches ``max_inventory`` so the limit is never exceeded by its own quotes. It
never quotes on a book with a sequence gap or a missing side: it pulls its quotes instead.
"""

from __future__ import annotations

from pydantic import Field
from velocimex.control.strategy import (
    CancelOrder,
    Intent,
    PlaceOrder,
    Strategy,
    StrategyContext,
    StrategyParams,
)

from velocimex.domain import BookTop, Side


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
        p = self.params
        bid, ask = top.best_bid, top.best_ask
        if bid is None or ask is None or top.has_sequence_gap:
            return {Side.BUY: None, Side.SELL: None}
        reservation = (bid + ask) / 2 - p.skew * position / p.max_inventory
        bid_px = int((reservation - p.half_spread) // tick) * tick
        ask_px = -int(-(reservation + p.half_spread) // tick) * tick
        # Stay passive: never cross the opposite best.
        bid_px = min(bid_px, ask - tick)
        ask_px = max(ask_px, bid + tick)
        bid_size = min(p.quote_size, p.max_inventory - position)
        ask_size = min(p.quote_size, p.max_inventory + position)
        return {
            Side.BUY: (bid_px, bid_size) if bid_size > 0 and bid_px > 0 else None,
            Side.SELL: (ask_px, ask_size) if ask_size > 0 else None,
        }

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        if symbol != self.params.symbol:
            return []
        tick = ctx.instruments[symbol].tick
        position = ctx.positions.get(symbol, 0)
        wanted = self.desired_quotes(top, position, tick)
        intents: list[Intent] = []
        for side, want in wanted.items():
            working = [w for w in ctx.working if w.symbol == symbol and w.side is side]
            live = [w for w in working if not w.cancel_pending]
            keep = None
            for w in live:
                fits = (
                    want is not None
                    and keep is None
                    and w.price is not None
                    and abs(w.price - want[0]) < self.params.requote_threshold
                    and w.leaves_quantity <= want[1]
                )
                if fits:
                    keep = w
                else:
                    intents.append(CancelOrder(w.client_order_id))
            # Replace only after the old quote is gone, so both never rest at once and the
            # inventory limit holds even if both fill.
            if want is not None and keep is None and not working:
                intents.append(PlaceOrder(symbol, side, want[1], want[0]))
        return intents
