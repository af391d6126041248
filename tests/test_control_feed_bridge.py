"""Book-update records and trade prints published on pyzmq reach the trading core in order;
malformed frames are counted."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import zmq
from velocimex.control.core import TradingCore
from velocimex.control.feed_bridge import BookTopSubscriber
from velocimex.control.paper_venue import PaperVenue

from velocimex.book_contract import RECORD_DTYPE
from velocimex.domain import BookTop, Instrument, OrderState, Side, Trade
from velocimex.feed.bus import STATUS_TOPIC, topic, trade_topic
from velocimex.feed.trades import PRINT_DTYPE

AAPL = Instrument("AAPL", locate=7)


def records(*tops: tuple[int, int, int], locate: int = 7) -> bytes:
    out = np.zeros(len(tops), dtype=RECORD_DTYPE)
    for i, (seq, bid, ask) in enumerate(tops):
        out[i]["seq"], out[i]["locate"] = seq, locate
        out[i]["bid_px"], out[i]["bid_qty"], out[i]["ask_px"], out[i]["ask_qty"] = (
            bid,
            100,
            ask,
            100,
        )
    return out.tobytes()


def test_records_on_the_bus_drive_the_core(tmp_path: Path) -> None:
    core = TradingCore(tmp_path, [AAPL], PaperVenue([AAPL]), fsync=False)
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = BookTopSubscriber(f"tcp://127.0.0.1:{port}", core.on_book_top)
    sub.start()
    try:
        deadline = time.monotonic() + 10
        # PUB drops messages until the subscription has propagated: publish until one lands.
        while core.risk.market_top("AAPL") is None:
            assert time.monotonic() < deadline
            pub.send_multipart([topic("AAPL"), records((1, 1_000_000, 1_000_100))])
            time.sleep(0.02)
        pub.send_multipart([topic("AAPL"), b"\x00" * 39])
        pub.send_multipart(
            [topic("AAPL"), records((2, 1_000_000, 1_000_100), (3, 1_000_100, 1_000_200))]
        )
        deadline = time.monotonic() + 10
        while core.risk.market_top("AAPL").seq != 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert sub.malformed == 1 and sub.errors == 0
        rec = core.orders.submit("AAPL", Side.BUY, 10, price=1_000_200)
        assert rec.state is OrderState.FILLED  # risk and the paper venue saw the new top
    finally:
        sub.stop()
        pub.close()
        core.close()


def test_topics_pick_the_instruments_and_locates_follow_the_configuration(tmp_path: Path) -> None:
    core = TradingCore(tmp_path, [AAPL], PaperVenue([AAPL]), fsync=False)
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    # The feed's session numbers AAPL as locate 3; the control plane configured 7.
    sub = BookTopSubscriber(f"tcp://127.0.0.1:{port}", core.on_book_top, {"AAPL": 7})
    sub.start()
    try:
        deadline = time.monotonic() + 10
        while core.risk.market_top("AAPL") is None:
            assert time.monotonic() < deadline
            pub.send_multipart([topic("AAPL"), records((1, 1_000_000, 1_000_100), locate=3)])
            time.sleep(0.02)
        pub.send_multipart([STATUS_TOPIC, b'{"state": "up", "engine": {"messages": 9}}'])
        pub.send_multipart([topic("MSFT"), records((2, 5, 6), locate=7)])  # not subscribed
        pub.send_multipart([topic("AAPL"), records((3, 1_000_000, 1_000_200), locate=3)])
        deadline = time.monotonic() + 10
        while core.risk.market_top("AAPL").seq != 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert core.risk.market_top("AAPL").locate == 7
        assert sub.last_status == {"state": "up", "engine": {"messages": 9}}
        assert sub.malformed == 0
        assert core.book_tops_received == sub.records
    finally:
        sub.stop()
        pub.close()
        core.close()


def prints(*rows: tuple[int, int, int, int]) -> bytes:
    """(seq, shares, price, match_number) rows as the feed's 36-byte print records."""
    out = np.zeros(len(rows), dtype=PRINT_DTYPE)
    for i, (seq, shares, price, match) in enumerate(rows):
        out[i]["seq"], out[i]["shares"], out[i]["price"] = seq, shares, price
        out[i]["match_number"], out[i]["timestamp"], out[i]["locate"] = match, 1000 + seq, 3
        out[i]["kind"] = ord("E")
    return out.tobytes()


def test_trade_prints_reach_on_trade_in_order_with_the_book_tops(tmp_path: Path) -> None:
    core = TradingCore(tmp_path, [AAPL], PaperVenue([AAPL]), fsync=False)
    seen: list[tuple[str, int]] = []

    def on_top(top: BookTop) -> None:
        core.on_book_top(top)
        seen.append(("top", top.seq))

    def on_trade(trade: Trade) -> None:
        core.on_trade(trade)
        seen.append(("trade", trade.match_number))

    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    sub = BookTopSubscriber(f"tcp://127.0.0.1:{port}", on_top, {"AAPL": 7}, on_trade, "SIM")
    sub.start()
    try:
        deadline = time.monotonic() + 10
        while not seen:
            assert time.monotonic() < deadline
            pub.send_multipart([topic("AAPL"), records((1, 1_000_000, 1_000_100), locate=3)])
            time.sleep(0.02)
        seen.clear()
        pub.send_multipart([trade_topic("AAPL"), prints((2, 100, 1_000_100, 41))])
        pub.send_multipart([topic("AAPL"), records((2, 1_000_000, 1_000_200), locate=3)])
        pub.send_multipart([trade_topic("MSFT"), prints((3, 5, 1, 42))])  # not subscribed
        pub.send_multipart([trade_topic("AAPL"), b"\x00" * 35])  # not a whole record
        pub.send_multipart([trade_topic("AAPL"), prints((4, 7, 1_000_200, 43), (5, 9, 0, 44))])
        pub.send_multipart([topic("AAPL"), records((6, 1_000_000, 1_000_300), locate=3)])
        deadline = time.monotonic() + 10
        while len(seen) < 5:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert seen == [("trade", 41), ("top", 2), ("trade", 43), ("trade", 44), ("top", 6)]
        assert core.trades_received == sub.trades == 3
        assert sub.malformed == 1 and sub.errors == 0
    finally:
        sub.stop()
        pub.close()
        core.close()


def test_prints_become_domain_trades_with_symbol_venue_and_match_number(tmp_path: Path) -> None:
    got: list[Trade] = []
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    # No instrument list: every symbol's prints, and a book-only subscriber skips them.
    sub = BookTopSubscriber(f"tcp://127.0.0.1:{port}", lambda _: None, None, got.append, "X1")
    books_only = BookTopSubscriber(f"tcp://127.0.0.1:{port}", lambda _: None)
    sub.start()
    books_only.start()
    try:
        deadline = time.monotonic() + 10
        while not got:
            assert time.monotonic() < deadline
            pub.send_multipart([trade_topic("MSFT"), prints((9, 250, 4_120_000, 77))])
            time.sleep(0.02)
        assert got[0] == Trade("MSFT", 250, 4_120_000, 1009, "X1", 77)
        pub.send_multipart([trade_topic("MSFT"), prints((10, 0, 1, 78))])  # zero shares
        deadline = time.monotonic() + 10
        while sub.errors == 0:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert "quantity must be positive" in sub.last_error
        assert books_only.malformed == 0 and books_only.records == 0
    finally:
        sub.stop()
        books_only.stop()
        pub.close()
