"""Engine and control-plane status, and the hardware counter view."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from velocimex.control.latency_report import live_feed_latency, read_report
from velocimex.control.routers.deps import Core, Reader
from velocimex.control.schemas import HardwareCountersOut, LatencyReportOut, SystemStatusOut

from velocimex import __version__
from velocimex.book_contract import COUNTER_NAMES

router = APIRouter(prefix="/system", tags=["system"])


@router.get("/status", response_model=SystemStatusOut)
def system_status(core: Core, request: Request, _: Reader) -> SystemStatusOut:
    records = core.orders.records()
    hub = request.app.state.hub
    return SystemStatusOut(
        version=__version__,
        venue=core.risk.venue_name,
        uptime_s=(time.time_ns() - core.started_ns) / 1e9,
        trading_state=core.risk.state,
        next_venue_sequence=core.orders.next_venue_sequence,
        orders=len(records),
        open_orders=sum(1 for r in records if r.state.is_open),
        anomalies=dict(core.orders.anomalies),
        last_anomaly=core.orders.last_anomaly,
        websocket_clients=hub.clients,
        events_dropped=hub.dropped,
    )


@router.get("/hardware", response_model=HardwareCountersOut)
def hardware_counters(request: Request, _: Reader) -> HardwareCountersOut:
    """The feed engine's counter block (book_contract.COUNTER_NAMES), from the feed handler's
    latest status on the bus when `serve --feed` is used."""
    source = getattr(request.app.state, "engine_counters", None)
    reading = None if source is None else source()
    if reading is None:
        return HardwareCountersOut(
            engine="none", attached=False, counters={n: None for n in COUNTER_NAMES}
        )
    name, values = reading
    return HardwareCountersOut(
        engine=name,
        attached=True,
        counters={n: (None if values.get(n) is None else int(values[n])) for n in COUNTER_NAMES},
    )


@router.get("/latency", response_model=LatencyReportOut)
def latency(request: Request, _: Reader) -> LatencyReportOut:
    """Per-message latency quantiles of the hardware and software book engines from the latest
    `velocimex bench` report (``available: false``, with the reason, when there is none), and
    the live feed handler's software-path figures when `serve --feed` has its status."""
    source = getattr(request.app.state, "feed_status", None)
    live = live_feed_latency(None if source is None else source())
    return LatencyReportOut(**read_report(request.app.state.latency_report_path), live_feed=live)
