"""Account PnL sampled once a second, kept for a bounded window (the UI's PnL chart)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from velocimex.control.core import TradingCore


@dataclass(frozen=True)
class PnlSample:
    ts_ns: int
    realised_usd: float
    unrealised_usd: float


class PnlHistory:
    def __init__(self, core: TradingCore, capacity: int = 24 * 3600) -> None:
        self.core = core
        self._samples: deque[PnlSample] = deque(maxlen=capacity)
        self._lock = threading.Lock()

    def sample(self, now_ns: int | None = None) -> PnlSample:
        with self.core.lock:
            realised, unrealised = self.core.risk.pnl()
        point = PnlSample(
            now_ns or time.time_ns(), float(realised) / 10_000, float(unrealised) / 10_000
        )
        with self._lock:
            self._samples.append(point)
        return point

    def since(self, ts_ns: int = 0, limit: int = 3600) -> list[PnlSample]:
        with self._lock:
            points = [p for p in self._samples if p.ts_ns > ts_ns]
        return points[-limit:]
