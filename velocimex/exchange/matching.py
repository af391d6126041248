"""Price-time priority matching engine that publishes its book as ITCH 5.0.

One book per instrument (indexed by stock locate). Orders are limit (Day, rests), IOC (never
rests) or market (no price, never rests); cancel reduces or removes; replace loses time
priority unless it only reduces size at the same price. Displayed orders take priority
over hidden ones at the same price.

Every change of the displayed book is published as the ITCH messages a NASDAQ book would
produce, so a book rebuilt from the ITCH stream equals ``depth()`` after every call:
A/F add a resting displayed order, E executes shares of a resting displayed order (the
aggressor never rests, so it has no ITCH reference), X cancels part of one, D deletes one,
U replaces one that stays displayed and does not cross, P reports an execution against a
hidden order. All executions happen at the resting order's price.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

from velocimex.wire import itch

BUY = "B"
SELL = "S"
TIF_DAY = "DAY"
TIF_IOC = "IOC"
MAX_PRICE = 0xFFFFFFFF


class MatchingError(ValueError):
    """A request the engine refuses: unknown symbol or order, bad side, size or price."""


@dataclass
class Order:
    order_ref: int
    locate: int
    side: str
    price: int
    shares: int
    display: bool = True
    attribution: str | None = None
    owner: object | None = None


@dataclass(frozen=True)
class Fill:
    """One execution: ``resting`` is the passive order (after the fill), ``aggressor`` the
    incoming one (its ``shares`` are what remained before this fill)."""

    match_number: int
    locate: int
    price: int
    shares: int
    resting: Order
    aggressor_owner: object | None


@dataclass
class OrderResult:
    """What happened to an entered or replaced order."""

    order: Order
    fills: list[Fill] = field(default_factory=list)
    resting: bool = False
    canceled_shares: int = 0

    @property
    def executed_shares(self) -> int:
        return sum(f.shares for f in self.fills)


@dataclass
class _Level:
    price: int
    displayed: dict[int, Order] = field(default_factory=dict)
    hidden: dict[int, Order] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.displayed and not self.hidden

    def queue(self):
        # Displayed before hidden, each in time priority (dicts keep insertion order).
        yield from list(self.displayed.values())
        yield from list(self.hidden.values())


class _Side:
    def __init__(self, side: str) -> None:
        self.side = side
        self.levels: dict[int, _Level] = {}
        self._prices: list[int] = []  # ascending

    def best_first(self) -> list[int]:
        return self._prices[::-1] if self.side == BUY else list(self._prices)

    def best(self) -> int | None:
        if not self._prices:
            return None
        return self._prices[-1] if self.side == BUY else self._prices[0]

    def level(self, price: int) -> _Level:
        lvl = self.levels.get(price)
        if lvl is None:
            lvl = self.levels[price] = _Level(price)
            bisect.insort(self._prices, price)
        return lvl

    def drop_if_empty(self, price: int) -> None:
        lvl = self.levels.get(price)
        if lvl is not None and lvl.is_empty():
            del self.levels[price]
            del self._prices[bisect.bisect_left(self._prices, price)]


@dataclass
class Instrument:
    locate: int
    symbol: str
    bids: _Side = field(default_factory=lambda: _Side(BUY))
    asks: _Side = field(default_factory=lambda: _Side(SELL))
    orders: dict[int, Order] = field(default_factory=dict)  # resting, in arrival order

    def side(self, side: str) -> _Side:
        return self.bids if side == BUY else self.asks


ItchSink = Callable[[bytes], None]
FillSink = Callable[[Fill], None]


class MatchingEngine:
    """``itch_sink(message)`` receives every ITCH message in order; ``clock()`` gives ITCH
    timestamps (ns since midnight); ``fill_sink(fill)`` sees every execution."""

    def __init__(
        self,
        itch_sink: ItchSink,
        clock: Callable[[], int],
        fill_sink: FillSink | None = None,
    ) -> None:
        self.itch_sink = itch_sink
        self.clock = clock
        self.fill_sink = fill_sink
        self.instruments: dict[int, Instrument] = {}
        self.locate_by_symbol: dict[str, int] = {}
        self.orders: dict[int, Order] = {}
        self._next_order_ref = 1
        self._next_match = 1
        self.messages = 0

    # ---------------------------------------------------------------- publishing

    def _emit(self, msg_type: str, locate: int = 0, **fields) -> None:
        self.messages += 1
        self.itch_sink(itch.encode(msg_type, stock_locate=locate, timestamp=self.clock(), **fields))

    def system_event(self, event_code: str) -> None:
        self._emit("S", event_code=event_code)

    def add_instrument(self, symbol: str, round_lot: int = 100) -> int:
        """List a symbol: Stock Directory (R) then Trading Action 'T' (H); returns locate."""
        if symbol in self.locate_by_symbol:
            raise MatchingError(f"symbol {symbol!r} is already listed")
        if not 1 <= len(symbol) <= 8 or not symbol.isascii():
            raise MatchingError(f"symbol {symbol!r} must be 1-8 ASCII characters")
        locate = len(self.instruments) + 1
        self.instruments[locate] = Instrument(locate, symbol)
        self.locate_by_symbol[symbol] = locate
        self._emit(
            "R",
            locate,
            stock=symbol,
            market_category="Q",
            financial_status_indicator="N",
            round_lot_size=round_lot,
            round_lots_only="N",
            issue_classification="C",
            issue_subtype="Z",
            authenticity="P",
            short_sale_threshold_indicator="N",
            ipo_flag="N",
            luld_reference_price_tier="1",
            etp_flag="N",
            etp_leverage_factor=0,
            inverse_indicator="N",
        )
        self._emit("H", locate, stock=symbol, trading_state="T", reserved=" ", reason="")
        return locate

    def locate(self, symbol: str) -> int:
        locate = self.locate_by_symbol.get(symbol)
        if locate is None:
            raise MatchingError(f"unknown symbol {symbol!r}")
        return locate

    # ---------------------------------------------------------------- queries

    def depth(self, locate: int, side: str) -> list[tuple[int, int]]:
        """Displayed ``(price, shares)`` per level, best first (what ITCH shows)."""
        book = self.instruments[locate].side(side)
        out = []
        for price in book.best_first():
            shares = sum(o.shares for o in book.levels[price].displayed.values())
            if shares:
                out.append((price, shares))
        return out

    def best(self, locate: int) -> tuple[int, int, int, int]:
        """``(bid_px, bid_qty, ask_px, ask_qty)`` of the displayed book, zeros when empty."""
        bids = self.depth(locate, BUY)
        asks = self.depth(locate, SELL)
        bid = bids[0] if bids else (0, 0)
        ask = asks[0] if asks else (0, 0)
        return bid[0], bid[1], ask[0], ask[1]

    def resting_orders(self, locate: int | None = None) -> list[Order]:
        if locate is None:
            return list(self.orders.values())
        return list(self.instruments[locate].orders.values())

    # ---------------------------------------------------------------- order entry

    def _check(self, locate: int, side: str, shares: int, price: int | None) -> Instrument:
        inst = self.instruments.get(locate)
        if inst is None:
            raise MatchingError(f"unknown stock locate {locate}")
        if side not in (BUY, SELL):
            raise MatchingError(f"side must be 'B' or 'S', got {side!r}")
        if not 0 < shares <= 0xFFFFFFFF:
            raise MatchingError(f"shares must be in [1, 2^32), got {shares}")
        if price is not None and not 0 < price <= MAX_PRICE:
            raise MatchingError(f"price must be in [1, 2^32), got {price}")
        return inst

    def submit(
        self,
        locate: int,
        side: str,
        shares: int,
        price: int | None,
        tif: str = TIF_DAY,
        display: bool = True,
        attribution: str | None = None,
        owner: object | None = None,
    ) -> OrderResult:
        """Enter an order. ``price=None`` is a market order (never rests, like IOC)."""
        inst = self._check(locate, side, shares, price)
        if tif not in (TIF_DAY, TIF_IOC):
            raise MatchingError(f"time in force must be DAY or IOC, got {tif!r}")
        order = Order(
            self._next_order_ref, locate, side, price or 0, shares, display, attribution, owner
        )
        self._next_order_ref += 1
        return self._enter(inst, order, rest=price is not None and tif == TIF_DAY)

    def _enter(self, inst: Instrument, order: Order, rest: bool) -> OrderResult:
        result = OrderResult(order)
        self._match(inst, order, result, limit=order.price if order.price else None)
        if order.shares and rest:
            self._rest(inst, order)
            result.resting = True
        elif order.shares:
            result.canceled_shares = order.shares
            order.shares = 0
        return result

    def _match(self, inst: Instrument, order: Order, result: OrderResult, limit: int | None):
        contra = inst.side(SELL if order.side == BUY else BUY)
        for price in contra.best_first():
            if not order.shares:
                break
            if limit is not None and (price > limit if order.side == BUY else price < limit):
                break
            lvl = contra.levels[price]
            for resting in lvl.queue():
                if not order.shares:
                    break
                qty = min(order.shares, resting.shares)
                match = self._next_match
                self._next_match += 1
                resting.shares -= qty
                if resting.display:
                    self._emit(
                        "E",
                        inst.locate,
                        order_ref=resting.order_ref,
                        executed_shares=qty,
                        match_number=match,
                    )
                else:
                    # Hidden liquidity: a trade print, no book change.
                    self._emit(
                        "P",
                        inst.locate,
                        order_ref=0,
                        side=resting.side,
                        shares=qty,
                        stock=inst.symbol,
                        price=price,
                        match_number=match,
                    )
                fill = Fill(match, inst.locate, price, qty, resting, order.owner)
                order.shares -= qty
                result.fills.append(fill)
                if resting.shares == 0:
                    self._unlink(inst, resting)
                if self.fill_sink is not None:
                    self.fill_sink(fill)
            contra.drop_if_empty(price)

    def _rest(self, inst: Instrument, order: Order) -> None:
        lvl = inst.side(order.side).level(order.price)
        if order.display:
            lvl.displayed[order.order_ref] = order
            fields = dict(
                order_ref=order.order_ref,
                side=order.side,
                shares=order.shares,
                stock=inst.symbol,
                price=order.price,
            )
            if order.attribution:
                self._emit("F", inst.locate, attribution=order.attribution, **fields)
            else:
                self._emit("A", inst.locate, **fields)
        else:
            lvl.hidden[order.order_ref] = order
        self.orders[order.order_ref] = order
        inst.orders[order.order_ref] = order

    def _unlink(self, inst: Instrument, order: Order) -> None:
        book = inst.side(order.side)
        lvl = book.levels[order.price]
        (lvl.displayed if order.display else lvl.hidden).pop(order.order_ref)
        self.orders.pop(order.order_ref, None)
        inst.orders.pop(order.order_ref, None)
        book.drop_if_empty(order.price)

    def _live(self, order_ref: int) -> tuple[Instrument, Order]:
        order = self.orders.get(order_ref)
        if order is None:
            raise MatchingError(f"order {order_ref} is not on the book")
        return self.instruments[order.locate], order

    def cancel(self, order_ref: int, leaves: int = 0) -> int:
        """Reduce a resting order to ``leaves`` shares (0 removes it); returns shares
        canceled (0 if it already had no more than ``leaves``)."""
        inst, order = self._live(order_ref)
        if leaves < 0:
            raise MatchingError(f"leaves must be >= 0, got {leaves}")
        if leaves >= order.shares:
            return 0
        canceled = order.shares - leaves
        if leaves == 0:
            if order.display:
                self._emit("D", inst.locate, order_ref=order_ref)
            order.shares = 0
            self._unlink(inst, order)
        else:
            if order.display:
                self._emit("X", inst.locate, order_ref=order_ref, cancelled_shares=canceled)
            order.shares = leaves
        return canceled

    def replace(
        self,
        order_ref: int,
        shares: int,
        price: int,
        display: bool | None = None,
        owner: object | None = None,
    ) -> OrderResult:
        """Replace a resting order with ``shares`` at ``price``.

        A size-down at the same price and display keeps the order reference and its time
        priority (ITCH X). Otherwise the replacement gets a new reference and the back of the
        queue: ITCH U when old and new are displayed and the new price does not cross,
        else D of the old order and the new one entered like a fresh limit order (it may
        execute first).
        """
        inst, old = self._live(order_ref)
        self._check(old.locate, old.side, shares, price)
        display = old.display if display is None else display
        owner = old.owner if owner is None else owner
        if price == old.price and display == old.display and shares <= old.shares:
            if shares < old.shares:
                self.cancel(order_ref, shares)
            old.owner = owner
            return OrderResult(old, resting=True)
        new = Order(self._next_order_ref, old.locate, old.side, price, shares, display, None, owner)
        self._next_order_ref += 1
        contra_best = inst.side(SELL if old.side == BUY else BUY).best()
        crosses = contra_best is not None and (
            price >= contra_best if old.side == BUY else price <= contra_best
        )
        if old.display and display and not crosses:
            self._emit(
                "U",
                inst.locate,
                original_order_ref=order_ref,
                new_order_ref=new.order_ref,
                shares=shares,
                price=price,
            )
            old.shares = 0
            self._unlink(inst, old)
            lvl = inst.side(new.side).level(price)
            lvl.displayed[new.order_ref] = new
            self.orders[new.order_ref] = new
            inst.orders[new.order_ref] = new
            return OrderResult(new, resting=True)
        self.cancel(order_ref, 0)
        return self._enter(inst, new, rest=True)
