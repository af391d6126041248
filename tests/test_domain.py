"""The domain model: validation, exact position accounting, event round trips, book tops."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from velocimex.book_contract import FLAG_ASK_UNKNOWN, FLAG_BID_UNKNOWN, FLAG_SEQ_GAP, RECORD_DTYPE
from velocimex.domain import (
    EVENT_TYPES,
    BookTop,
    Fill,
    Instrument,
    Order,
    OrderFillReported,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Position,
    Side,
    event_from_dict,
    event_to_dict,
    price_to_str,
)


def f(side: Side, qty: int, px: int, n: int = 0) -> Fill:
    return Fill("C", f"E{n}", "AAPL", side, qty, px)


def test_prices_render_without_floats() -> None:
    assert price_to_str(1_500_100) == "150.0100"
    assert price_to_str(1) == "0.0001"
    assert price_to_str(-25_000) == "-2.5000"


def test_order_validation_rejects_bad_quantities_and_prices() -> None:
    with pytest.raises(ValueError):
        Order("C", "AAPL", Side.BUY, 0, price=1)
    with pytest.raises(ValueError):
        Order("C", "AAPL", Side.BUY, 1)  # limit without price
    with pytest.raises(ValueError):
        Order("C", "AAPL", Side.BUY, 1, price=2**32)
    with pytest.raises(ValueError):
        Order("", "AAPL", Side.BUY, 1, price=1)
    assert Order("C", "AAPL", Side.SELL, 1, order_type=OrderType.MARKET).price is None
    with pytest.raises(ValueError):
        Instrument("TOO LONG NAME", 1)
    with pytest.raises(ValueError):
        Instrument("AAPL", 70_000)


def test_position_average_price_and_realised_pnl() -> None:
    pos = Position("AAPL").apply(f(Side.BUY, 100, 1_000_000)).apply(f(Side.BUY, 200, 1_030_000))
    assert pos.quantity == 300
    assert pos.average_price == Fraction(1_020_000)
    pos = pos.apply(f(Side.SELL, 100, 1_050_000))
    assert pos.realised_pnl == 100 * 30_000
    assert pos.average_price == Fraction(1_020_000)
    assert pos.unrealised_pnl(1_000_000) == 200 * -20_000


def test_position_flip_closes_then_opens_at_the_fill_price() -> None:
    pos = Position("AAPL").apply(f(Side.BUY, 100, 1_000_000)).apply(f(Side.SELL, 150, 990_000))
    assert pos.quantity == -50
    assert pos.realised_pnl == -100 * 10_000
    assert pos.average_price == 990_000
    pos = pos.apply(f(Side.BUY, 50, 980_000))
    assert pos.quantity == 0
    assert pos.realised_pnl == -100 * 10_000 + 50 * 10_000
    assert pos.average_price is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]), st.integers(1, 500), st.integers(1, 10**6)
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 10**6),
)
def test_realised_plus_unrealised_equals_cash_flow_mark_to_market(fills, mark) -> None:
    pos = Position("AAPL")
    cash = 0
    for i, (side, qty, px) in enumerate(fills):
        pos = pos.apply(f(side, qty, px, i))
        cash -= side.sign * qty * px
    # Exact identity: every dollar is either realised or still in the open position.
    assert pos.realised_pnl + pos.unrealised_pnl(mark) == cash + pos.quantity * mark


def test_every_event_type_round_trips_through_json() -> None:
    order = Order("C1", "AAPL", Side.BUY, 10, order_type=OrderType.IOC, price=5)
    fill = f(Side.BUY, 10, 5)
    samples = [
        OrderSubmitted("C1", 1, order=order),
        OrderFillReported("C1", 2, fill=fill, venue_seq=9),
        OrderRejected("C1", 3, reason="x", by_risk=True),
    ]
    for cls in EVENT_TYPES.values():
        if cls not in {type(s) for s in samples}:
            samples.append(cls("C1", 4))
    assert {s.kind for s in samples} == set(EVENT_TYPES)
    for event in samples:
        assert event_from_dict(json.loads(json.dumps(event_to_dict(event)))) == event


def test_malformed_event_raises_value_error() -> None:
    with pytest.raises(ValueError):
        event_from_dict({"kind": "no-such"})
    with pytest.raises(ValueError):
        event_from_dict({"kind": "accepted"})


def test_book_top_from_record_reads_flags() -> None:
    rec = np.zeros(1, dtype=RECORD_DTYPE)[0]
    rec["seq"], rec["locate"], rec["bid_px"], rec["bid_qty"] = 5, 7, 1_000_000, 300
    rec["ask_px"], rec["ask_qty"] = 1_000_200, 100
    top = BookTop.from_record(rec)
    assert (top.best_bid, top.best_ask, top.mark()) == (1_000_000, 1_000_200, 1_000_100)
    assert not top.has_sequence_gap
    rec["flags"] = FLAG_SEQ_GAP | FLAG_ASK_UNKNOWN
    top = BookTop.from_record(rec)
    assert top.has_sequence_gap
    assert top.best_ask is None
    assert top.mid is None


@pytest.mark.parametrize(
    ("flags", "bid_px", "ask_px"),
    [
        (0, 1_000_000, 1_000_200),
        (0, 0, 1_000_200),
        (0, 1_000_000, 0),
        (0, 0, 0),
        (FLAG_SEQ_GAP, 1_000_000, 1_000_200),
        (FLAG_ASK_UNKNOWN, 1_000_000, 1_000_200),
        (FLAG_BID_UNKNOWN, 1_000_000, 1_000_200),
        (FLAG_BID_UNKNOWN | FLAG_ASK_UNKNOWN, 1_000_000, 1_000_200),
    ],
)
def test_book_top_touch_is_both_best_prices_only_without_a_gap(flags, bid_px, ask_px) -> None:
    top = BookTop(7, 1, 0, flags, bid_px, 100, ask_px, 100)
    usable = top.best_bid is not None and top.best_ask is not None and not top.has_sequence_gap
    assert top.touch() == ((top.best_bid, top.best_ask) if usable else None)
