"""Book-update records published on pyzmq reach the trading core; malformed frames are counted."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import zmq
from velocimex.control.core import TradingCore
from velocimex.control.feed_bridge import BookTopSubscriber
from velocimex.control.paper_venue import PaperVenue

from velocimex.book_contract import RECORD_DTYPE
from velocimex.domain import Instrument, OrderState, Side
from velocimex.feed.bus import STATUS_TOPIC, topic

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
