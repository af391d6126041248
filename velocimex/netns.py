"""Test network: namespaces and veth links built with pyroute2, torn down on exit.

Topology (three hosts; ``P`` is a per-process prefix so parallel runs do not collide)::

    exchange host (P-ex)        relay host (P-mid)                trader host (P-tr)
    Pe0 10.77.1.1/24 ---------- Pm0 10.77.1.2/24
                                Pma 10.77.2.1/24 --- line A ---- Pta 10.77.2.2/24
                                Pmb 10.77.3.1/24 --- line B ---- Ptb 10.77.3.2/24
                                Pmc 10.77.4.1/24 --- recovery -- Ptc 10.77.4.2/24

The exchange multicasts both lines out of ``Pe0``. The relay host runs :class:`UdpRelay`,
a user-space multicast forwarder that sends line A's group out of ``Pma`` and line B's out
of ``Pmb`` and can reorder, duplicate, delay and corrupt packets with a seeded generator
(this kernel has no netem). It also routes unicast (ip_forward), so the trader reaches the
exchange's retransmission server over the separate recovery link, which survives a market
data line going down. Loss is injected with nftables in the trader's prerouting hook
(:meth:`Topology.drop`), a line failure with ``ip link set ... down`` (:meth:`Topology.link`).

Everything needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN); :func:`unavailable_reason` says why
not where it is missing, for the tests to skip with.
"""

from __future__ import annotations

import ctypes
import heapq
import os
import random
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"

EXCHANGE_ADDR = "10.77.1.1"
RELAY_UPSTREAM_ADDR = "10.77.1.2"
LINE_A_RELAY, LINE_A_TRADER = "10.77.2.1", "10.77.2.2"
LINE_B_RELAY, LINE_B_TRADER = "10.77.3.1", "10.77.3.2"
RECOVERY_RELAY, RECOVERY_TRADER = "10.77.4.1", "10.77.4.2"

_libc = ctypes.CDLL(None, use_errno=True)


