"""The feed handler loop: source -> arbiter (A/B, recovery) -> book engine -> bus.

One thread, one ``zmq.Poller`` over the line sockets, the retransmission socket and the
snapshot socket, with a timeout set by the earliest timer (gap grace/back-off, stale alarm,
status tick, pcap release time). Messages delivered by one wake-up go to the engine in one
call, so the engine's per-call cost is spread over a whole receive batch.
"""

from __future__ import annotations

import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import zmq

from velocimex.feed.arbiter import Arbiter, ArbiterConfig, Delivery
from velocimex.feed.bus import MarketDataBus, TopOfBook, topic, trade_topic
from velocimex.feed.engines import StreamingEngine
from velocimex.feed.health import STALE, UP, FeedHealth
from velocimex.feed.sources import PacketSource
from velocimex.feed.trades import TradeTap

STATUS_INTERVAL_NS = 1_000_000_000
MAX_WAIT_NS = 100_000_000


@dataclass
class FeedConfig:
    retrans: tuple[str, int] | None = ("127.0.0.1", 26402)
    stale_ms: float = 2500.0
    arbiter: ArbiterConfig = ArbiterConfig()
    status_interval_ns: int = STATUS_INTERVAL_NS
    # Latency is only meaningful when the source stamps with time.monotonic_ns().
    measure_latency: bool = True


