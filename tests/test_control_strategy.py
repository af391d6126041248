"""The strategy host and the inventory-aware market maker, through the real order path."""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import pytest
from velocimex.control.core import TradingCore
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.strategies.market_maker import InventoryMarketMaker, MarketMakerParams
from velocimex.control.strategy import (
    CancelOrder,
    PlaceOrder,
    Strategy,
    StrategyContext,
    WorkingOrder,
    load_strategy_class,
)

from velocimex.book_contract import FLAG_SEQ_GAP
from velocimex.domain import BookTop, Instrument, OrderState, OrderType, Side

AAPL = Instrument("AAPL", locate=7, tick=100)
BID, ASK = 1_500_000, 1_500_400


def make_core(tmp_path: Path, **limits) -> TradingCore:
    venue = PaperVenue([AAPL])
    return TradingCore(
        tmp_path, [AAPL], venue, RiskLimits(max_messages_per_second=10_000, **limits), fsync=False
    )


def top(bid: int = BID, ask: int = ASK, bid_qty: int = 100, ask_qty: int = 100, flags: int = 0):
    return BookTop(7, 1, 0, flags, bid, bid_qty, ask, ask_qty)


def working(core: TradingCore, strategy_id: str = "mm") -> dict[Side, list]:
    out: dict[Side, list] = {Side.BUY: [], Side.SELL: []}
    for rec in core.orders.open_records():
        if rec.order.strategy_id == strategy_id:
            out[rec.order.side].append(rec)
    return out


def test_market_maker_skews_quotes_against_inventory() -> None:
    mm = InventoryMarketMaker(
        "mm", MarketMakerParams(symbol="AAPL", half_spread=200, skew=400, max_inventory=1000)
    )
    flat = mm.desired_quotes(top(), 0, 100)
    long = mm.desired_quotes(top(), 500, 100)
    short = mm.desired_quotes(top(), -500, 100)
    assert flat[Side.BUY] == (BID, 100) and flat[Side.SELL] == (ASK, 100)
    # Long inventory lowers both quotes (sell more eagerly, buy less); short raises them.
    assert long[Side.BUY][0] < flat[Side.BUY][0] and long[Side.SELL][0] < flat[Side.SELL][0]
    assert short[Side.BUY][0] > flat[Side.BUY][0] and short[Side.SELL][0] > flat[Side.SELL][0]
    # Quotes never cross the book, and sizes stop at the inventory limit.
    assert short[Side.BUY][0] < ASK and long[Side.SELL][0] > BID
    at_limit = mm.desired_quotes(top(), 1000, 100)
    assert at_limit[Side.BUY] is None
    assert at_limit[Side.SELL] == (BID + 100, 100)  # held one tick above the bid


