"""An order-book-imbalance taker: buys when the bid side heavily outweighs the offer (and
the reverse), with IOC orders at the touch, and exits when the imbalance turns against it.

Imbalance = (bid_qty - ask_qty) / (bid_qty + ask_qty) at the top of book. Cool-down and
timing use the feed's ITCH timestamps, so the strategy behaves the same in a backtest and live.
"""

from __future__ import annotations

from pydantic import Field
from velocimex.control.strategies.plain_params import plain_params
from velocimex.control.strategy import Intent, PlaceOrder, Strategy, StrategyContext, StrategyParams

from velocimex.domain import BookTop, OrderType, Side


class ImbalanceParams(StrategyParams):
    symbol: str = Field(min_length=1, max_length=8)
    entry_imbalance: float = Field(0.6, gt=0, lt=1)
    exit_imbalance: float = Field(0.2, ge=0, lt=1)
    trade_size: int = Field(100, ge=1)
    max_position: int = Field(500, ge=1)
    cooldown_ns: int = Field(50_000_000, ge=0, description="between entries, feed time")


class ImbalanceTaker(Strategy):
    name = "imbalance_taker"
    Params = ImbalanceParams
    params: ImbalanceParams

    def __init__(self, strategy_id: str, params: ImbalanceParams) -> None:
        super().__init__(strategy_id, params)
        self._last_entry_ns: int | None = None

    @staticmethod
    def imbalance(top: BookTop) -> float | None:
        if top.touch() is None:  # a side missing or a sequence gap
            return None
        total = top.bid_qty + top.ask_qty
        return None if total == 0 else (top.bid_qty - top.ask_qty) / total

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        p = plain_params(self)
        if symbol != p.symbol:
            return []
        for w in ctx.working:  # a loop, not any(genexpr): this runs on every book update
            if w.symbol == symbol:
                return []  # one IOC in flight at a time
        imbalance = self.imbalance(top)
        if imbalance is None:
            return []
        position = ctx.positions.get(symbol, 0)
        # Exit first: the signal that justified the position has turned.
        if position > 0 and imbalance <= -p.exit_imbalance:
            return [PlaceOrder(symbol, Side.SELL, position, top.best_bid, OrderType.IOC)]
        if position < 0 and imbalance >= p.exit_imbalance:
            return [PlaceOrder(symbol, Side.BUY, -position, top.best_ask, OrderType.IOC)]
        cooling = (
            self._last_entry_ns is not None and top.timestamp - self._last_entry_ns < p.cooldown_ns
        )
        if cooling:
            return []
        if imbalance >= p.entry_imbalance and position < p.max_position:
            size = min(p.trade_size, p.max_position - position)
            self._last_entry_ns = top.timestamp
            return [PlaceOrder(symbol, Side.BUY, size, top.best_ask, OrderType.IOC)]
        if imbalance <= -p.entry_imbalance and position > -p.max_position:
            size = min(p.trade_size, p.max_position + position)
            self._last_entry_ns = top.timestamp
            return [PlaceOrder(symbol, Side.SELL, size, top.best_bid, OrderType.IOC)]
        return []
