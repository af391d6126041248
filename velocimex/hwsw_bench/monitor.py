"""The live performance monitor: Prometheus histograms and resource gauges for each process.

Each process (feed handler, control plane, exchange simulator) owns one registry; the hooks
here are plain callables the components call with nanosecond figures, so the components do
not import prometheus_client themselves. deploy/ holds the scrape config and the dashboard.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily

# Feed and strategy figures live in microseconds; tick-to-trade crosses two processes and the
# loopback network, so the buckets reach out to a second.
LATENCY_BUCKETS_S = (
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4,
    1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 1.0,
)  # fmt: skip
# ITCH stock locate: bytes 1-2 of every message (big-endian).
_LOCATE = slice(1, 3)


def add_process_collector(registry: CollectorRegistry) -> None:
    """process_cpu_seconds_total, process_resident_memory_bytes, open fds, start time."""
    ProcessCollector(registry=registry)


def serve_metrics(registry: CollectorRegistry, port: int) -> Any:
    """Serve /metrics on loopback only (the scrape config in deploy/ targets 127.0.0.1)."""
    server, _thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    return server


class FeedMetrics:
    """Feed handler: datagram received -> its records published on the bus."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "vx_feed_latency_seconds",
            "feed handler: packet receive to book-update records published",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def observe_ns(self, latencies_ns: Iterable[int]) -> None:
        for ns in latencies_ns:
            self.latency.observe(ns * 1e-9)


class FeedCounters:
    """What the feed handler published, read from its counters at scrape time."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler

    def collect(self) -> Iterable[CounterMetricFamily]:
        yield CounterMetricFamily(
            "vx_feed_records_published",
            "feed handler: book-update records published on the bus",
            value=self.handler.records_published,
        )
        yield CounterMetricFamily(
            "vx_feed_trade_prints_published",
            "feed handler: trade prints (ITCH E, printable C, P) published on the bus",
            value=self.handler.trades_published,
        )


class StrategyMetrics:
    """Control plane: a strategy's decision, and its intents through risk to the venue."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decision = Histogram(
            "vx_strategy_latency_seconds",
            "strategy callback (book top, order event or timer) to its intents",
            ["strategy"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.order_path = Histogram(
            "vx_strategy_order_path_seconds",
            "a strategy's intents through order manager, risk checks, journal and venue send",
            ["strategy"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def observe(self, strategy_id: str, decision_ns: int, order_path_ns: int, intents: int) -> None:
        self.decision.labels(strategy_id).observe(decision_ns * 1e-9)
        if intents:
            self.order_path.labels(strategy_id).observe(order_path_ns * 1e-9)


class TickToTradeMetrics:
    """Exchange simulator: the one place that sees both ends of tick-to-trade.

    The tick is the latest market-data message the exchange published for the order's
    instrument (stamped when it is queued; it leaves in the same event-loop turn); the trade
    is the Enter Order arriving on the OUCH gateway.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.tick_to_trade = Histogram(
            "vx_exchange_tick_to_trade_seconds",
            "exchange: last market data for the instrument published -> OUCH order received",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self._last_tick_ns: dict[int, int] = {}

    def on_market_data(self, message: bytes) -> None:
        self._last_tick_ns[int.from_bytes(message[_LOCATE], "big")] = time.monotonic_ns()

    def on_order(self, locate: int | None) -> None:
        tick = self._last_tick_ns.get(locate) if locate is not None else None
        if tick is not None:
            self.tick_to_trade.observe((time.monotonic_ns() - tick) * 1e-9)


def feed_monitor(handler: Any, port: int | None) -> CollectorRegistry:
    """Attach the feed metrics to a FeedHandler; serve them on 127.0.0.1:port if given."""
    registry = CollectorRegistry()
    add_process_collector(registry)
    metrics = FeedMetrics(registry)
    handler.latency_hook = metrics.observe_ns
    registry.register(FeedCounters(handler))
    if port is not None:
        serve_metrics(registry, port)
    return registry


def exchange_monitor(venue: Any, port: int | None) -> CollectorRegistry:
    """Attach tick-to-trade to a running exchange simulator; serve on 127.0.0.1:port if given."""
    registry = CollectorRegistry()
    add_process_collector(registry)
    metrics = TickToTradeMetrics(registry)
    venue.market_data.publish_hook = metrics.on_market_data
    venue.gateway.order_hook = metrics.on_order
    if port is not None:
        serve_metrics(registry, port)
    return registry
