"""A strategy in its own process: bus in, orders through the real HTTP API (risk-checked), own
fills back over the WebSocket."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import uvicorn
import zmq
from velocimex.control.app import create_app
from velocimex.control.auth import Role, UserStore
from velocimex.control.core import TradingCore
from velocimex.control.feed_bridge import BookTopSubscriber
from velocimex.control.settings import InstrumentSetting, Settings
from velocimex.control.strategy_process import ControlApi, StrategyProcess

from tests.serve_process import free_port
from velocimex.book_contract import RECORD_DTYPE
from velocimex.feed.bus import STATUS_TOPIC, topic, trade_topic
from velocimex.feed.trades import PRINT_DTYPE

PASSWORD = "correct horse battery"


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def record(seq: int, bid: int, ask: int, bid_qty: int = 100, ask_qty: int = 100) -> bytes:
    rec = np.zeros(1, dtype=RECORD_DTYPE)
    rec["seq"], rec["locate"] = seq, 7
    rec["bid_px"], rec["bid_qty"], rec["ask_px"], rec["ask_qty"] = bid, bid_qty, ask, ask_qty
    return rec.tobytes()


@contextmanager
def control_plane(tmp_path: Path) -> Iterator[tuple[TradingCore, int, zmq.Socket, str]]:
    """The control plane over HTTP on a free port with a 'trader' user, its feed subscribed
    to a bus this test publishes on. Yields the core, the port, the publisher and its URL."""
    users = UserStore(tmp_path / "users.json", scrypt_n=2**10)
    users.add("trader", PASSWORD, Role.TRADER)
    settings = Settings.load(
        tmp_path, instruments=[InstrumentSetting(symbol="AAPL", locate=7)], fsync=False
    )
    app = create_app(settings, users=users)
    core = app.state.core
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    feed = f"tcp://127.0.0.1:{pub.bind_to_random_port('tcp://127.0.0.1')}"
    plane_feed = BookTopSubscriber(feed, core.on_book_top, {"AAPL": 7})
    plane_feed.start()
    try:
        wait_for(lambda: server.started)
        yield core, port, pub, feed
    finally:
        plane_feed.stop()
        pub.close()
        server.should_exit = True
        thread.join(10)
        core.close()


def test_strategy_process_trades_through_the_api_and_sees_its_fills(tmp_path: Path) -> None:
    with control_plane(tmp_path) as (core, port, pub, feed):
        process = None
        try:
            bid, ask = 1_000_000, 1_000_400
            seq = 1
            while core.risk.market_top("AAPL") is None:  # until the plane's subscription is live
                pub.send_multipart([topic("AAPL"), record(seq, bid, ask)])
                time.sleep(0.02)
            api = ControlApi(f"http://127.0.0.1:{port}", "trader", PASSWORD)
            process = StrategyProcess(
                api, "market_maker", {"symbol": "AAPL", "half_spread": 200}, "mm-remote", feed
            )
            process.start()

            def quotes() -> list:
                return [r for r in core.orders.open_records() if r.order.strategy_id == "mm-remote"]

            while len(quotes()) < 2:
                seq += 1
                pub.send_multipart([topic("AAPL"), record(seq, bid, ask)])
                time.sleep(0.05)
            assert sorted(r.order.price for r in quotes()) == [bid, ask]
            pub.send_multipart([STATUS_TOPIC, b'{"state": "ok"}'])  # skipped, not malformed
            # The offer comes down onto our bid: the paper venue fills it.
            seq += 1
            pub.send_multipart([topic("AAPL"), record(seq, bid - 400, bid)])
            wait_for(lambda: core.orders.position("AAPL").quantity == 100)
            wait_for(lambda: process.positions.get("AAPL") == 100)
            assert not process.errors
        finally:
            if process is not None:
                process.stop()


def trade_print(seq: int, shares: int, price: int, match: int) -> bytes:
    row = np.zeros(1, dtype=PRINT_DTYPE)
    row["seq"], row["shares"], row["price"], row["match_number"] = seq, shares, price, match
    row["locate"], row["kind"] = 3, ord("E")
    return row.tobytes()


def test_strategy_process_follows_the_trade_prints_on_the_bus(tmp_path: Path) -> None:
    with control_plane(tmp_path) as (core, port, pub, feed):
        process = None
        try:
            bid, ask = 1_000_000, 1_000_400
            seq = 1
            while core.risk.market_top("AAPL") is None:
                pub.send_multipart([topic("AAPL"), record(seq, bid, ask, ask_qty=10_000)])
                time.sleep(0.02)
            api = ControlApi(f"http://127.0.0.1:{port}", "trader", PASSWORD)
            params = {"symbol": "AAPL", "side": "B", "quantity": 100, "participation": 0.5}
            process = StrategyProcess(api, "pov", params, "pov-remote", feed)
            process.start()
            # Until the process's subscription is live: book tops it sees, no trade yet.
            while process.strategy.last_top is None:
                seq += 1
                pub.send_multipart([topic("AAPL"), record(seq, bid, ask, ask_qty=10_000)])
                time.sleep(0.05)
            pub.send_multipart([trade_topic("MSFT"), trade_print(seq + 1, 1000, 5, 1)])  # not ours
            pub.send_multipart([trade_topic("AAPL"), trade_print(seq + 2, 40, ask, 2)])
            wait_for(lambda: core.orders.position("AAPL").quantity == 20)
            pub.send_multipart([trade_topic("AAPL"), trade_print(seq + 3, 60, ask, 3)])
            wait_for(lambda: core.orders.position("AAPL").quantity == 50)
            wait_for(lambda: process.positions.get("AAPL") == 50)
            assert process.trades_received == 2 and process.strategy.volume == 100
            assert not process.errors
        finally:
            if process is not None:
                process.stop()
