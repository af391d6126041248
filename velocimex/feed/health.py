"""Per-line liveness and the stale-feed alarm.

A line is "up" while some datagram (data or heartbeat: the exchange sends one after 1 s of
silence) arrived within ``stale_ns``; "stale" after that; "waiting" before its first one.
The feed as a whole is "stale" when no line is up, whatever it was before: a feed that has
gone quiet must never report itself healthy, since its book may be arbitrarily old.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WAITING, UP, STALE = "waiting", "up", "stale"


@dataclass
class LineHealth:
    name: str
    last_rx_ns: int | None = None
    packets: int = 0
    bytes: int = 0
    stale_events: int = 0
    state: str = WAITING


@dataclass
class FeedHealth:
    stale_ns: int
    lines: dict[str, LineHealth] = field(default_factory=dict)
    stale_events: int = 0
    _was_stale: bool = False

    def add_line(self, name: str) -> None:
        self.lines[name] = LineHealth(name)

    def on_rx(self, line: str, nbytes: int, now_ns: int) -> None:
        h = self.lines[line]
        h.last_rx_ns = now_ns
        h.packets += 1
        h.bytes += nbytes

    def evaluate(self, now_ns: int) -> str:
        """Refresh every line's state; returns the feed state (waiting/up/stale)."""
        for h in self.lines.values():
            if h.last_rx_ns is None:
                continue
            state = UP if now_ns - h.last_rx_ns < self.stale_ns else STALE
            if state == STALE and h.state != STALE:
                h.stale_events += 1
            h.state = state
        states = {h.state for h in self.lines.values()}
        if UP in states:
            feed = UP
        elif STALE in states:
            feed = STALE
        else:
            feed = WAITING
        if feed == STALE and not self._was_stale:
            self.stale_events += 1
        self._was_stale = feed == STALE
        return feed

    def next_deadline(self) -> int | None:
        """When the next line goes stale if nothing arrives (None: no line is up)."""
        times = [
            h.last_rx_ns + self.stale_ns
            for h in self.lines.values()
            if h.last_rx_ns is not None and h.state != STALE
        ]
        return min(times) if times else None

    def status(self, now_ns: int) -> dict:
        feed = self.evaluate(now_ns)
        return {
            "state": feed,
            "healthy": feed == UP,
            "stale_events": self.stale_events,
            "lines": {
                h.name: {
                    "state": h.state,
                    "packets": h.packets,
                    "bytes": h.bytes,
                    "stale_events": h.stale_events,
                    "idle_ms": None
                    if h.last_rx_ns is None
                    else round((now_ns - h.last_rx_ns) / 1e6, 1),
                }
                for h in self.lines.values()
            },
        }
