"""Prometheus metrics of one control-plane instance (its own registry, so tests can build many)."""

from __future__ import annotations

from collections import Counter

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from velocimex.control.core import TradingCore

from velocimex.domain import TradingState
from velocimex.hwsw_bench.monitor import StrategyMetrics, add_process_collector

_LATENCY_BUCKETS = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
)  # fmt: skip


class CoreCollector(Collector):
    """Reads the trading core at scrape time, so the numbers are never stale copies."""

    def __init__(self, core: TradingCore) -> None:
        self.core = core

    def collect(self):  # type: ignore[no-untyped-def]
        risk, orders = self.core.risk, self.core.orders
        state = GaugeMetricFamily(
            "vx_risk_trading_state", "1 for the current trading state", labels=["state"]
        )
        for s in TradingState:
            state.add_metric([str(s)], 1.0 if risk.state is s else 0.0)
        yield state
        yield GaugeMetricFamily(
            "vx_risk_kill_switch", "kill switch engaged", value=risk.kill_switch
        )
        breakers = GaugeMetricFamily("vx_risk_breaker_tripped", "breaker", labels=["breaker"])
        for name, status in risk.breakers.items():
            breakers.add_metric([name], float(status.tripped))
        yield breakers
        checks = CounterMetricFamily(
            "vx_risk_checks", "pre-trade checks by result", labels=["result"]
        )
        checks.add_metric(["approved"], risk.counters.approved)
        checks.add_metric(["rejected"], risk.counters.rejected)
        yield checks
        reasons = CounterMetricFamily(
            "vx_risk_rejects", "pre-trade rejects by check", labels=["check"]
        )
        for reason, n in risk.counters.reject_reasons.items():
            reasons.add_metric([reason], n)
        yield reasons
        yield CounterMetricFamily(
            "vx_risk_cancels_sent", "cancels sent to the venue", value=risk.counters.cancels_sent
        )
        records = orders.records()
        yield GaugeMetricFamily(
            "vx_orders_open", "open orders", value=sum(1 for r in records if r.state.is_open)
        )
        anomalies = CounterMetricFamily(
            "vx_order_anomalies", "venue reports dropped", labels=["kind"]
        )
        for kind, n in orders.anomalies.items():
            anomalies.add_metric([kind], n)
        yield anomalies
        positions = GaugeMetricFamily("vx_position_shares", "net position", labels=["symbol"])
        for symbol, pos in orders.positions().items():
            positions.add_metric([symbol], pos.quantity)
        yield positions
        realised, unrealised = risk.pnl()
        pnl = GaugeMetricFamily("vx_pnl_usd", "account PnL", labels=["kind"])
        pnl.add_metric(["realised"], float(realised) / 10_000)
        pnl.add_metric(["unrealised"], float(unrealised) / 10_000)
        yield pnl
        yield CounterMetricFamily(
            "vx_book_tops", "book tops received", value=self.core.book_tops_received
        )
        router = self.core.router
        if router is not None:
            events = CounterMetricFamily(
                "vx_routing_events", "smart order router events", labels=["event"]
            )
            for event, n in sorted(router.counters.items()):
                events.add_metric([event], n)
            yield events
            parents = GaugeMetricFamily(
                "vx_routing_parents", "parent orders by state", labels=["state"]
            )
            by_state = Counter(str(p.state) for p in list(router.parents.values()))
            for state, n in sorted(by_state.items()):
                parents.add_metric([state], n)
            yield parents
            usable = GaugeMetricFamily(
                "vx_routing_venue_usable",
                "1 when the router may route on this venue's top of the symbol",
                labels=["venue", "symbol"],
            )
            for venue in router.venue_names:
                for symbol in self.core.instruments:
                    ok = router.quote_problem(venue, symbol) is None
                    usable.add_metric([venue, symbol], 1 if ok else 0)
            yield usable


class ApiMetrics:
    def __init__(self, core: TradingCore) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "vx_http_request_seconds",
            "control API request latency",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.requests = PromCounter(
            "vx_http_requests",
            "control API requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.order_submit_latency = Histogram(
            "vx_order_submit_seconds",
            "order manager submit (risk checks, journal, venue send) latency",
            buckets=(0.00001, 0.000025, 0.00005, 0.0001) + _LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(CoreCollector(core))
        add_process_collector(self.registry)
        self.strategy = StrategyMetrics(self.registry)
        core.strategies.latency_hook = self.strategy.observe
