"""A strategy in its own process: market data (book tops and trade prints) from the pyzmq bus,
orders through the control API (so through the risk manager), its own order events from the
API's WebSocket.

It can run on another host than the control plane. The strategy class is the same one the
in-process host and the backtest run; only where its inputs come from and where its intents go
change. ``velocimex strategy-run KIND --params JSON --feed ENDPOINT --api URL --user U``.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from velocimex.control.feed_bridge import BookTopSubscriber
from velocimex.control.strategy import (
    CancelOrder,
    Intent,
    PlaceOrder,
    StrategyContext,
    WorkingOrder,
    load_strategy_class,
)
from websockets.sync.client import connect as ws_connect

from velocimex.domain import BookTop, Instrument, Side, Trade, event_from_dict

_TERMINAL = {"filled", "cancelled", "rejected", "expired"}


class ApiError(RuntimeError):
    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class ControlApi:
    """The few calls a strategy process needs, over plain HTTP (stdlib only)."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token = self._call(
            "POST", "/auth/token", {"username": username, "password": password}
        )["access_token"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("content-type", "application/json")
        token = getattr(self, "token", None)
        if token:
            request.add_header("authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300]
            raise ApiError(f"{method} {path}: {exc.code} {detail!r}", exc.code) from None

    def instruments(self) -> dict[str, Instrument]:
        feeds = self._call("GET", "/feeds")
        return {i["symbol"]: Instrument(i["symbol"], i["locate"]) for i in feeds["instruments"]}

    def submit(self, strategy_id: str, intent: PlaceOrder) -> dict[str, Any]:
        return self._call(
            "POST",
            "/orders",
            {
                "symbol": intent.symbol,
                "side": str(intent.side),
                "quantity": intent.quantity,
                "order_type": str(intent.order_type),
                "price": intent.price,
                "strategy_id": strategy_id,
            },
        )

    def cancel(self, client_order_id: str) -> dict[str, Any]:
        return self._call("DELETE", f"/orders/{urllib.parse.quote(client_order_id)}")

    def events_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws/events"


class StrategyProcess:
    def __init__(
        self, api: ControlApi, kind: str, params: dict[str, Any], strategy_id: str, feed: str
    ) -> None:
        cls = load_strategy_class(kind)
        self.strategy = cls(strategy_id, cls.Params(**params))
        self.strategy_id = strategy_id
        self.api = api
        self.instruments = api.instruments()
        self._by_locate = {i.locate: s for s, i in self.instruments.items()}
        self.positions: dict[str, int] = {}
        self.working: dict[str, WorkingOrder] = {}
        # Cumulative filled shares per own order: the API's answer and the event stream both
        # report fills, and whichever comes second must not count them again.
        self._filled: dict[str, int] = {}
        self._side: dict[str, tuple[str, Side]] = {}
        self.errors: list[str] = []
        self.intents = 0
        self.late_cancels = 0
        self._lock = threading.RLock()
        self._stop = threading.Event()
        locates = {s: i.locate for s, i in self.instruments.items()}
        self.trades_received = 0
        self._subscriber = BookTopSubscriber(feed, self.on_book_top, locates, self.on_trade)
        self._events: threading.Thread | None = None
        self._events_ready = threading.Event()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        # Events first, so no report of our own orders is missed.
        self._events = threading.Thread(
            target=self._read_events, name="strategy-events", daemon=True
        )
        self._events.start()
        if not self._events_ready.wait(10):
            raise ApiError("event stream did not open")
        self._subscriber.start()

    def stop(self) -> None:
        self._stop.set()
        self._subscriber.stop()
        if self._events is not None:
            self._events.join(5)

    # ------------------------------------------------------------------ inputs
    def context(self) -> StrategyContext:
        return StrategyContext(
            time.time_ns(), dict(self.positions), list(self.working.values()), self.instruments
        )

    def on_book_top(self, top: BookTop) -> None:
        symbol = self._by_locate.get(top.locate)
        if symbol is None:
            return
        with self._lock:
            self._execute(self.strategy.on_book_top(symbol, top, self.context()))

    def on_trade(self, trade: Trade) -> None:
        if trade.symbol not in self.instruments:
            return
        with self._lock:
            self.trades_received += 1
            self._execute(self.strategy.on_trade(trade.symbol, trade, self.context()))

    def _read_events(self) -> None:
        subprotocols = ["bearer", self.api.token]
        with ws_connect(self.api.events_url(), subprotocols=subprotocols) as ws:  # type: ignore[arg-type]
            self._events_ready.set()
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.2)
                except TimeoutError:
                    continue
                message = json.loads(raw)
                if message.get("channel") == "orders":
                    self._on_order_message(message["event"])

    def _on_order_message(self, payload: dict[str, Any]) -> None:
        with self._lock:
            cid = payload.get("client_order_id", "")
            if cid not in self._side:
                return
            event = event_from_dict(payload)
            cumulative = getattr(event, "filled_quantity", None)
            if event.kind in ("partially_filled", "filled") and cumulative is not None:
                self._record_fills(cid, cumulative)
                w = self.working.get(cid)
                if w is not None:
                    leaves = getattr(event, "leaves_quantity", 0)
                    self.working[cid] = WorkingOrder(
                        cid, w.symbol, w.side, w.price, leaves, w.cancel_pending
                    )
            if event.kind in _TERMINAL:
                self.working.pop(cid, None)
            self._execute(self.strategy.on_order_event(event, self.context()))

    def _record_fills(self, cid: str, cumulative: int) -> None:
        delta = cumulative - self._filled.get(cid, 0)
        if delta > 0:
            symbol, side = self._side[cid]
            self.positions[symbol] = self.positions.get(symbol, 0) + side.sign * delta
            self._filled[cid] = cumulative

    def _execute(self, intents: list[Intent]) -> None:
        for intent in intents:
            self.intents += 1
            try:
                if isinstance(intent, PlaceOrder):
                    self._place(intent)
                elif isinstance(intent, CancelOrder) and intent.client_order_id in self.working:
                    w = self.working[intent.client_order_id]
                    self.working[w.client_order_id] = WorkingOrder(
                        w.client_order_id, w.symbol, w.side, w.price, w.leaves_quantity, True
                    )
                    try:
                        self.api.cancel(intent.client_order_id)
                    except ApiError as exc:
                        if exc.status != 409:
                            raise
                        # It filled or died while we decided: its final event is on the way.
                        self.late_cancels += 1
            except ApiError as exc:
                self.errors.append(str(exc))

    def _place(self, intent: PlaceOrder) -> None:
        order = self.api.submit(self.strategy_id, intent)
        cid = order["client_order_id"]
        self._side[cid] = (intent.symbol, intent.side)
        # Fills that happened before the answer (a marketable order) count from the answer.
        self._record_fills(cid, order["filled_quantity"])
        if order["state"] == "rejected":
            self.errors.append(order["reason"])
        if order["state"] not in _TERMINAL:
            self.working[cid] = WorkingOrder(
                cid, intent.symbol, intent.side, order["price"], order["leaves_quantity"],
                order["state"] == "cancel_pending",
            )  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "strategy-run",
        help="run one strategy in this process against a control plane and a market-data bus",
        description="Run a strategy outside the control plane: book tops and trade prints "
        "from a pyzmq bus endpoint, orders through the control API (risk-checked), own order "
        "events from its WebSocket. Stops on Ctrl-C.",
    )
    p.add_argument("kind", help="built-in strategy name or module:Class")
    p.add_argument("--params", default="{}", help="strategy parameters as JSON")
    p.add_argument("--id", default=None, help="strategy id on the orders (default: the kind)")
    p.add_argument(
        "--feed", required=True, help="pyzmq endpoint of book-update records and trade prints"
    )
    p.add_argument("--api", default="http://127.0.0.1:8000", help="control plane base URL")
    p.add_argument("--user", default="trader", help="control plane user (role trader or admin)")
    p.add_argument(
        "--password",
        default=os.environ.get("VELOCIMEX_PASSWORD", ""),
        help="password (default $VELOCIMEX_PASSWORD)",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    api = ControlApi(args.api, args.user, args.password)
    process = StrategyProcess(
        api, args.kind, json.loads(args.params), args.id or args.kind.split(":")[-1], args.feed
    )
    process.start()
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        process.stop()
    return 0
