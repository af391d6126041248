"""Fan-out of live events (order events, risk decisions, book tops) to WebSocket clients.

Publishers run on any thread; each client has a bounded queue on the event loop. A client
that cannot keep up loses events (counted per hub) rather than slowing the trading core.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from velocimex.domain import BookTop, OrderEvent, Trade, event_to_dict


class EventHub:
    def __init__(self, queue_size: int = 1000) -> None:
        self.queue_size = queue_size
        self._clients: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[dict[str, Any]]]] = set()
        self._lock = threading.Lock()
        self.dropped = 0
        self.published = 0

    @property
    def clients(self) -> int:
        return len(self._clients)

    def register(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self.queue_size)
        with self._lock:
            self._clients.add((asyncio.get_running_loop(), queue))
        return queue

    def unregister(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        with self._lock:
            self._clients = {c for c in self._clients if c[1] is not queue}

    def publish(self, message: dict[str, Any]) -> None:
        self.published += 1
        with self._lock:
            clients = list(self._clients)
        for loop, queue in clients:
            try:
                loop.call_soon_threadsafe(self._offer, queue, message)
            except RuntimeError:  # loop closed: the client is gone
                self.unregister(queue)

    def _offer(self, queue: asyncio.Queue[dict[str, Any]], message: dict[str, Any]) -> None:
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1

    # Adapters for the core's listeners.
    def on_order_event(self, event: OrderEvent) -> None:
        payload = event_to_dict(event)
        self.publish({"channel": "orders", "event": payload})

    def on_risk_record(self, record: dict[str, Any]) -> None:
        self.publish({"channel": "risk", "event": record})

    def on_book_top(self, top: BookTop) -> None:
        self.publish({"channel": "market", "event": top.__dict__.copy()})

    def on_trade(self, trade: Trade) -> None:
        self.publish({"channel": "trades", "event": trade.__dict__.copy()})
