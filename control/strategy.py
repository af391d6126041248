"""The strategy plugin interface and the in-process host that runs strategies.

A strategy is a class that receives book tops, its own order events and timers, and returns
order intents. It never sees the order manager, the risk manager or a venue: the host turns
intents into orders through the order manager, so every intent passes the risk checks. The
same class runs in a backtest and live; only what calls it (and its clock) changes.

Strategies are found by name in :data:`BUILTIN_STRATEGIES` or by ``"package.module:Class"``.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict
from velocimex.control.order_manager import OrderError, OrderManager

from velocimex.domain import BookTop, Instrument, OrderEvent, OrderState, OrderType, Side, Trade

_LIMIT = OrderType.LIMIT
_CANCEL_PENDING = OrderState.CANCEL_PENDING


# Intents, working orders and contexts are built on every strategy decision. A frozen
# dataclass's generated __init__ sets each field through object.__setattr__ (about 0.6 us for
# PlaceOrder on CPython 3.11); these fill the instance dict directly, which the frozen
# __setattr__ does not guard. Equality, hashing, repr, replace() and immutability are still the
# dataclass's own, and tests/test_control_strategy.py holds each __init__ to its fields.
#
# Two ways, by how the object is read afterwards. An intent is read once, by the host: writing
# into ``self.__dict__`` is the cheapest build. A working order or a context is read in the
# strategy's per-update loop: it gets a dict of its own (``_set_dict``), because on 3.11 the
# first way leaves a dict that shares the class's keys, and reads from that are never
# specialised.
_set_dict = object.__setattr__


@dataclass(frozen=True, init=False)
class PlaceOrder:
    symbol: str
    side: Side
    quantity: int
    price: int | None
    order_type: OrderType = _LIMIT
    # With a smart order router in the core: a parent order split across the venues (price is
    # its limit; IOC stays IOC), its children the strategy's orders. Without one: ignored.
    route: bool = False

    def __init__(
        self,
        symbol: str,
        side: Side,
        quantity: int,
        price: int | None,
        order_type: OrderType = _LIMIT,
        route: bool = False,
    ) -> None:
        d = self.__dict__
        d["symbol"] = symbol
        d["side"] = side
        d["quantity"] = quantity
        d["price"] = price
        d["order_type"] = order_type
        d["route"] = route


@dataclass(frozen=True, init=False)
class CancelOrder:
    client_order_id: str

    def __init__(self, client_order_id: str) -> None:
        self.__dict__["client_order_id"] = client_order_id


Intent = PlaceOrder | CancelOrder


@dataclass(frozen=True, init=False)
class WorkingOrder:
    client_order_id: str
    symbol: str
    side: Side
    price: int | None
    leaves_quantity: int
    cancel_pending: bool

    def __init__(
        self,
        client_order_id: str,
        symbol: str,
        side: Side,
        price: int | None,
        leaves_quantity: int,
        cancel_pending: bool,
    ) -> None:
        _set_dict(
            self,
            "__dict__",
            {
                "client_order_id": client_order_id,
                "symbol": symbol,
                "side": side,
                "price": price,
                "leaves_quantity": leaves_quantity,
                "cancel_pending": cancel_pending,
            },
        )


@dataclass(frozen=True, init=False)
class StrategyContext:
    """What a strategy may know about itself when it decides."""

    now_ns: int
    positions: Mapping[str, int]
    working: Sequence[WorkingOrder]
    instruments: Mapping[str, Instrument]

    def __init__(
        self,
        now_ns: int,
        positions: Mapping[str, int],
        working: Sequence[WorkingOrder],
        instruments: Mapping[str, Instrument],
    ) -> None:
        _set_dict(
            self,
            "__dict__",
            {
                "now_ns": now_ns,
                "positions": positions,
                "working": working,
                "instruments": instruments,
            },
        )


class StrategyParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Strategy:
    """Base class. Override the ``on_*`` methods you need; each returns a list of intents."""

    name: ClassVar[str] = "strategy"
    Params: ClassVar[type[StrategyParams]] = StrategyParams
    _plain_params: Any = None  # also for a subclass whose __init__ skips Strategy.__init__

    def __init__(self, strategy_id: str, params: StrategyParams) -> None:
        self.strategy_id = strategy_id
        self.params = params
        # The per-update copy of ``params`` (``strategies.plain_params``). An ordinary attribute
        # set here, not a write through ``__dict__``: that would turn the instance's inline
        # attribute values into a dict, and CPython 3.11 then stops specialising ``self.x``.
        self._plain_params = None

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list[Intent]:
        return []

    def on_order_event(self, event: OrderEvent, ctx: StrategyContext) -> list[Intent]:
        return []

    def on_trade(self, symbol: str, trade: Trade, ctx: StrategyContext) -> list[Intent]:
        """A trade printed on the feed (market volume), for volume-driven algorithms."""
        return []

    def on_timer(self, ctx: StrategyContext) -> list[Intent]:
        return []


def load_strategy_class(spec: str) -> type[Strategy]:
    """A built-in name, or ``package.module:Class`` naming a :class:`Strategy` subclass."""
    from velocimex.control.strategies import BUILTIN_STRATEGIES

    if spec in BUILTIN_STRATEGIES:
        return BUILTIN_STRATEGIES[spec]
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ValueError(f"unknown strategy {spec!r}: not built in and not module:Class")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load strategy {spec!r}: {exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise ValueError(f"{spec!r} is not a Strategy subclass")
    return cls


@dataclass
class StrategySlot:
    strategy: Strategy
    kind: str
    running: bool = False
    intents: int = 0
    rejected_intents: int = 0
    last_error: str = ""
    symbols: tuple[str, ...] = ()
    order_ids: set[str] = field(default_factory=set)


class StrategyHost:
    """Runs strategies in this process against the order manager (live or backtest)."""

    def __init__(self, orders: OrderManager, instruments: Mapping[str, Instrument]) -> None:
        self.orders = orders
        self.instruments = dict(instruments)
        self._by_locate = {i.locate: i.symbol for i in instruments.values()}
        self.slots: dict[str, StrategySlot] = {}
        self.router: Any = None  # a control.routing.SmartRouter, set by the router itself
        self._lock = threading.RLock()
        self._now_ns = 0
        # Optional observer (strategy id, decision ns, order path ns, intents): live monitor.
        self.latency_hook: Callable[[str, int, int, int], None] | None = None
        orders.subscribe(self._on_order_event)

    def add(self, strategy_id: str, kind: str, params: Mapping[str, Any]) -> StrategySlot:
        with self._lock:
            if strategy_id in self.slots:
                raise ValueError(f"strategy {strategy_id!r} exists")
            cls = load_strategy_class(kind)
            strategy = cls(strategy_id, cls.Params(**params))
            symbols = tuple(getattr(strategy.params, "symbols", ()) or ())
            if not symbols and isinstance(getattr(strategy.params, "symbol", None), str):
                symbols = (strategy.params.symbol,)
            unknown = [s for s in symbols if s not in self.instruments]
            if unknown:
                raise ValueError(f"unknown instruments {unknown}")
            slot = StrategySlot(strategy, kind, symbols=symbols)
            self.slots[strategy_id] = slot
            return slot

    def set_params(self, strategy_id: str, params: Mapping[str, Any]) -> StrategySlot:
        with self._lock:
            slot = self._slot(strategy_id)
            merged = {**slot.strategy.params.model_dump(), **params}
            slot.strategy.params = type(slot.strategy.params)(**merged)
            return slot

    def start(self, strategy_id: str) -> StrategySlot:
        with self._lock:
            slot = self._slot(strategy_id)
            slot.running = True
            return slot

    def stop(self, strategy_id: str, cancel_orders: bool = True) -> StrategySlot:
        with self._lock:
            slot = self._slot(strategy_id)
            slot.running = False
            if cancel_orders:
                for w in self._working(slot):
                    if not w.cancel_pending:
                        self._execute(slot, CancelOrder(w.client_order_id))
            return slot

    def _slot(self, strategy_id: str) -> StrategySlot:
        try:
            return self.slots[strategy_id]
        except KeyError:
            raise KeyError(f"unknown strategy {strategy_id!r}") from None

    # ------------------------------------------------------------------ inputs
    def on_book_top(self, top: BookTop, now_ns: int | None = None) -> None:
        symbol = self._by_locate.get(top.locate)
        if symbol is None:
            return
        with self._lock:
            if now_ns is not None:
                self._now_ns = now_ns
            for slot in list(self.slots.values()):
                if slot.running and (not slot.symbols or symbol in slot.symbols):
                    self._run(slot, lambda s, c, t=top, sym=symbol: s.on_book_top(sym, t, c))

    def on_trade(self, trade: Trade) -> None:
        if trade.symbol not in self.instruments:
            return
        with self._lock:
            for slot in list(self.slots.values()):
                if slot.running and (not slot.symbols or trade.symbol in slot.symbols):
                    self._run(slot, lambda s, c, t=trade: s.on_trade(t.symbol, t, c))

    def on_timer(self, now_ns: int) -> None:
        with self._lock:
            self._now_ns = now_ns
            for slot in list(self.slots.values()):
                if slot.running:
                    self._run(slot, lambda s, c: s.on_timer(c))

    def _on_order_event(self, event: OrderEvent) -> None:
        with self._lock:
            for slot in self.slots.values():
                if event.client_order_id in slot.order_ids and slot.running:
                    self._run(slot, lambda s, c, e=event: s.on_order_event(e, c))

    # ------------------------------------------------------------------ internals
    def _working(self, slot: StrategySlot) -> list[WorkingOrder]:
        out = []
        order_ids = slot.order_ids
        for rec in self.orders.open_records():
            order = rec.order
            if order.client_order_id in order_ids:
                out.append(
                    WorkingOrder(
                        order.client_order_id,
                        order.symbol,
                        order.side,
                        order.price,
                        rec.leaves_quantity,
                        rec.state is _CANCEL_PENDING,
                    )
                )
        return out

    def context(self, slot: StrategySlot) -> StrategyContext:
        positions = {s: p.quantity for s, p in self.orders.positions().items()}
        return StrategyContext(self._now_ns, positions, self._working(slot), self.instruments)

    def _run(self, slot: StrategySlot, call: Any) -> None:
        started = time.perf_counter_ns()
        try:
            intents = call(slot.strategy, self.context(slot))
        except Exception as exc:  # a broken strategy is stopped, never takes the host down
            slot.running = False
            slot.last_error = f"{type(exc).__name__}: {exc}"
            return
        decided = time.perf_counter_ns()
        for intent in intents:
            self._execute(slot, intent)
        if self.latency_hook is not None:
            done = time.perf_counter_ns()
            self.latency_hook(
                slot.strategy.strategy_id, decided - started, done - decided, len(intents)
            )

    def _route(self, slot: StrategySlot, intent: PlaceOrder) -> None:
        market = intent.order_type is OrderType.MARKET
        if market and intent.price is not None:
            raise ValueError("a market order has no price")
        if not market and intent.price is None:
            raise ValueError("a routed limit or ioc order needs a limit price")
        # A market intent becomes a market parent: the router prices it once from fresh venue
        # data (or refuses it) and it never rests.
        parent = self.router.submit(
            intent.symbol,
            intent.side,
            intent.quantity,
            None if market else intent.price,
            time_in_force="day" if intent.order_type is OrderType.LIMIT else "ioc",
            strategy_id=slot.strategy.strategy_id,
            on_child=slot.order_ids.add,
        )
        if parent.state.value == "stopped":
            slot.rejected_intents += 1
            slot.last_error = parent.reason

    def _execute(self, slot: StrategySlot, intent: Intent) -> None:
        slot.intents += 1
        try:
            if isinstance(intent, PlaceOrder) and intent.route and self.router is not None:
                self._route(slot, intent)
            elif isinstance(intent, PlaceOrder):
                cid = self.orders.new_client_order_id()
                slot.order_ids.add(cid)
                rec = self.orders.submit(
                    intent.symbol,
                    intent.side,
                    intent.quantity,
                    order_type=intent.order_type,
                    price=intent.price,
                    strategy_id=slot.strategy.strategy_id,
                    client_order_id=cid,
                )
                if rec.state.value == "rejected":
                    slot.rejected_intents += 1
                    slot.last_error = rec.reason
            elif intent.client_order_id in slot.order_ids:
                self.orders.cancel(intent.client_order_id, reason=slot.strategy.strategy_id)
            else:
                raise OrderError(f"strategy may cancel only its own orders: {intent}")
        except (OrderError, ValueError) as exc:
            slot.rejected_intents += 1
            slot.last_error = str(exc)