def unavailable_reason() -> str | None:
    """Why the namespace topology cannot be built here (None: it can)."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the {tool!r} command is not installed"
    try:
        from pyroute2 import netns
    except ImportError:
        return "pyroute2 is not installed"
    probe = f"vxprobe{os.getpid()}"
    try:
        netns.create(probe)
        netns.remove(probe)
    except Exception as exc:  # noqa: BLE001 - any failure means "not permitted here"
        return f"cannot create a network namespace: {exc}"
    return None


def enter(namespace: str) -> None:
    """Move the calling thread into ``namespace`` (network namespaces are per thread, and
    sockets keep the namespace they were created in)."""
    fd = os.open(os.path.join(NETNS_DIR, namespace), os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({namespace}): {os.strerror(err)}")
    finally:
        os.close(fd)


def start_in(namespace: str, target: Callable[[], None], name: str) -> threading.Thread:
    """Run ``target`` in a daemon thread that lives in ``namespace``."""

    def body() -> None:
        enter(namespace)
        target()

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread


@dataclass
class Topology:
    prefix: str = field(default_factory=lambda: f"vx{os.getpid() % 100000}")
    created: list[str] = field(default_factory=list)

    @property
    def exchange(self) -> str:
        return f"{self.prefix}-ex"

    @property
    def relay(self) -> str:
        return f"{self.prefix}-mid"

    @property
    def trader(self) -> str:
        return f"{self.prefix}-tr"

    def ifname(self, role: str) -> str:
        """``e0`` exchange uplink, ``m0/ma/mb/mc`` relay ports, ``ta/tb/tc`` trader ports."""
        return f"{self.prefix}{role}"

    # ----------------------------------------------------------------- build

    def __enter__(self) -> Topology:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _build(self) -> None:
        from pyroute2 import IPRoute, netns

        for ns in (self.exchange, self.relay, self.trader):
            if ns in netns.listnetns():
                netns.remove(ns)  # left over from a killed run
            netns.create(ns)
            self.created.append(ns)
        links = [
            ("e0", self.exchange, EXCHANGE_ADDR, "m0", RELAY_UPSTREAM_ADDR),
            ("ma", self.relay, LINE_A_RELAY, "ta", LINE_A_TRADER),
            ("mb", self.relay, LINE_B_RELAY, "tb", LINE_B_TRADER),
            ("mc", self.relay, RECOVERY_RELAY, "tc", RECOVERY_TRADER),
        ]
        peer_ns = {"m0": self.relay, "ta": self.trader, "tb": self.trader, "tc": self.trader}
        with IPRoute() as ipr:
            for a, a_ns, _, b, _ in links:
                ipr.link(
                    "add",
                    ifname=self.ifname(a),
                    kind="veth",
                    peer={"ifname": self.ifname(b), "net_ns_fd": peer_ns[b]},
                )
                (idx,) = ipr.link_lookup(ifname=self.ifname(a))
                ipr.link("set", index=idx, net_ns_fd=a_ns)
        for a, a_ns, a_addr, b, b_addr in links:
            self._up(a_ns, a, a_addr)
            self._up(peer_ns[b], b, b_addr)
        for ns in self.created:
            self._up(ns, None, None)
        # Unicast between the exchange and the trader's recovery port crosses the relay.
        self._route(self.exchange, "10.77.4.0/24", RELAY_UPSTREAM_ADDR)
        self._route(self.trader, "10.77.1.0/24", RECOVERY_RELAY)
        self.run(self.relay, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def _up(self, ns: str, role: str | None, address: str | None) -> None:
        from pyroute2 import NetNS

        with NetNS(ns) as nsr:
            name = "lo" if role is None else self.ifname(role)
            (idx,) = nsr.link_lookup(ifname=name)
            if address is not None:
                nsr.addr("add", index=idx, address=address, prefixlen=24)
            nsr.link("set", index=idx, state="up")

    def _route(self, ns: str, dst: str, gateway: str) -> None:
        from pyroute2 import NetNS

        with NetNS(ns) as nsr:
            nsr.route("add", dst=dst, gateway=gateway)

    def close(self) -> None:
        from pyroute2 import netns

        # Deleting a namespace deletes its veth ends, and with them their peers.
        for ns in reversed(self.created):
            try:
                netns.remove(ns)
            except OSError:
                pass
        self.created.clear()

    # ----------------------------------------------------------------- faults

    def run(self, ns: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], check=check, capture_output=True, text=True
        )

    def popen(self, ns: str, argv: list[str], **kwargs) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, *argv], **kwargs)

    def link(self, role: str, up: bool) -> None:
        """Take a trader-side port (``ta``, ``tb``, ``tc``) down or up: a line failure."""
        self.run(self.trader, "ip", "link", "set", self.ifname(role), "up" if up else "down")

    def drop(self, percent: dict[str, int]) -> None:
        """Drop ``percent[role]`` % of the UDP datagrams arriving on each trader port, at
        random (nftables ``numgen``), before the IP stack sees them; ``{}`` removes it."""
        self.run(self.trader, "nft", "delete", "table", "ip", "vxfault", check=False)
        if not percent:
            return
        rules = "".join(
            f'    iifname "{self.ifname(role)}" meta l4proto udp '
            # nft rejects "< 100" on a 0..99 range as always true: plain drop instead.
            + ("" if pct >= 100 else f"numgen random mod 100 < {pct} ")
            + "counter drop\n"
            for role, pct in percent.items()
            if pct > 0
        )
        script = (
            "table ip vxfault {\n  chain pre {\n"
            "    type filter hook prerouting priority -300; policy accept;\n"
            f"{rules}  }}\n}}\n"
        )
        done = subprocess.run(
            ["ip", "netns", "exec", self.trader, "nft", "-f", "-"],
            input=script,
            capture_output=True,
            text=True,
        )
        if done.returncode:
            raise RuntimeError(f"nft rejected the loss rules: {done.stderr.strip()}\n{script}")

    def drop_counts(self) -> dict[str, int]:
        """Packets the loss rules dropped so far, per trader port."""
        out = self.run(self.trader, "nft", "list", "table", "ip", "vxfault", check=False).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            if "iifname" in line and "packets" in line:
                role = line.split('"')[1][len(self.prefix) :]
                counts[role] = int(line.split("packets")[1].split()[0])
        return counts


@dataclass
class RelayFaults:
    """What the relay does to each datagram (probabilities per datagram)."""

    # Held back ``reorder_ms`` so that later datagrams overtake it (the exchange packs one
    # event-loop turn per packet, a few ms apart, so the hold must be longer than that).
    reorder: float = 0.0
    reorder_ms: tuple[float, float] = (5.0, 20.0)
    duplicate: float = 0.0  # sent twice
    delay_ms: float = 0.0  # added to every datagram
    malformed: float = 0.0  # an extra corrupted datagram is sent before it


@dataclass
class RelayCounters:
    received: int = 0
    forwarded: int = 0
    reordered: int = 0
    duplicated: int = 0
    malformed_sent: int = 0
    send_errors: int = 0


@dataclass(frozen=True)
class RelayLine:
    group: str
    port: int
    out_address: str  # address of the relay port this line leaves by


class UdpRelay:
    """Seeded user-space multicast forwarder for the relay host (run via :func:`start_in`).

    Faults can be changed while it runs (``relay.faults = RelayFaults(...)``); the random
    generator is seeded, so a run's sequence of decisions is reproducible.
    """

    def __init__(self, lines: list[RelayLine], upstream: str, seed: int = 1) -> None:
        self.lines = lines
        self.upstream = upstream
        self.faults = RelayFaults()
        self.counters = RelayCounters()
        self.rng = random.Random(seed)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self, namespace: str) -> None:
        self.thread = start_in(namespace, self._run, "udp-relay")
        if not self._ready.wait(5):
            raise RuntimeError("relay did not start")

    def stop(self) -> None:
        self._stop.set()
        if self.thread is not None:
            self.thread.join(5)

    def _corrupt(self, payload: bytes) -> bytes:
        kind = self.rng.randrange(4)
        if kind == 0:
            return payload[: self.rng.randrange(1, 20)]  # shorter than the header
        if kind == 1 and len(payload) > 22:
            return payload[: self.rng.randrange(21, len(payload))]  # truncated block
        if kind == 2:
            return payload + b"\x00\x07garbage"  # bytes after the announced blocks
        # One message more announced than the packet carries (a heartbeat becomes count 1).
        count = min(int.from_bytes(payload[18:20], "big") + 1, 0xFFFE)
        return payload[:18] + count.to_bytes(2, "big") + payload[20:]

    def _run(self) -> None:
        socks = []
        for ln in self.lines:
            rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            rx.bind((ln.group, ln.port))
            mreq = socket.inet_aton(ln.group) + socket.inet_aton(self.upstream)
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            tx.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ln.out_address)
            )
            # One hop: the trader host, and no further.
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
            socks.append((rx, tx, ln))
        by_fd = {rx.fileno(): (rx, tx, ln) for rx, tx, ln in socks}
        queue: list[tuple[float, int, socket.socket, RelayLine, bytes]] = []
        order = 0
        self._ready.set()
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                wait = 0.05 if not queue else max(0.0, min(0.05, queue[0][0] - now))
                readable, _, _ = select.select(list(by_fd), [], [], wait)
                now = time.monotonic()
                for fd in readable:
                    rx, tx, ln = by_fd[fd]
                    payload = rx.recv(65536)
                    self.counters.received += 1
                    f = self.faults
                    due = now + f.delay_ms / 1000
                    if self.rng.random() < f.malformed:
                        order += 1
                        heapq.heappush(queue, (due, order, tx, ln, self._corrupt(payload)))
                        self.counters.malformed_sent += 1
                    if self.rng.random() < f.reorder:
                        due += self.rng.uniform(*f.reorder_ms) / 1000
                        self.counters.reordered += 1
                    copies = 2 if self.rng.random() < f.duplicate else 1
                    self.counters.duplicated += copies - 1
                    for _ in range(copies):
                        order += 1
                        heapq.heappush(queue, (due, order, tx, ln, payload))
                while queue and queue[0][0] <= time.monotonic():
                    _, _, tx, ln, payload = heapq.heappop(queue)
                    try:
                        tx.sendto(payload, (ln.group, ln.port))
                        self.counters.forwarded += 1
                    except OSError:
                        # The line's link is down: the datagram is lost, like on a wire.
                        self.counters.send_errors += 1
        finally:
            for rx, tx, _ in socks:
                rx.close()
                tx.close()
