"""The venue process: matching engine, participants, ITCH/MoldUDP64 lines A and B, the
retransmission server and OUCH/SoupBinTCP order entry, on one asyncio loop.

A session runs: start of messages (S 'O'), a Stock Directory (R) and Trading Action (H 'T')
per symbol, start of system hours (S 'S') and of market hours (S 'Q'), continuous trading,
then on stop end of market hours (S 'M'), end of system hours (S 'E'), end of messages
(S 'C') and the MoldUDP64 End of Session; OUCH accounts get System Events 'S' and 'E' and
the SoupBinTCP End of Session.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from velocimex.exchange.flow import ParticipantFlow
from velocimex.exchange.marketdata import (
    LineConfig,
    MarketDataPublisher,
    start_retransmission_server,
)
from velocimex.exchange.matching import MatchingEngine, MatchingError
from velocimex.exchange.order_entry import OuchGateway

DEFAULT_SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA")
NS_PER_DAY = 86_400 * 1_000_000_000


class SessionClock:
    """ITCH/OUCH timestamps: nanoseconds since UTC midnight, never going backwards (the
    wall clock anchors the start, the monotonic clock advances it)."""

    def __init__(self) -> None:
        now = dt.datetime.now(dt.UTC)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        self._base = int((now - midnight).total_seconds() * 1e9)
        self._mono0 = time.monotonic_ns()

    def __call__(self) -> int:
        return min(self._base + time.monotonic_ns() - self._mono0, NS_PER_DAY - 1)


def default_session_name() -> str:
    # Ten characters, new on every start, so receivers see a restart as a new session.
    return f"VX{int(time.time()) % 100_000_000:08d}"


@dataclass
class VenueConfig:
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    seed: int = 1
    rate: float = 200.0
    interface: str = "127.0.0.1"
    lines: tuple[LineConfig, ...] = (
        LineConfig("239.192.1.1", 26400),
        LineConfig("239.192.1.2", 26401),
    )
    retrans_host: str = "127.0.0.1"
    retrans_port: int = 26402
    ouch_host: str = "127.0.0.1"
    ouch_port: int = 15000
    credentials: dict[str, str] = field(default_factory=lambda: {"trader": "secret"})
    session: str | None = None
    heartbeat_interval: float = 1.0


class Venue:
    def __init__(self, config: VenueConfig) -> None:
        self.config = config
        self.session = config.session or default_session_name()
        self.clock = SessionClock()
        self.market_data = MarketDataPublisher(
            self.session,
            list(config.lines),
            interface=config.interface,
            heartbeat_interval=config.heartbeat_interval,
        )
        self.engine = MatchingEngine(self.market_data.publish, self.clock)
        self.gateway = OuchGateway(self.engine, self.clock, self.session, config.credentials)
        self.engine.fill_sink = self.gateway.on_fill
        self.flow: ParticipantFlow | None = None
        self.retrans_address: tuple[str, int] | None = None
        self.ouch_address: tuple[str, int] | None = None
        self._retrans_transport: asyncio.DatagramTransport | None = None
        self._flow_task: asyncio.Task | None = None
        self._flow_enabled = asyncio.Event()
        self._stopped = False
        self.flow_errors = 0

    async def start(self) -> None:
        cfg = self.config
        self.market_data.start()
        try:
            self._retrans_transport, self.retrans_address = await start_retransmission_server(
                self.market_data, cfg.retrans_host, cfg.retrans_port
            )
            self.ouch_address = await self.gateway.server.start(cfg.ouch_host, cfg.ouch_port)
        except OSError:
            # A port in use must not leave sockets and the heartbeat task behind.
            if self._retrans_transport is not None:
                self._retrans_transport.close()
            await self.market_data.close()
            self._stopped = True
            raise
        self.engine.system_event("O")
        locates = [self.engine.add_instrument(s) for s in cfg.symbols]
        self.engine.system_event("S")
        self.engine.system_event("Q")
        self.gateway.system_event("S")
        self.flow = ParticipantFlow(self.engine, locates, seed=cfg.seed)
        if cfg.rate > 0:
            self._flow_enabled.set()
        self._flow_task = asyncio.create_task(self._run_flow())

    def pause_flow(self) -> None:
        self._flow_enabled.clear()

    def resume_flow(self) -> None:
        if self.config.rate > 0:
            self._flow_enabled.set()

    async def _run_flow(self) -> None:
        loop = asyncio.get_running_loop()
        assert self.flow is not None
        while True:
            await self._flow_enabled.wait()
            start = loop.time()
            done = 0
            while self._flow_enabled.is_set():
                due = int((loop.time() - start) * self.config.rate)
                # Bounded catch-up: a stalled loop drops its backlog instead of bursting it.
                for _ in range(min(due - done, 250)):
                    try:
                        self.flow.step()
                    except MatchingError:
                        # A participant bug must not stop the market; it is counted.
                        self.flow_errors += 1
                done = due
                await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._flow_task is not None:
            self._flow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flow_task
        self.gateway.close()
        self.engine.system_event("M")
        self.engine.system_event("E")
        self.engine.system_event("C")
        self.market_data.end_session()
        self.gateway.system_event("E")
        await self.gateway.server.close()
        if self._retrans_transport is not None:
            self._retrans_transport.close()
        await self.market_data.close()


async def run_venue(
    config: VenueConfig,
    duration: float | None = None,
    on_start: Callable[[Venue], None] | None = None,
) -> Venue:
    """Run until SIGINT/SIGTERM (or ``duration`` seconds), then end the session cleanly."""
    venue = Venue(config)
    await venue.start()
    if on_start is not None:
        on_start(venue)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        if duration is None:
            await stop.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
    finally:
        await venue.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return venue