def test_market_maker_quotes_both_sides_then_requotes_after_a_move(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add("mm", "market_maker", {"symbol": "AAPL", "half_spread": 200})
    core.strategies.start("mm")
    core.on_book_top(top())
    quotes = working(core)
    assert [r.order.price for r in quotes[Side.BUY]] == [BID]
    assert [r.order.price for r in quotes[Side.SELL]] == [ASK]
    old_bid = quotes[Side.BUY][0].order.client_order_id
    core.on_book_top(top(BID + 300, ASK + 300))  # market moves up 3 cents, nothing crosses
    assert core.orders.get(old_bid).state is OrderState.CANCELLED
    core.on_book_top(top(BID + 300, ASK + 300))  # next update places the new quotes
    quotes = working(core)
    assert [r.order.price for r in quotes[Side.BUY]] == [BID + 300]
    assert [r.order.price for r in quotes[Side.SELL]] == [ASK + 300]
    assert core.orders.position("AAPL").quantity == 0


def test_market_maker_fill_builds_inventory_and_skews_next_quotes(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "mm", "market_maker", {"symbol": "AAPL", "half_spread": 200, "max_inventory": 150}
    )
    core.strategies.start("mm")
    core.on_book_top(top())
    # The offer side is lifted down to our bid: the paper venue fills our resting bid.
    core.on_book_top(top(BID - 400, BID))
    assert core.orders.position("AAPL").quantity == 100
    for _ in range(3):
        core.on_book_top(top(BID - 400, BID))
    quotes = working(core)
    # Long 100 of 150: the quotes shift down and the bid shrinks to the room left.
    assert [r.order.quantity for r in quotes[Side.BUY]] == [50]
    assert quotes[Side.SELL][0].order.price <= BID
    assert core.risk.counters.rejected == 0


def test_market_maker_pulls_quotes_on_sequence_gap(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add("mm", "market_maker", {"symbol": "AAPL"})
    core.strategies.start("mm")
    core.on_book_top(top())
    assert sum(len(v) for v in working(core).values()) == 2
    core.on_book_top(top(flags=FLAG_SEQ_GAP))
    assert sum(len(v) for v in working(core).values()) == 0


def test_stop_cancels_strategy_orders_and_kill_stops_strategies(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add("mm", "market_maker", {"symbol": "AAPL"})
    core.strategies.start("mm")
    core.on_book_top(top())
    core.strategies.stop("mm")
    assert not core.orders.open_records()
    core.strategies.start("mm")
    core.on_book_top(top())
    core.kill("ro")
    assert not core.strategies.slots["mm"].running
    assert not core.orders.open_records()
    core.on_book_top(top(BID + 100, ASK + 100))
    assert not core.orders.open_records()


class Exploding(Strategy):
    name = "exploding"

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list:
        raise RuntimeError("bug")


class Greedy(Strategy):
    name = "greedy"

    def on_book_top(self, symbol: str, top: BookTop, ctx: StrategyContext) -> list:
        return [PlaceOrder("AAPL", Side.BUY, 10**6, top.ask_px)]


def test_strategy_loading_and_failures_are_contained(tmp_path: Path) -> None:
    assert load_strategy_class("market_maker") is InventoryMarketMaker
    assert load_strategy_class(f"{__name__}:Greedy") is Greedy
    for bad in ("nope", "os:path", "velocimex.domain:Side", "no.such.module:X"):
        try:
            load_strategy_class(bad)
        except ValueError:
            pass
        else:
            raise AssertionError(bad)
    core = make_core(tmp_path, max_order_quantity=1000)
    core.strategies.add("boom", f"{__name__}:Exploding", {})
    core.strategies.add("greedy", f"{__name__}:Greedy", {})
    core.strategies.start("boom")
    core.strategies.start("greedy")
    core.on_book_top(top())
    boom, greedy = core.strategies.slots["boom"], core.strategies.slots["greedy"]
    assert not boom.running and "bug" in boom.last_error
    # A strategy's oversized intent is stopped by risk like any other order.
    assert greedy.rejected_intents == 1 and greedy.last_error.startswith("max_order_quantity")
    assert core.orders.position("AAPL").quantity == 0


def test_new_params_take_effect_on_the_next_book_update(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add("mm", "market_maker", {"symbol": "AAPL", "quote_size": 100})
    core.strategies.start("mm")
    core.on_book_top(top())
    assert [o.order.quantity for o in core.orders.open_records()] == [100, 100]
    core.strategies.set_params("mm", {"quote_size": 40})
    core.strategies.stop("mm")  # cancels its quotes
    core.strategies.start("mm")
    assert core.orders.open_records() == []
    core.on_book_top(top())
    assert [o.order.quantity for o in core.orders.open_records()] == [40, 40]


@pytest.mark.parametrize(
    ("cls", "args"),
    [
        (PlaceOrder, ("AAPL", Side.BUY, 100, BID, OrderType.IOC, True)),
        (CancelOrder, ("VX1",)),
        (WorkingOrder, ("VX1", "AAPL", Side.SELL, ASK, 40, True)),
        (StrategyContext, (5, {"AAPL": 3}, [], {"AAPL": AAPL})),
    ],
)
def test_hand_written_inits_keep_the_dataclass_contract(cls: type, args: tuple) -> None:
    # These classes build their instance dict by hand (speed); the constructor must still take
    # exactly the fields, in order, with the fields' defaults, and the object stay frozen.
    names = [f.name for f in dataclasses.fields(cls)]
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == names
    for f, p in zip(dataclasses.fields(cls), params, strict=True):
        assert p.default == (
            inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        )
    positional = cls(*args)
    by_name = cls(**dict(zip(names, args, strict=True)))
    assert positional == by_name and vars(positional) == dict(zip(names, args, strict=True))
    copy = dataclasses.replace(positional)
    assert copy == positional and copy is not positional
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(positional, names[0], args[0])
    if cls is not StrategyContext:  # a context holds dicts: unhashable, as before
        assert hash(positional) == hash(by_name)


def test_place_order_defaults_to_an_unrouted_limit_order() -> None:
    intent = PlaceOrder("AAPL", Side.BUY, 10, BID)
    assert (intent.order_type, intent.route) == (OrderType.LIMIT, False)
    assert intent == PlaceOrder("AAPL", Side.BUY, 10, BID, OrderType.LIMIT, False)
    assert intent != PlaceOrder("AAPL", Side.BUY, 10, BID, OrderType.IOC)
