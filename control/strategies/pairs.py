"""A two-instrument pairs strategy: trades the spread ``mid_a - hedge_ratio * mid_b`` when it
strays ``entry_z`` standard deviations from its rolling mean, and unwinds inside ``exit_z``.

Both legs go out as IOC orders at the touch; the spread statistics use a fixed window of the
spread's recent values (one per book update of either leg once both have a market).
"""

from __future__ import annotations

import math
from collections import deque

from pydantic import Field, model_validator
from velocimex.control.strategies.plain_params import plain_params
from velocimex.control.strategy import Intent, PlaceOrder, Strategy, StrategyContext, StrategyParams

from velocimex.domain import BookTop, OrderType, Side


class PairsParams(StrategyParams):
    symbol_a: str = Field(min_length=1, max_length=8)
    symbol_b: str = Field(min_length=1, max_length=8)
    hedge_ratio: float = Field(1.0, gt=0)
    window: int = Field(200, ge=10)
    entry_z: float = Field(2.0, gt=0)
    exit_z: float = Field(0.5, ge=0)
    quantity_a: int = Field(100, ge=1)

    @property
    def symbols(self) -> tuple[str, str]:
        return (self.symbol_a, self.symbol_b)

    @model_validator(mode="after")
    def _distinct(self) -> PairsParams:
        if self.symbol_a == self.symbol_b:
            raise ValueError("a pair needs two different symbols")
        if self.exit_z >= self.entry_z:
            raise ValueError("exit_z must be below entry_z")
        return self


class PairsTrader(Strategy):
    name = "pairs"
    Params = PairsParams
    params: PairsParams

    def __init__(self, strategy_id: str, params: PairsParams) -> None:
        super().__init__(strategy_id, params)
        self._tops: dict[str, BookTop] = {}
        self._spreads: deque[float] = deque(maxlen=params.window)
        # Rolling sums of (spread - origin) over the window, so a book update costs O(1), not
        # O(window). Offsetting by a recent mean keeps the sums small (no cancellation in
        # the variance); they are rebuilt from the window every ``window`` updates so rounding
        # never accumulates.
        self._origin = 0.0
        self._sum = 0.0
        self._sumsq = 0.0
        self._since_rebuild = 0
        # The deque's own maxlen is a getset descriptor, a generic attribute lookup per update.
        self._capacity = params.window

    @property
    def quantity_b(self) -> int:
        return max(1, round(self.params.quantity_a * self.params.hedge_ratio))

    def zscore(self, spread: float) -> float | None:
        """How many sample standard deviations ``spread`` is from the window's mean."""
        return self._zscore(spread, plain_params(self).window)

    def _zscore(self, spread: float, window: int) -> float | None:
        n = len(self._spreads)
        if n < window:
            return None
        mean_offset = self._sum / n
        var = (self._sumsq - self._sum * mean_offset) / (n - 1)
        # A flat window: what is left of the variance is rounding, not a spread.
        if var <= 1e-12 * (self._sumsq / n):
            return None
        return (spread - self._origin - mean_offset) / math.sqrt(var)

    def _push(self, spread: float) -> None:
        window = self._spreads
        if len(window) == self._capacity:
            old = window[0] - self._origin
            self._sum -= old
            self._sumsq -= old * old
        window.append(spread)
        x = spread - self._origin
        self._sum += x
        self._sumsq += x * x
        self._since_rebuild += 1
        if self._since_rebuild >= len(window):
            self._since_rebuild = 0
            self._origin = math.fsum(window) / len(window)
            offsets = [v - self._origin for v in window]
            self._sum = math.fsum(offsets)
            self._sumsq = math.fsum(x * x for x in offsets)

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        p = plain_params(self)
        symbol_a, symbol_b = p.symbol_a, p.symbol_b
        if symbol != symbol_a and symbol != symbol_b:
            return []
        tops = self._tops
        tops[symbol] = top
        a, b = tops.get(symbol_a), tops.get(symbol_b)
        if a is None or b is None:
            return []
        a_touch, b_touch = a.touch(), b.touch()
        if a_touch is None or b_touch is None:  # a side missing or a sequence gap
            return []
        # (bid + ask) / 2 as a float is exactly float(BookTop.mid): no Fraction per update.
        spread = (a_touch[0] + a_touch[1]) / 2 - p.hedge_ratio * ((b_touch[0] + b_touch[1]) / 2)
        z = self._zscore(spread, p.window)
        self._push(spread)
        if z is None:
            return []
        for w in ctx.working:
            if w.symbol == symbol_a or w.symbol == symbol_b:
                return []
        pos_a = ctx.positions.get(symbol_a, 0)
        pos_b = ctx.positions.get(symbol_b, 0)
        if pos_a == 0 and pos_b == 0:
            if z >= p.entry_z:  # A rich versus B: sell A, buy B
                return self._legs(a, b, Side.SELL, p.quantity_a, self.quantity_b)
            if z <= -p.entry_z:
                return self._legs(a, b, Side.BUY, p.quantity_a, self.quantity_b)
            return []
        if abs(z) <= p.exit_z:
            out: list[Intent] = []
            if pos_a:
                side = Side.SELL if pos_a > 0 else Side.BUY
                out.append(_take(symbol_a, a, side, abs(pos_a)))
            if pos_b:
                side = Side.SELL if pos_b > 0 else Side.BUY
                out.append(_take(symbol_b, b, side, abs(pos_b)))
            return out
        return []

    def _legs(self, a: BookTop, b: BookTop, side_a: Side, qty_a: int, qty_b: int) -> list[Intent]:
        return [
            _take(self.params.symbol_a, a, side_a, qty_a),
            _take(self.params.symbol_b, b, side_a.opposite, qty_b),
        ]


def _take(symbol: str, top: BookTop, side: Side, quantity: int) -> PlaceOrder:
    price = top.best_ask if side is Side.BUY else top.best_bid
    return PlaceOrder(symbol, side, quantity, price, OrderType.IOC)
