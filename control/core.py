"""Assembly of the trading core: journal, order manager, risk manager and one venue session.

This is the one place that holds the venue session, and it hands it straight to the risk
manager; everything else (API, strategies) gets the order manager and the risk manager only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path

from velocimex.control.journal import Journal
from velocimex.control.order_manager import OrderManager
from velocimex.control.risk import RiskLimits, RiskManager
from velocimex.control.venue import Venue

from velocimex.domain import Instrument


class TradingCore:
    def __init__(
        self,
        data_dir: str | Path,
        instruments: Iterable[Instrument],
        venue: Venue,
        limits: RiskLimits | None = None,
        *,
        fsync: bool = True,
        clock_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        data_dir = Path(data_dir)
        self.instruments = {i.symbol: i for i in instruments}
        self.journal = Journal(data_dir / "orders.jsonl", fsync=fsync)
        self.audit = Journal(data_dir / "audit.jsonl", fsync=fsync)
        self.risk = RiskManager(
            venue, self.audit, self.instruments.values(), limits, clock_ns=clock_ns
        )
        self.orders = OrderManager(self.journal, self.risk)
        self.risk.attach_order_book(self.orders, self.orders.cancel_all)
        self.orders.subscribe(self.risk.on_order_event)
        venue.set_report_handler(self.orders.on_venue_report)
        # Resume the venue's sequenced stream right after the last report we journaled, so
        # fills that happened while we were down are applied exactly once.
        self.risk.connect_venue(self.orders.next_venue_sequence)

    def close(self) -> None:
        self.journal.close()
        self.audit.close()
