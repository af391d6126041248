"""Matching engine: price-time priority, order types, and an ITCH stream that rebuilds its book.

The reference book here is deliberately plain Python, independent of the engine: it applies
only the ITCH messages (DESIGN.md section 3 semantics) and must agree with the engine's own
displayed depth after every single event.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.exchange.flow import ParticipantFlow
from velocimex.exchange.matching import BUY, SELL, TIF_IOC, MatchingEngine, MatchingError
from velocimex.wire import itch


class ItchBook:
    """Full-depth book from ITCH messages only."""

    def __init__(self) -> None:
        self.orders: dict[int, list] = {}  # ref -> [locate, side, price, shares]
        self.messages: list[dict] = []

    def apply(self, raw: bytes) -> None:
        m = itch.decode(raw)
        self.messages.append(m)
        t = m["type"]
        if t in "AF":
            self.orders[m["order_ref"]] = [m["stock_locate"], m["side"], m["price"], m["shares"]]
        elif t in "EC":
            o = self.orders[m["order_ref"]]
            o[3] -= m["executed_shares"]
            assert o[3] >= 0
            if o[3] == 0:
                del self.orders[m["order_ref"]]
        elif t == "X":
            o = self.orders[m["order_ref"]]
            o[3] -= m["cancelled_shares"]
            assert o[3] > 0, "a cancel to zero must be a D"
        elif t == "D":
            del self.orders[m["order_ref"]]
        elif t == "U":
            loc, side, _, _ = self.orders.pop(m["original_order_ref"])
            self.orders[m["new_order_ref"]] = [loc, side, m["price"], m["shares"]]

    def depth(self, locate: int, side: str) -> list[tuple[int, int]]:
        levels: dict[int, int] = {}
        for loc, s, price, shares in self.orders.values():
            if loc == locate and s == side:
                levels[price] = levels.get(price, 0) + shares
        return sorted(levels.items(), reverse=(side == BUY))

    def types(self) -> str:
        return "".join(m["type"] for m in self.messages)


def make_engine() -> tuple[MatchingEngine, ItchBook, int]:
    book = ItchBook()
    ticks = iter(range(1, 10**9))
    engine = MatchingEngine(book.apply, lambda: next(ticks))
    locate = engine.add_instrument("TEST")
    return engine, book, locate


def assert_same_book(engine: MatchingEngine, book: ItchBook) -> None:
    for locate in engine.instruments:
        for side in (BUY, SELL):
            assert book.depth(locate, side) == engine.depth(locate, side), (locate, side)


def test_listing_publishes_stock_directory_and_trading_state():
    engine, book, locate = make_engine()
    assert book.types() == "RH"
    assert book.messages[0]["stock"].strip() == "TEST"
    assert book.messages[0]["stock_locate"] == locate == 1
    assert book.messages[1]["trading_state"] == "T"


def test_resting_limit_orders_publish_adds_and_attributed_adds():
    engine, book, locate = make_engine()
    engine.submit(locate, BUY, 100, 99_0000)
    engine.submit(locate, SELL, 200, 101_0000, attribution="GSCO")
    assert book.types()[2:] == "AF"
    assert book.messages[-1]["attribution"] == "GSCO"
    assert engine.best(locate) == (99_0000, 100, 101_0000, 200)
    assert_same_book(engine, book)


def test_crossing_order_fills_at_resting_prices_in_time_priority():
    engine, book, locate = make_engine()
    first = engine.submit(locate, SELL, 100, 100_0000).order
    second = engine.submit(locate, SELL, 100, 100_0000).order
    better = engine.submit(locate, SELL, 50, 99_9900).order
    result = engine.submit(locate, BUY, 200, 100_0000)
    assert [(f.resting.order_ref, f.price, f.shares) for f in result.fills] == [
        (better.order_ref, 99_9900, 50),
        (first.order_ref, 100_0000, 100),
        (second.order_ref, 100_0000, 50),
    ]
    assert not result.resting
    assert [m["type"] for m in book.messages[-3:]] == ["E", "E", "E"]
    assert [m["match_number"] for m in book.messages[-3:]] == [1, 2, 3]
    assert engine.depth(locate, SELL) == [(100_0000, 50)]
    assert_same_book(engine, book)


def test_limit_remainder_rests_after_partial_fill():
    engine, book, locate = make_engine()
    engine.submit(locate, SELL, 100, 100_0000)
    result = engine.submit(locate, BUY, 300, 100_0000)
    assert result.executed_shares == 100 and result.resting
    assert engine.best(locate) == (100_0000, 200, 0, 0)
    assert book.types()[-2:] == "EA"
    assert_same_book(engine, book)


def test_market_order_sweeps_levels_and_never_rests():
    engine, book, locate = make_engine()
    engine.submit(locate, SELL, 100, 100_0000)
    engine.submit(locate, SELL, 100, 101_0000)
    result = engine.submit(locate, BUY, 500, None)
    assert [(f.price, f.shares) for f in result.fills] == [(100_0000, 100), (101_0000, 100)]
    assert result.canceled_shares == 300 and not result.resting
    assert engine.best(locate) == (0, 0, 0, 0)
    assert "A" not in book.types()[-2:]
    assert_same_book(engine, book)


def test_ioc_remainder_is_canceled_without_touching_the_book():
    engine, book, locate = make_engine()
    engine.submit(locate, SELL, 100, 100_0000)
    before = len(book.messages)
    result = engine.submit(locate, BUY, 300, 100_0000, tif=TIF_IOC)
    assert result.executed_shares == 100 and result.canceled_shares == 200
    assert book.types()[before:] == "E"
    nothing = engine.submit(locate, BUY, 300, 90_0000, tif=TIF_IOC)
    assert nothing.canceled_shares == 300 and len(book.messages) == before + 1
    assert_same_book(engine, book)


def test_partial_cancel_publishes_x_and_full_cancel_publishes_d():
    engine, book, locate = make_engine()
    ref = engine.submit(locate, BUY, 500, 99_0000).order.order_ref
    assert engine.cancel(ref, leaves=200) == 300
    assert book.messages[-1]["type"] == "X" and book.messages[-1]["cancelled_shares"] == 300
    assert engine.cancel(ref, leaves=400) == 0  # asking to leave more than remains: no-op
    assert engine.cancel(ref) == 200
    assert book.messages[-1]["type"] == "D"
    with pytest.raises(MatchingError, match="not on the book"):
        engine.cancel(ref)
    assert_same_book(engine, book)


def test_replace_size_down_at_same_price_keeps_time_priority():
    engine, book, locate = make_engine()
    a = engine.submit(locate, BUY, 500, 99_0000).order
    engine.submit(locate, BUY, 100, 99_0000)
    result = engine.replace(a.order_ref, 200, 99_0000)
    assert result.order.order_ref == a.order_ref
    assert book.messages[-1]["type"] == "X"
    fills = engine.submit(locate, SELL, 200, 99_0000).fills
    assert [f.resting.order_ref for f in fills] == [a.order_ref]
    assert_same_book(engine, book)


def test_replace_to_new_price_loses_priority_and_publishes_u():
    engine, book, locate = make_engine()
    a = engine.submit(locate, BUY, 100, 98_0000).order
    b = engine.submit(locate, BUY, 100, 99_0000).order
    result = engine.replace(a.order_ref, 100, 99_0000)
    u = book.messages[-1]
    assert u["type"] == "U" and u["original_order_ref"] == a.order_ref
    assert u["new_order_ref"] == result.order.order_ref != a.order_ref
    fills = engine.submit(locate, SELL, 100, 99_0000).fills
    assert [f.resting.order_ref for f in fills] == [b.order_ref]
    # Size up at the same price also goes to the back of the queue.
    c = engine.submit(locate, BUY, 100, 99_0000).order
    up = engine.replace(result.order.order_ref, 300, 99_0000)
    assert book.messages[-1]["type"] == "U"
    fills = engine.submit(locate, SELL, 100, 99_0000).fills
    assert [f.resting.order_ref for f in fills] == [c.order_ref]
    assert up.order.shares == 300
    assert_same_book(engine, book)


def test_replace_that_crosses_deletes_then_executes_as_new_order():
    engine, book, locate = make_engine()
    engine.submit(locate, SELL, 100, 100_0000)
    bid = engine.submit(locate, BUY, 300, 99_0000).order
    result = engine.replace(bid.order_ref, 300, 100_0000)
    assert book.types()[-3:] == "DEA"
    assert result.executed_shares == 100 and result.order.shares == 200
    assert engine.best(locate) == (100_0000, 200, 0, 0)
    assert_same_book(engine, book)


def test_hidden_orders_print_trades_and_stay_off_the_visible_book():
    engine, book, locate = make_engine()
    hidden = engine.submit(locate, SELL, 100, 100_0000, display=False).order
    shown = engine.submit(locate, SELL, 100, 100_0000).order
    assert book.types()[-1] == "A" and len(book.orders) == 1
    result = engine.submit(locate, BUY, 150, 100_0000)
    # Displayed first at the same price, then the hidden one, which prints a P.
    assert [f.resting.order_ref for f in result.fills] == [shown.order_ref, hidden.order_ref]
    p = book.messages[-1]
    assert p["type"] == "P" and p["shares"] == 50 and p["price"] == 100_0000 and p["side"] == "S"
    assert engine.cancel(hidden.order_ref) == 50
    assert book.messages[-1]["type"] == "P"  # canceling a hidden order publishes nothing
    assert_same_book(engine, book)


def test_bad_requests_raise_clear_errors():
    engine, _, locate = make_engine()
    with pytest.raises(MatchingError, match="unknown stock locate"):
        engine.submit(99, BUY, 100, 1)
    with pytest.raises(MatchingError, match="side"):
        engine.submit(locate, "X", 100, 1)
    with pytest.raises(MatchingError, match="shares"):
        engine.submit(locate, BUY, 0, 1)
    with pytest.raises(MatchingError, match="price"):
        engine.submit(locate, BUY, 1, 0)
    with pytest.raises(MatchingError, match="already listed"):
        engine.add_instrument("TEST")
    with pytest.raises(MatchingError, match="unknown symbol"):
        engine.locate("NOPE")


def test_itch_book_equals_engine_book_after_every_participant_action():
    book = ItchBook()
    ticks = iter(range(1, 10**9))
    engine = MatchingEngine(book.apply, lambda: next(ticks))
    locates = [engine.add_instrument(s) for s in ("AAA", "BBB", "CCC")]
    flow = ParticipantFlow(engine, locates, seed=7)
    for _ in range(4000):
        flow.step()
        assert_same_book(engine, book)
    kinds = set(book.types())
    assert set("AFEXDUP") <= kinds, kinds
    for locate in locates:
        bid, _, ask, _ = engine.best(locate)
        assert bid == 0 or ask == 0 or bid < ask, "the book must never stay crossed"


_ACTIONS = st.lists(
    st.tuples(
        st.sampled_from(["limit", "ioc", "market", "cancel", "replace", "hidden"]),
        st.sampled_from([BUY, SELL]),
        st.integers(1, 500),
        st.integers(95, 105),
        st.integers(0, 30),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(_ACTIONS)
def test_itch_book_equals_engine_book_for_any_action_sequence(actions):
    engine, book, locate = make_engine()
    for kind, side, shares, price_ticks, pick in actions:
        price = price_ticks * 10000
        live = sorted(engine.orders)
        if kind in ("limit", "hidden"):
            engine.submit(locate, side, shares, price, display=kind == "limit")
        elif kind == "ioc":
            engine.submit(locate, side, shares, price, tif=TIF_IOC)
        elif kind == "market":
            engine.submit(locate, side, shares, None)
        elif live and kind == "cancel":
            engine.cancel(live[pick % len(live)], leaves=shares % 3 * 50)
        elif live:
            engine.replace(live[pick % len(live)], shares, price)
        assert_same_book(engine, book)
        bid, _, ask, _ = engine.best(locate)
        assert bid == 0 or ask == 0 or bid < ask
