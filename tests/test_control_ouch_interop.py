"""The OUCH venue session against an independent SoupBinTCP server: PyPI ``nasdaq-protocols``'
``SoupServerSession``, with a minimal OUCH exchange behind it written here from the spec
(accept, cancel, and executions the test injects), including re-login replay."""

from __future__ import annotations

import asyncio
from pathlib import Path

import attrs
from nasdaq_protocols import soup as np_soup
from nasdaq_protocols.common.utils import start_server
from velocimex.control.core import TradingCore
from velocimex.control.ouch_venue import OuchVenue
from velocimex.control.risk import RiskLimits

from tests.exchange_rig import LoopThread, wait_for
from velocimex.domain import BookTop, Instrument, OrderState, Side
from velocimex.wire import ouch

PX = 50_0000


class Streams:
    """What the exchange keeps per account: the sequenced stream, for replay on re-login."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.live: dict[int, dict] = {}
        self.session: np_soup.SoupServerSession | None = None
        self.match = 0

    def emit(self, message: bytes) -> None:
        self.messages.append(message)
        if self.session is not None:
            self.session.send_seq_msg(message)

    def execute(self, user_ref: int, quantity: int) -> None:
        self.match += 1
        order = self.live[user_ref]
        order["leaves"] -= quantity
        self.emit(
            ouch.encode(
                ouch.OUTBOUND, "E", timestamp=1, user_ref_num=user_ref, quantity=quantity,
                price=order["price"], liquidity_flag="A", match_number=self.match,
            )
        )  # fmt: skip


STREAMS = Streams()


@attrs.define(auto_attribs=True)
class MiniOuchExchange(np_soup.SoupServerSession):
    async def on_login(self, msg):  # type: ignore[no-untyped-def]
        start = int(str(msg.sequence).strip() or 1)
        STREAMS.session = self
        # Replay after the Login Accepted has gone out (it is sent when this returns).
        asyncio.get_running_loop().call_soon(self._replay, start)
        return np_soup.LoginAccepted("MINI", start)

    def _replay(self, start: int) -> None:
        for message in STREAMS.messages[start - 1 :]:
            self.send_seq_msg(message)

    async def on_unsequenced(self, msg):  # type: ignore[no-untyped-def]
        m = ouch.decode(ouch.INBOUND, msg.data)
        if m["type"] == "O":
            STREAMS.live[m["user_ref_num"]] = {"leaves": m["quantity"], "price": m["price"]}
            echo = {k: m[k] for k in ("side", "quantity", "symbol", "price", "time_in_force",
                                      "display", "capacity", "intermarket_sweep_eligibility",
                                      "cross_type", "cl_ord_id")}  # fmt: skip
            STREAMS.emit(
                ouch.encode(
                    ouch.OUTBOUND, "A", timestamp=1, user_ref_num=m["user_ref_num"],
                    order_reference_number=m["user_ref_num"], order_state="L", **echo,
                )
            )  # fmt: skip
        elif m["type"] == "X":
            order = STREAMS.live.get(m["user_ref_num"])
            if order is None or order["leaves"] == 0:
                STREAMS.emit(
                    ouch.encode(ouch.OUTBOUND, "I", timestamp=1, user_ref_num=m["user_ref_num"])
                )
                return
            leaves, order["leaves"] = order["leaves"], 0
            STREAMS.emit(
                ouch.encode(
                    ouch.OUTBOUND, "C", timestamp=1, user_ref_num=m["user_ref_num"],
                    quantity=leaves, reason="U",
                )
            )  # fmt: skip


class ServerThread(LoopThread):
    """The interop exchange serving SoupBinTCP on loopback from its own loop thread."""

    def __init__(self) -> None:
        super().__init__()

        async def start():  # type: ignore[no-untyped-def]
            # nasdaq-protocols' server session sends its own heartbeats every
            # `client_heartbeat_interval` and closes the session after
            # `server_heartbeat_interval` of client silence (its start_heartbeats(local,
            # remote)). Our client beats every second: allow 5 s of silence, and beat every
            # second so that connect sees the heartbeat that ends the replay.
            factory = lambda: MiniOuchExchange(  # noqa: E731
                client_heartbeat_interval=1, server_heartbeat_interval=5
            )
            server, task = await start_server(("127.0.0.1", 0), factory)
            return server, task

        self.server, self.task = self.run(start())
        self.port = self.server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        async def stop() -> None:
            self.server.close()
            self.task.cancel()

        self.run(stop())
        self.stop_loop()


def make_core(tmp_path: Path, port: int) -> tuple[TradingCore, OuchVenue]:
    venue = OuchVenue("127.0.0.1", port, "alice", "pw", tmp_path / "refs.jsonl", fsync=False)
    core = TradingCore(tmp_path, [Instrument("ZVZZT", locate=3)], venue, RiskLimits(), fsync=False)
    core.on_book_top(BookTop(3, 1, 0, 0, PX - 100, 100, PX + 100, 100))
    return core, venue


def test_ouch_session_against_nasdaq_protocols_server_with_replay(tmp_path: Path) -> None:
    global STREAMS
    STREAMS = Streams()
    server = ServerThread()
    try:
        core, venue = make_core(tmp_path, server.port)
        cid = core.orders.submit("ZVZZT", Side.SELL, 200, price=PX).order.client_order_id
        wait_for(lambda: core.orders.get(cid).state is OrderState.ACKNOWLEDGED)
        server.on_loop(lambda: STREAMS.execute(1, 50))
        wait_for(lambda: core.orders.get(cid).filled_quantity == 50)
        venue.close()
        core.close()
        wait_for(lambda: STREAMS.session is None or STREAMS.session._closed)
        STREAMS.session = None
        server.on_loop(lambda: STREAMS.execute(1, 70))  # while we are away

        again, venue2 = make_core(tmp_path, server.port)
        try:
            # connect returned after the replay: the fill made while we were away is known
            assert venue2.counters["replay_wait_timeout"] == 0
            assert again.orders.get(cid).filled_quantity == 120
            assert again.orders.position("ZVZZT").quantity == -120
            again.orders.cancel(cid)
            wait_for(lambda: again.orders.get(cid).state is OrderState.CANCELLED)
            assert again.orders.get(cid).filled_quantity == 120
            assert again.orders.next_venue_sequence == len(STREAMS.messages) + 1
            assert not again.orders.anomalies
        finally:
            venue2.close()
            again.close()
    finally:
        server.stop()
