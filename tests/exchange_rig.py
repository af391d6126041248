"""The exchange simulator run in-process for tests: its own asyncio loop on a thread, an OUCH
session for our account 'alice', and counterparty accounts ('bob', ...) sending orders."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable

from velocimex.exchange.marketdata import LineConfig
from velocimex.exchange.server import Venue, VenueConfig
from velocimex.wire import ouch
from velocimex.wire.soupbintcp import SoupClient

# Our own account: the trading core under test logs in with it, never the rig.
OURS = "alice"


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def venue_config(
    *, network: str = "239.192", seed: int | None = None, rate: float = 0.0, bob: bool = True
) -> VenueConfig:
    """A one-symbol (AAPL) venue on two multicast lines. Without a seed the ports and group are
    random so concurrent test runs rarely collide; with one they are fixed by it."""
    if seed is None:
        base, group = random.randint(30000, 60000), random.randint(100, 250)
    else:
        base, group = random.Random(seed).randint(30000, 60000), 100 + seed % 150
    credentials = {OURS: "pw1", "bob": "pw2"} if bob else {OURS: "pw1"}
    return VenueConfig(
        symbols=("AAPL",),
        rate=rate,
        lines=(
            LineConfig(f"{network}.{group}.1", base),
            LineConfig(f"{network}.{group}.2", base + 1),
        ),
        retrans_port=0,
        ouch_port=0,
        credentials=credentials,
        heartbeat_interval=0.2,
        **({} if seed is None else {"seed": seed}),
    )


class LoopThread:
    """An asyncio loop running on its own daemon thread, driven from the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def on_loop(self, call: Callable[[], object]) -> object:
        """Runs `call` on the loop, where the objects it owns may be touched safely."""

        async def wrapped() -> object:
            return call()

        return self.run(wrapped())

    def stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


class ExchangeRig(LoopThread):
    """The simulator on its own loop thread, with a connected OUCH session for every account
    in its credentials except ours."""

    def __init__(self, config: VenueConfig) -> None:
        super().__init__()
        self.config = config
        self.venue = Venue(config)
        self.run(self.venue.start())
        self.host, self.port = self.venue.ouch_address
        self.clients = {
            name: self.run(SoupClient.connect(self.host, self.port, name, password))
            for name, password in config.credentials.items()
            if name != OURS
        }
        self.refs = 0

    def enter(self, account: str, side: str, quantity: int, price: int, tif: str) -> None:
        self.refs += 1
        message = ouch.encode(
            ouch.INBOUND, "O", user_ref_num=self.refs, side=side, quantity=quantity,
            symbol="AAPL", price=price, time_in_force=tif, display="Y", capacity="A",
            intermarket_sweep_eligibility="N", cross_type="N",
            cl_ord_id=f"{account.upper()}{self.refs}",
        )  # fmt: skip
        self.loop.call_soon_threadsafe(self.clients[account].send_unsequenced, message)

    def bob_sells(self, quantity: int, price: int, tif: str = ouch.TIF_IOC) -> None:
        self.enter("bob", "S", quantity, price, tif)

    def stop(self) -> None:
        for client in self.clients.values():
            self.run(client.close())
        self.run(self.venue.stop())
        self.stop_loop()