class FeedHandler:
    def __init__(
        self,
        source: PacketSource,
        make_engine,
        bus: MarketDataBus,
        config: FeedConfig | None = None,
        symbols: list[str] | None = None,
    ) -> None:
        self.config = config or FeedConfig()
        # Trade prints of the same delivered blocks, for the same symbols as the engine.
        self.symbols = symbols
        self.source = source
        self.make_engine = make_engine
        self.engine: StreamingEngine = make_engine()
        self.trades = self._new_tap()
        self.bus = bus
        self.arbiter = Arbiter(self.config.arbiter)
        self.health = FeedHealth(int(self.config.stale_ms * 1e6))
        for line in source.lines:
            self.health.add_line(line)
        self.top = TopOfBook(self.engine.capacity.locates)
        self._topics: dict[int, bytes] = {}
        self._trade_topics: dict[int, bytes] = {}
        self._blocks: list[bytes] = []
        self._seqs: list[int] = []
        self._rx_ns: list[int] = []
        self.latency_ns: deque[int] = deque(maxlen=100_000)
        # Optional observer of each flush's receive -> publish latencies (the live monitor).
        self.latency_hook: Callable[[list[int]], None] | None = None
        self.records_published = 0
        self.trades_published = 0
        self.trades_unnamed = 0  # prints of a locate no directory message has named: dropped
        # Prints from earlier sessions: a new session starts a new tap and its counters.
        self._trades_before = 0
        self.engine_errors = 0
        self.last_engine_error: str | None = None
        self.retrans_send_errors = 0
        self.started_ns = time.monotonic_ns()
        self._retrans_sock: socket.socket | None = None
        if self.config.retrans is not None:
            self._retrans_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._retrans_sock.setblocking(False)
            self._retrans_buf = bytearray(65536)

    # ----------------------------------------------------------------- delivery

    def _take(self, delivery: Delivery, rx_ns: int) -> None:
        if delivery.new_session is not None:
            self._flush()
            self._close_engine()
            self.engine = self.make_engine()
            self._trades_before += self.trades.prints
            self.trades = self._new_tap()
            self.top.clear()
            self._topics.clear()
            self._trade_topics.clear()
        if delivery.seqs:
            self._blocks.append(delivery.blocks)
            self._seqs.extend(delivery.seqs)
            self._rx_ns.append(rx_ns)

    def _new_tap(self) -> TradeTap:
        # The engine's order table prices the E prints when the engine exports it (sw);
        # otherwise (the hardware model) the tap keeps its own index of the orders.
        return TradeTap(self.symbols, priced_by_engine=hasattr(self.engine, "executions"))

    def _flush(self) -> None:
        if not self._seqs:
            return
        data = b"".join(self._blocks)
        seqs = np.fromiter(self._seqs, dtype=np.uint64, count=len(self._seqs))
        self._blocks.clear()
        self._seqs.clear()
        try:
            records = self.engine.process(data, seqs)
        except (ValueError, RuntimeError) as exc:
            # Framing was checked by the MoldUDP64 parser, so this is an engine defect (or
            # the hardware model died): counted and reported, the feed keeps running.
            self.engine_errors += 1
            self.last_engine_error = str(exc)
            self._rx_ns.clear()
            return
        prints = self.trades.process_view(
            data, seqs, self.engine.executions() if self.trades.priced_by_engine else None
        )
        self.top.last_seq = int(seqs[-1])
        if len(records):
            self.top.update(records)
            topics = []
            for loc in records["locate"].tolist():
                t = self._topics.get(loc)
                if t is None:
                    name = self.engine.symbol(loc)
                    self.top.symbols[loc] = name
                    t = topic(name)
                    if name:
                        # Unnamed (no directory message yet): ask again next time.
                        self._topics[loc] = t
                topics.append(t)
            if len(prints):
                self._publish_with_prints(records, topics, prints)
            else:
                self.bus.publish(records, topics)
            self.records_published += len(records)
        elif len(prints):
            self._publish_with_prints(records, [], prints)
        if self.config.measure_latency and self._rx_ns:
            done = time.monotonic_ns()
            latencies = [done - t for t in self._rx_ns]
            self.latency_ns.extend(latencies)
            if self.latency_hook is not None:
                self.latency_hook(latencies)
        self._rx_ns.clear()

    def _publish_with_prints(
        self, records: np.ndarray, topics: list[bytes], prints: np.ndarray
    ) -> None:
        """Records and prints in sequence order; a message's print goes before the book
        update it causes, as the trade happened before the order left the book."""
        print_topics: list[bytes] = []
        keep = []
        for i, loc in enumerate(prints["locate"].tolist()):
            t = self._trade_topics.get(loc)
            if t is None:
                name = self.engine.symbol(loc)
                if not name:
                    self.trades_unnamed += 1  # no symbol to publish it under
                    continue
                t = self._trade_topics[loc] = trade_topic(name)
            print_topics.append(t)
            keep.append(i)
        if len(keep) != len(prints):
            prints = prints[keep]
        order = np.argsort(
            np.concatenate((prints["seq"] * 2, records["seq"] * 2 + 1)), kind="stable"
        )
        self.bus.publish_mixed(records, topics, prints, print_topics, order.tolist())
        self.trades_published += len(prints)

    # ----------------------------------------------------------------- status

    def status(self, now_ns: int | None = None) -> dict:
        now_ns = time.monotonic_ns() if now_ns is None else now_ns
        health = self.health.status(now_ns)
        arb = self.arbiter.status()
        lat = np.fromiter(self.latency_ns, dtype=np.int64) if self.latency_ns else None
        state = health["state"]
        if state == UP and self.arbiter.gap_open:
            state = "recovering"
        return {
            "state": state,
            "healthy": health["healthy"],
            "connected": health["healthy"],
            "uptime_s": round((now_ns - self.started_ns) / 1e9, 3),
            **arb,
            "lines": health["lines"],
            "stale_events": health["stale_events"],
            "records_published": self.records_published,
            "trades_published": self.trades_published,
            "trades_unnamed": self.trades_unnamed,
            "trade_prints": {
                **self.trades.counters(),
                "trade_prints": self._trades_before + self.trades.prints,
            },
            "snapshot_requests": self.bus.snapshot_requests,
            "engine_errors": self.engine_errors,
            "last_engine_error": self.last_engine_error,
            "retrans_send_errors": self.retrans_send_errors,
            "engine": self.engine.counters(),
            "source": self.source.counters(),
            "latency_us": None
            if lat is None
            else {
                "samples": len(lat),
                "p50": round(float(np.percentile(lat, 50)) / 1e3, 1),
                "p99": round(float(np.percentile(lat, 99)) / 1e3, 1),
                "max": round(float(lat.max()) / 1e3, 1),
            },
        }

    # ----------------------------------------------------------------- loop

    def _send_request(self, now_ns: int) -> None:
        while True:
            request, delivery = self.arbiter.poll(now_ns)
            self._take(delivery, now_ns)
            if request is None:
                return
            if self._retrans_sock is not None and self.config.retrans is not None:
                try:
                    self._retrans_sock.sendto(request.encode(), self.config.retrans)
                except OSError:
                    # Unreachable server: the back-off retries, then the gap is given up.
                    self.retrans_send_errors += 1
            return

    def _read_retrans(self, now_ns: int) -> None:
        sock = self._retrans_sock
        if sock is None:
            return
        while True:
            try:
                n = sock.recv_into(self._retrans_buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # ICMP port unreachable from a restarting server lands here.
                self.retrans_send_errors += 1
                return
            self._take(self.arbiter.on_retransmission(self._retrans_buf[:n], now_ns), now_ns)

    def run(self, stop: threading.Event | None = None, duration: float | None = None) -> dict:
        """Run until ``stop`` is set, ``duration`` seconds passed or a finite source ends;
        returns the final status."""
        poller = zmq.Poller()
        for fd in self.source.fds():
            poller.register(fd, zmq.POLLIN)
        if self._retrans_sock is not None:
            poller.register(self._retrans_sock.fileno(), zmq.POLLIN)
        rep = self.bus.rep
        if rep is not None:
            poller.register(rep, zmq.POLLIN)
        end_ns = None if duration is None else time.monotonic_ns() + int(duration * 1e9)
        next_status = time.monotonic_ns() + self.config.status_interval_ns
        while not (stop is not None and stop.is_set()):
            now = time.monotonic_ns()
            deadlines = [next_status, now + MAX_WAIT_NS]
            for d in (
                self.arbiter.next_deadline(),
                self.health.next_deadline(),
                self.source.next_deadline(),
                end_ns,
            ):
                if d is not None:
                    deadlines.append(d)
            wait_ms = max(0, (min(deadlines) - now) // 1_000_000)
            ready = dict(poller.poll(wait_ms))
            now = time.monotonic_ns()
            for d in self.source.read(now):
                self.health.on_rx(d.line, len(d.payload), now)
                self._take(self.arbiter.on_packet(d.payload, d.line, now), d.receive_ns)
            self._read_retrans(now)
            self._send_request(now)
            self._flush()
            if rep is not None and rep in ready:
                self.bus.serve_snapshot(self.top, self.arbiter.status()["session"], self.status())
            if now >= next_status:
                self.health.evaluate(now)
                self.bus.publish_status(self.status(now))
                next_status = now + self.config.status_interval_ns
            if end_ns is not None and now >= end_ns:
                break
            if self.source.exhausted:
                self._take(self.arbiter.finish(), now)
                self._flush()
                break
        final = self.status()
        self.bus.publish_status(final)
        return final

    def _close_engine(self) -> None:
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()

    def close(self) -> None:
        self._close_engine()
        self.source.close()
        if self._retrans_sock is not None:
            self._retrans_sock.close()
        self.bus.close()


__all__ = ["STALE", "FeedConfig", "FeedHandler"]
