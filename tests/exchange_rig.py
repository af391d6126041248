"""The exchange simulator run in-process for tests: its own asyncio loop on a thread, an OUCH
session for our account 'alice', and optionally a counterparty account 'bob' sending orders."""

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
    credentials = {"alice": "pw1", "bob": "pw2"} if bob else {"alice": "pw1"}
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


class ExchangeRig:
    """The simulator on its own loop thread; a connected counterparty session when the config
    has credentials for 'bob'."""

    def __init__(self, config: VenueConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.venue = Venue(config)
        self.run(self.venue.start())
        self.host, self.port = self.venue.ouch_address
        self.bob: SoupClient | None = None
        if "bob" in config.credentials:
            password = config.credentials["bob"]
            self.bob = self.run(SoupClient.connect(self.host, self.port, "bob", password))
        self.bob_ref = 0

    def run(self, coro):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def on_loop(self, call: Callable[[], object]) -> object:
        """Runs `call` on the venue's loop, where its engine may be read safely."""

        async def wrapped() -> object:
            return call()

        return self.run(wrapped())

    def bob_sells(self, quantity: int, price: int, time_in_force: str = ouch.TIF_IOC) -> None:
        assert self.bob is not None, "this rig has no counterparty session"
        self.bob_ref += 1
        message = ouch.encode(
            ouch.INBOUND, "O", user_ref_num=self.bob_ref, side="S", quantity=quantity,
            symbol="AAPL", price=price, time_in_force=time_in_force, display="Y", capacity="A",
            intermarket_sweep_eligibility="N", cross_type="N", cl_ord_id=f"BOB{self.bob_ref}",
        )  # fmt: skip
        self.loop.call_soon_threadsafe(self.bob.send_unsequenced, message)

    def stop(self) -> None:
        if self.bob is not None:
            self.run(self.bob.close())
        self.run(self.venue.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
