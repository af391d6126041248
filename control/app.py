"""The control plane: FastAPI app factory wiring routers, auth, metrics and the event stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
from fastapi import Depends, FastAPI, Request, Response, WebSocket, WebSocketDisconnect, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from velocimex.control.auth import READ, RateLimiter, TokenIssuer, UserStore, require
from velocimex.control.core import TradingCore
from velocimex.control.events import EventHub
from velocimex.control.latency_report import default_report_path
from velocimex.control.market_tape import MarketTape
from velocimex.control.metrics import ApiMetrics
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.pnl_history import PnlHistory
from velocimex.control.routers import (
    auth,
    feeds,
    market,
    orders,
    positions,
    risk,
    routing,
    strategies,
    system,
)
from velocimex.control.settings import Settings
from velocimex.control.ui_static import default_ui_dir, mount_ui

from velocimex import __version__

TIMER_PERIOD_S = 1.0


def build_core(settings: Settings) -> TradingCore:
    if settings.venues:
        from velocimex.control.venue_config import build_routed_core

        return build_routed_core(settings)
    instruments = settings.domain_instruments()
    return TradingCore(
        settings.data_dir,
        instruments,
        PaperVenue(instruments),
        fsync=settings.fsync,
        group_commit=settings.journal_group_commit,
    )


def create_app(
    settings: Settings,
    core: TradingCore | None = None,
    users: UserStore | None = None,
    ui_dir: Path | None = None,
) -> FastAPI:
    core = core or build_core(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timer = asyncio.create_task(_timer(app, core))
        try:
            yield
        finally:
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer

    app = FastAPI(
        title="Velocimex control plane",
        version=__version__,
        description="Orders, positions, risk, strategies, feeds and engine status. "
        "Every route needs a bearer token from POST /auth/token; roles: viewer, trader, "
        "risk_officer, admin. Prices are ITCH integers (1/10000 USD).",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.core = core
    app.state.users = users or UserStore(settings.data_dir / "users.json")
    app.state.tokens = TokenIssuer(
        settings.jwt_secret.get_secret_value(), settings.jwt_algorithm, settings.token_ttl_s
    )
    app.state.rate_limiter = RateLimiter(settings.rate_limit_per_minute)
    app.state.login_limiter = RateLimiter(settings.login_attempts_per_minute)
    app.state.metrics = metrics = ApiMetrics(core)
    app.state.hub = hub = EventHub()
    app.state.pnl_history = PnlHistory(core)
    app.state.market_tape = tape = MarketTape(core.instruments)
    app.state.latency_report_path = default_report_path()
    core.orders.subscribe(hub.on_order_event)
    core.risk.subscribe(hub.on_risk_record)
    core.subscribe_book_tops(hub.on_book_top)
    core.orders.subscribe(tape.on_order_event)
    core.subscribe_book_tops(tape.on_book_top)
    core.subscribe_trades(tape.on_trade)
    core.subscribe_trades(hub.on_trade)

    for module in (auth, orders, positions, risk, strategies, feeds, market, routing, system):
        app.include_router(module.router)

    @app.middleware("http")
    async def measure(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.request_latency.labels(request.method, path).observe(time.perf_counter() - started)
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        return response

    @app.get(
        "/metrics",
        tags=["system"],
        response_class=Response,
        dependencies=[Depends(require(*READ))],
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def prometheus_metrics() -> Response:
        """Prometheus text format. Scrape it with a viewer token (bearer_token in Prometheus)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.websocket("/ws/events")
    async def events(websocket: WebSocket) -> None:
        """Live events: ``{"channel": "orders"|"risk"|"market"|"pnl", "event": {...}}``.

        Browsers cannot set headers on a WebSocket, so the token comes as the subprotocol pair
        ``["bearer", TOKEN]`` (kept out of access logs) or, for simple clients, ``?token=``.
        """
        offered = websocket.scope.get("subprotocols") or []
        subprotocol = None
        if len(offered) >= 2 and offered[0] == "bearer":
            token, subprotocol = offered[1], "bearer"
        else:
            token = websocket.query_params.get("token", "")
        try:
            principal = app.state.tokens.verify(token)
        except jwt.InvalidTokenError:
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
            return
        if principal.role not in READ:
            await websocket.close(code=status.WS_1008_POLICY_VIOLATION)
            return
        await websocket.accept(subprotocol=subprotocol)
        queue = hub.register()

        async def pump() -> None:
            while True:
                await websocket.send_json(await queue.get())

        sender = asyncio.create_task(pump())
        try:
            await websocket.send_json({"channel": "hello", "event": {"user": principal.username}})
            while True:
                await websocket.receive_text()  # client messages are keep-alives only
        except WebSocketDisconnect:
            pass
        finally:
            sender.cancel()
            hub.unregister(queue)

    mount_ui(app, ui_dir or default_ui_dir())  # last: a mount at / matches every path
    return app


async def _timer(app: FastAPI, core: TradingCore) -> None:
    """Once a second: strategy timers, then a PnL sample (stored and streamed)."""
    while True:
        await asyncio.sleep(TIMER_PERIOD_S)
        await asyncio.to_thread(_tick, app, core, time.time_ns())


def _tick(app: FastAPI, core: TradingCore, now_ns: int) -> None:
    with core.lock:
        core.strategies.on_timer(now_ns)
        core.risk.evaluate_market_data()
    point = app.state.pnl_history.sample(now_ns)
    app.state.hub.publish({"channel": "pnl", "event": vars(point)})
