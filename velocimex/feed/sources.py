"""Packet sources behind one interface: kernel UDP multicast, pcap replay, AF_PACKET ring.

Every source yields :class:`Datagram` ``(receive_ns, payload, line)`` in batches from
``read(now_ns)``, never blocking; ``fds()`` are the descriptors the caller waits on (none
for a pcap, which is ready whenever ``next_deadline`` says) and ``exhausted`` says a finite
source has nothing more. ``receive_ns`` is ``time.monotonic_ns()`` at receipt for live
sources and the capture time for pcap replay at maximum speed.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from velocimex.wire.pcap import PcapReader

MAX_DATAGRAM = 65536


class Datagram(NamedTuple):
    receive_ns: int
    payload: bytes
    line: str


@dataclass(frozen=True)
class LineAddress:
    name: str
    group: str
    port: int
    # Address of the interface to join on, when the lines arrive on different interfaces.
    interface: str | None = None


class PacketSource(Protocol):
    lines: tuple[str, ...]
    exhausted: bool

    def fds(self) -> list[int]: ...

    def read(self, now_ns: int) -> list[Datagram]: ...

    def next_deadline(self) -> int | None: ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...


def iter_datagrams(source: PacketSource, idle_timeout: float | None = None) -> Iterator[Datagram]:
    """The source as a plain iterator of ``(receive_ns, payload, line)``, waiting on its
    descriptors (or its pcap schedule) between batches. Ends when a finite source is
    exhausted, or after ``idle_timeout`` seconds without a datagram."""
    last = time.monotonic()
    while not source.exhausted:
        batch = source.read(time.monotonic_ns())
        if batch:
            last = time.monotonic()
            yield from batch
            continue
        if idle_timeout is not None and time.monotonic() - last >= idle_timeout:
            return
        wait = 0.05
        deadline = source.next_deadline()
        if deadline is not None:
            wait = min(wait, max(0.0, (deadline - time.monotonic_ns()) / 1e9))
        if source.fds():
            select.select(source.fds(), [], [], wait)
        else:
            time.sleep(wait)


class SourceUnavailable(RuntimeError):
    """The source cannot run here (permissions, platform); the message says why."""


def join_multicast(line: LineAddress, interface: str, rcvbuf: int = 8 << 20) -> socket.socket:
    """Non-blocking UDP socket bound to the group and port, joined on ``interface``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    # Binding the group (not INADDR_ANY) keeps line A's socket from seeing line B's group
    # when both use the same port.
    sock.bind((line.group, line.port))
    mreq = socket.inet_aton(line.group) + socket.inet_aton(interface)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setblocking(False)
    return sock


class UdpMulticastSource:
    """Kernel UDP: one joined socket per line, drained by ``recv_into`` in a loop (Python
    has no recvmmsg; one wake-up still takes up to ``batch`` datagrams per socket). The
    batch is small on purpose: everything read in one wake-up is published together, so
    a large batch adds its whole processing time to the first datagram's latency."""

    def __init__(
        self, lines: list[LineAddress], interface: str = "127.0.0.1", batch: int = 32
    ) -> None:
        self.lines = tuple(ln.name for ln in lines)
        self.exhausted = False
        self.batch = batch
        self._socks: list[tuple[socket.socket, str]] = []
        try:
            for ln in lines:
                self._socks.append((join_multicast(ln, ln.interface or interface), ln.name))
        except OSError:
            self.close()
            raise
        self._buf = bytearray(MAX_DATAGRAM)
        self._view = memoryview(self._buf)
        self.receive_errors = 0

    def fds(self) -> list[int]:
        return [s.fileno() for s, _ in self._socks]

    def read(self, now_ns: int) -> list[Datagram]:
        out: list[Datagram] = []
        view = self._view
        for sock, name in self._socks:
            for _ in range(self.batch):
                try:
                    n = sock.recv_into(self._buf)
                except BlockingIOError:
                    break
                except OSError:
                    # e.g. ECONNREFUSED/ENETDOWN reported on the socket: counted, not fatal.
                    self.receive_errors += 1
                    break
                out.append(Datagram(time.monotonic_ns(), bytes(view[:n]), name))
        return out

    def next_deadline(self) -> int | None:
        return None

    def counters(self) -> dict[str, int]:
        return {"receive_errors": self.receive_errors}

    def close(self) -> None:
        for sock, _ in self._socks:
            sock.close()
        self._socks = []


class PcapSource:
    """Replays the UDP datagrams of a pcap. ``speed="recorded"`` releases each datagram
    when as much time has passed since the first as the capture shows; ``"max"`` as fast as
    the caller reads. Datagrams to a line's group and port (or only port, when the lines'
    ports differ) are that line's; others go to the first line (a single-line capture),
    unless ``strict`` drops them."""

    def __init__(
        self,
        path: str,
        lines: list[LineAddress],
        speed: str = "max",
        batch: int = 256,
        strict: bool = False,
    ) -> None:
        if speed not in ("max", "recorded"):
            raise ValueError(f"speed must be 'max' or 'recorded', got {speed!r}")
        self.lines = tuple(ln.name for ln in lines)
        self._by_dst = {(ln.group, ln.port): ln.name for ln in lines}
        # A capture rewritten to other addresses still maps by port, if ports are unique.
        ports = [ln.port for ln in lines]
        self._by_port = {ln.port: ln.name for ln in lines if ports.count(ln.port) == 1}
        self.speed = speed
        self.batch = batch
        self.strict = strict
        self.exhausted = False
        self.other_port_datagrams = 0
        self._reader = PcapReader(path)
        self._it: Iterator = iter(self._reader)
        self._pending = None
        self._t0_capture: int | None = None
        self._t0_wall: int | None = None

    def fds(self) -> list[int]:
        return []

    def _due(self, capture_ns: int, now_ns: int) -> int:
        if self._t0_capture is None or self._t0_wall is None:
            self._t0_capture, self._t0_wall = capture_ns, now_ns
        return self._t0_wall + (capture_ns - self._t0_capture)

    def read(self, now_ns: int) -> list[Datagram]:
        out: list[Datagram] = []
        while len(out) < self.batch:
            if self._pending is None:
                self._pending = next(self._it, None)
                if self._pending is None:
                    self.exhausted = True
                    break
            d = self._pending
            if self.speed == "recorded":
                due = self._due(d.ts_ns, now_ns)
                if due > now_ns:
                    break
                stamp = due
            else:
                stamp = d.ts_ns
            self._pending = None
            line = self._by_dst.get((d.dst, d.dport)) or self._by_port.get(d.dport)
            if line is None:
                self.other_port_datagrams += 1
                if self.strict:
                    continue
                line = self.lines[0]
            out.append(Datagram(stamp, d.payload, line))
        return out

    def counters(self) -> dict[str, int]:
        r = self._reader
        return {
            "pcap_records": r.records,
            "other_port_datagrams": self.other_port_datagrams,
            "skipped_non_udp": r.skipped_non_udp,
            "skipped_fragments": r.skipped_fragments,
            "skipped_truncated": r.skipped_truncated,
            "skipped_malformed": r.skipped_malformed,
        }

    def next_deadline(self) -> int | None:
        if self.exhausted:
            return None
        if self.speed == "max" or self._pending is None:
            return 0
        return self._due(self._pending.ts_ns, time.monotonic_ns())

    def close(self) -> None:
        self.exhausted = True
