"""Trade prints live: the exchange simulator prints trades over MoldUDP64, the real feed
handler process publishes them on the bus, and the control plane's feed bridge hands them to
``TradingCore.on_trade``: exactly the print the exchange made, a POV parent following that
volume, and every print once and in order after packets were lost and retransmitted."""

from __future__ import annotations

import json
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import uvicorn
from velocimex.control.app import create_app
from velocimex.control.auth import Role, UserStore
from velocimex.control.core import TradingCore
from velocimex.control.feed_bridge import BookTopSubscriber
from velocimex.control.ouch_venue import OuchVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.settings import InstrumentSetting, Settings
from velocimex.control.strategy_process import ControlApi, StrategyProcess

from tests.exchange_rig import ExchangeRig
from velocimex.domain import Instrument, OrderState, Side, Trade
from velocimex.exchange.marketdata import LineConfig
from velocimex.exchange.server import VenueConfig
from velocimex.wire import ouch

VELOCIMEX = str(Path(sys.executable).with_name("velocimex"))
PX = 99_0000
ACCOUNTS = {"alice": "pw1", "bob": "pw2", "carol": "pw3"}


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


class LiveMarket(ExchangeRig):
    """Exchange (own loop thread, no background flow), ``velocimex feed`` process, and a
    trading core on the exchange's OUCH port fed by the feed bridge."""

    def __init__(self, tmp_path: Path) -> None:
        base = random.randint(30000, 60000)
        lines = (
            LineConfig(f"239.192.{random.randint(100, 250)}.{random.randint(1, 250)}", base),
            LineConfig(f"239.193.{random.randint(100, 250)}.{random.randint(1, 250)}", base + 1),
        )
        super().__init__(
            VenueConfig(
                symbols=("AAPL",), rate=0.0, lines=lines, retrans_port=0, ouch_port=0,
                credentials=ACCOUNTS, heartbeat_interval=0.2,
            )
        )  # fmt: skip
        pub = self.pub = f"ipc://{tmp_path}/pub"
        self.feed = subprocess.Popen(
            [VELOCIMEX, "feed", "--line-a", f"{lines[0].group}:{lines[0].port}", "--line-b",
             f"{lines[1].group}:{lines[1].port}", "--retrans",
             f"127.0.0.1:{self.venue.retrans_address[1]}", "--pub", pub, "--snapshot",
             f"ipc://{tmp_path}/snap", "--symbols", "AAPL", "--stale-ms", "60000"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert "feed: source udp" in self.feed.stdout.readline()
        self.ouch = OuchVenue(
            self.host, self.port, "alice", "pw1", tmp_path / "ouch_refs.jsonl", fsync=False
        )
        # The feed's session gives AAPL locate 1; the control plane is configured with 7.
        self.core = TradingCore(
            tmp_path, [Instrument("AAPL", locate=7)], self.ouch, RiskLimits(), fsync=False
        )
        self.trades: list[Trade] = []
        self.bridge = BookTopSubscriber(pub, self.core.on_book_top, {"AAPL": 7}, self.on_trade)
        self.bridge.start()
        # PUB drops what it sends before the subscription lands: the status tick proves it did.
        wait_for(lambda: self.bridge.last_status is not None)

    def on_trade(self, trade: Trade) -> None:
        self.core.on_trade(trade)
        self.trades.append(trade)  # after the core has it, so a waiter sees both

    def top_ask(self) -> int | None:
        top = self.core.risk.market_top("AAPL")
        return None if top is None else top.ask_px

    def feed_status(self) -> dict:
        return self.bridge.last_status or {}

    def close(self) -> dict:
        self.bridge.stop()
        self.core.close()
        self.feed.terminate()
        out = self.feed.communicate(timeout=30)[0].splitlines()
        self.stop()
        return json.loads(out[-1]) if out and out[-1].startswith("{") else {}


@pytest.fixture
def market(tmp_path: Path) -> Iterator[LiveMarket]:
    live = LiveMarket(tmp_path)
    try:
        yield live
    finally:
        live.final = live.close()  # type: ignore[attr-defined]


def test_aggressive_order_print_reaches_the_control_planes_on_trade(market: LiveMarket) -> None:
    market.enter("bob", "S", 300, PX, ouch.TIF_DAY)
    wait_for(lambda: market.top_ask() == PX)
    assert market.trades == []  # resting adds print nothing
    record = market.core.orders.submit("AAPL", Side.BUY, 120, price=PX)
    wait_for(
        lambda: market.core.orders.get(record.order.client_order_id).state is OrderState.FILLED
    )
    wait_for(lambda: len(market.trades) == 1)
    (execution_id,) = market.core.orders.get(record.order.client_order_id).execution_ids
    trade = market.trades[0]
    assert (trade.symbol, trade.quantity, trade.price) == ("AAPL", 120, PX)
    assert trade.match_number == int(execution_id.rsplit("-", 1)[1]) > 0
    assert trade.timestamp > 0
    assert market.core.trades_received == 1
    wait_for(lambda: market.feed_status().get("trades_published") == 1)
    time.sleep(0.3)
    assert len(market.trades) == 1  # exactly that print, once


def test_pov_parent_live_completes_at_its_participation_of_the_printed_volume(
    market: LiveMarket,
) -> None:
    core = market.core
    core.strategies.add(
        "pov", "pov", {"symbol": "AAPL", "side": "B", "quantity": 100, "participation": 0.25}
    )
    core.strategies.start("pov")
    market.enter("bob", "S", 10_000, PX, ouch.TIF_DAY)
    wait_for(lambda: market.top_ask() == PX)
    # carol's prints are the market's volume; POV's own children print too and count (V
    # includes our trades). Each print lets the parent catch up to 0.25 * V.
    for n in range(1, 5):
        # Past the risk manager's 250 ms duplicate window: a child of the same size as the
        # last round's is a new order, not a duplicate.
        time.sleep(0.3)
        market.enter("carol", "B", 100, PX, ouch.TIF_IOC)
        target = min(100, int(0.25 * 100 * n))
        # Its own prints raise V further, and the risk manager may refuse a repeated
        # 1-share child as a duplicate, so it reaches at least carol's share, never above.
        wait_for(lambda t=target: core.orders.position("AAPL").quantity >= t)
        assert core.orders.position("AAPL").quantity <= 0.25 * sum(
            t.quantity for t in market.trades
        )
    time.sleep(0.5)
    volume = sum(t.quantity for t in market.trades)
    assert volume == 400 + 100  # carol's four prints and the parent's own
    assert core.orders.position("AAPL").quantity == 100  # complete, at 0.2 <= 0.25 of V
    assert sum(r.filled_quantity for r in core.orders.records()) == 100
    assert all(r.order.strategy_id == "pov" for r in core.orders.records())
    matches = [t.match_number for t in market.trades]
    assert matches == sorted(matches) and len(set(matches)) == len(matches)


def test_prints_lost_on_both_lines_come_back_once_and_in_order(market: LiveMarket) -> None:
    market.enter("bob", "S", 10_000, PX, ouch.TIF_DAY)
    wait_for(lambda: market.top_ask() == PX)
    # A status tick after the book top: the recovery counters before the loss (a late
    # joiner has already recovered the session's start by retransmission).
    wait_for(lambda: market.feed_status().get("delivered_seq", 0) >= 3)
    before = market.feed_status()
    publisher = market.venue.market_data
    send = publisher._send
    dropped = []

    def lossy_send(packet: bytes) -> None:
        # Both lines lose these packets: only the retransmission server can fill the gap.
        dropped.append(packet)

    publisher._send = lossy_send  # type: ignore[method-assign]
    for i in range(5):
        market.enter("carol", "B", 10 + i, PX, ouch.TIF_IOC)
    wait_for(lambda: len(dropped) >= 1)
    time.sleep(0.3)
    assert market.trades == []  # nothing invented while the prints are missing
    publisher._send = send  # type: ignore[method-assign]
    for i in range(5, 8):
        market.enter("carol", "B", 10 + i, PX, ouch.TIF_IOC)
    wait_for(lambda: len(market.trades) == 8)
    time.sleep(0.5)
    assert [t.quantity for t in market.trades] == [10 + i for i in range(8)]
    matches = [t.match_number for t in market.trades]
    assert matches == sorted(matches) and len(set(matches)) == 8
    assert all(t.price == PX for t in market.trades)
    # The status goes out once a second: wait for one taken after the last print.
    wait_for(lambda: market.feed_status().get("trades_published") == 8)
    status = market.feed_status()
    assert status["gaps_filled"] > before["gaps_filled"]
    assert status["retrans_messages"] > before["retrans_messages"]
    assert status["messages_lost"] == 0 and status["engine"]["seq_gaps"] == 0


def test_strategy_process_runs_pov_on_the_live_prints(market: LiveMarket, tmp_path: Path) -> None:
    users = UserStore(tmp_path / "users.json", scrypt_n=2**10)
    users.add("trader", "pov-password", Role.TRADER)
    settings = Settings.load(
        tmp_path, instruments=[InstrumentSetting(symbol="AAPL", locate=7)], fsync=False
    )
    app = create_app(settings, core=market.core, users=users)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    process = None
    try:
        wait_for(lambda: server.started)
        market.enter("bob", "S", 10_000, PX, ouch.TIF_DAY)
        wait_for(lambda: market.top_ask() == PX)
        api = ControlApi(f"http://127.0.0.1:{port}", "trader", "pov-password")
        params = {"symbol": "AAPL", "side": "B", "quantity": 50, "participation": 0.5}
        process = StrategyProcess(api, "pov", params, "pov-remote", market.pub)
        process.start()
        # The process's own subscription is live once the feed's status tick reached it.
        wait_for(lambda: process._subscriber.last_status is not None)
        # Book tops only flow on a change: more shares at the ask give the process its touch.
        market.enter("bob", "S", 100, PX, ouch.TIF_DAY)
        wait_for(lambda: process.strategy.last_top is not None)
        market.enter("carol", "B", 100, PX, ouch.TIF_IOC)
        wait_for(lambda: market.core.orders.position("AAPL").quantity == 50)
        wait_for(lambda: process.positions.get("AAPL") == 50)
        # The prints come over the bus, the position over the API: either may arrive first.
        wait_for(lambda: process.trades_received >= 2)  # carol's print, then the parent's own
        assert process.strategy.volume == sum(t.quantity for t in market.trades)
        assert all(r.order.strategy_id == "pov-remote" for r in market.core.orders.records())
        assert not process.errors
    finally:
        if process is not None:
            process.stop()
        server.should_exit = True
        thread.join(10)
