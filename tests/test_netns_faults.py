"""Fault tests on a real (namespaced) network: exchange host -> relay host -> trader host.

The real exchange (``velocimex.exchange.server.Venue``) runs in the exchange namespace, the
real feed handler (``velocimex feed`` as a process) in the trader namespace; the relay host
forwards both multicast lines and injects reordering, duplication and corrupt datagrams;
nftables in the trader drops packets; ``ip link`` takes a line down. After each fault the
test stops the exchange's order flow, waits for the feed to deliver the exchange's last
sequence number, and proves: the snapshot the feed serves equals the exchange's own book
for every symbol, no message was lost (every sequence number delivered once, in order:
the engine saw no gap and no duplicate), and the counters show what the fault did.
Topology: ``velocimex/netns.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from velocimex import book_contract as bc
from velocimex import netns
from velocimex.exchange.marketdata import LineConfig

REASON = netns.unavailable_reason()
pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(REASON is not None, reason=f"netns fault tests skipped: {REASON}"),
    pytest.mark.timeout(240),
]

SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "TSLA")
LINE_A = LineConfig("239.77.1.1", 27400)
LINE_B = LineConfig("239.77.1.2", 27401)
RETRANS_PORT = 27402
STALE_MS = 1200
VELOCIMEX = str(Path(sys.executable).with_name("velocimex"))


class ExchangeHost:
    """The venue on an asyncio loop in a thread inside the exchange namespace."""

    def __init__(self, topo: netns.Topology) -> None:
        self.loop = asyncio.new_event_loop()
        netns.start_in(topo.exchange, self.loop.run_forever, "exchange-host")
        self.venue = None

    def _call(self, coro_fn, timeout: float = 15.0):
        async def wrapper():
            return await coro_fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result(timeout)

    def start(self, session: str, seed: int, rate: float = 400.0) -> None:
        from velocimex.exchange.server import Venue, VenueConfig

        config = VenueConfig(
            symbols=SYMBOLS,
            seed=seed,
            rate=rate,
            interface=netns.EXCHANGE_ADDR,
            lines=(LINE_A, LINE_B),
            retrans_host=netns.EXCHANGE_ADDR,
            retrans_port=RETRANS_PORT,
            ouch_host=netns.EXCHANGE_ADDR,
            ouch_port=0,
            session=session,
            heartbeat_interval=0.25,
        )

        async def go():
            venue = Venue(config)
            # The simulator keeps multicast on its host (TTL 0); here the next host is the
            # relay, one hop away inside the test's own namespaces.
            venue.market_data._sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
            await venue.start()
            return venue

        self.venue = self._call(go)

    def stop(self) -> None:
        if self.venue is not None:
            self._call(self.venue.stop)

    def pause(self) -> tuple[int, dict[str, tuple[int, int, int, int]]]:
        """Stop the order flow; the last sequence number and the book, read together."""

        async def go():
            self.venue.pause_flow()
            await asyncio.sleep(0.05)  # let the flow task finish its step and flush
            return self._read()

        return self._call(go)

    def _read(self):
        v = self.venue
        book = {s: v.engine.best(v.engine.locate(s)) for s in SYMBOLS}
        return v.market_data.next_seq - 1, book

    def resume(self) -> None:
        async def go():
            self.venue.resume_flow()

        self._call(go)

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)


class FeedClient:
    """The test's view of the feed: snapshot and status over the zmq REP (ipc: works
    across network namespaces, so the test process needs no namespace of its own)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.ctx = zmq.Context.instance()
        self.req = None

    def ask(self, request: bytes, timeout: float = 15.0) -> tuple[dict, bytes]:
        if self.req is None:
            self.req = self.ctx.socket(zmq.REQ)
            self.req.setsockopt(zmq.LINGER, 0)
            self.req.connect(self.endpoint)
        self.req.send(request)
        if not self.req.poll(int(timeout * 1000)):
            self.req.close(0)
            self.req = None
            raise TimeoutError(f"no reply from the feed's snapshot service to {request!r}")
        head, body = self.req.recv_multipart()
        return json.loads(head), body

    def status(self) -> dict:
        return self.ask(b"_status")[0]

    def book(self) -> tuple[dict, dict[str, tuple[int, int, int, int]]]:
        head, body = self.ask(b"*")
        records = np.frombuffer(body, dtype=bc.RECORD_DTYPE)
        book = {
            s: (int(r["bid_px"]), int(r["bid_qty"]), int(r["ask_px"]), int(r["ask_qty"]))
            for s, r in zip(head["symbols"], records, strict=True)
        }
        return head, book


class FeedProcess:
    """``velocimex feed`` running on the trader host, its log in the test's temp dir."""

    def __init__(self, topo: netns.Topology, tmp: Path, tag: str, *extra: str) -> None:
        self.log = open(tmp / f"feed-{tag}.log", "w")  # noqa: SIM115 - closed in stop()
        self.proc = topo.popen(
            topo.trader,
            [
                VELOCIMEX,
                "feed",
                "--line-a",
                f"{LINE_A.group}:{LINE_A.port}@{netns.LINE_A_TRADER}",
                "--line-b",
                f"{LINE_B.group}:{LINE_B.port}@{netns.LINE_B_TRADER}",
                "--retrans",
                f"{netns.EXCHANGE_ADDR}:{RETRANS_PORT}",
                "--pub",
                f"ipc://{tmp}/pub-{tag}",
                "--snapshot",
                f"ipc://{tmp}/snap-{tag}",
                "--stale-ms",
                str(STALE_MS),
                *extra,
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = FeedClient(f"ipc://{tmp}/snap-{tag}")
        deadline = time.monotonic() + 60  # a first start may compile the numba kernel
        while True:
            try:
                self.client.status()
                return
            except TimeoutError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"feed did not start: {self.log_text()}") from None

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-3000:]

    def stop(self) -> str:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        text = self.log_text()
        self.log.close()
        return text


class Net:
    def __init__(self, tmp: Path) -> None:
        self.topo = netns.Topology().__enter__()
        try:
            self.relay = netns.UdpRelay(
                [
                    netns.RelayLine(LINE_A.group, LINE_A.port, netns.LINE_A_RELAY),
                    netns.RelayLine(LINE_B.group, LINE_B.port, netns.LINE_B_RELAY),
                ],
                upstream=netns.RELAY_UPSTREAM_ADDR,
                seed=5,
            )
            self.relay.start(self.topo.relay)
            self.exchange = ExchangeHost(self.topo)
            self.exchange.start("NSTEST0001", seed=11)
            time.sleep(0.5)  # the feed joins late: it must recover the start by re-request
            self.tmp = tmp
            self.feed = FeedProcess(self.topo, tmp, "udp")
        except BaseException:
            self.close()
            raise

    def traffic(self, seconds: float) -> None:
        self.exchange.resume()
        time.sleep(seconds)

    @property
    def client(self) -> FeedClient:
        return self.feed.client

    def settle(self, timeout: float = 20.0, feed: FeedProcess | None = None) -> tuple[dict, int]:
        """Pause the exchange and wait until the feed has delivered its last message and
        its snapshot equals the exchange's book. Returns (status, last_seq)."""
        feed = feed or self.feed
        last_seq, book = self.exchange.pause()
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            try:
                status = feed.client.status()
            except TimeoutError as exc:
                raise AssertionError(
                    f"feed exit code {feed.proc.poll()}; log: {feed.log_text()}"
                ) from exc
            if status["delivered_seq"] >= last_seq and not status["gap_open"]:
                break
            time.sleep(0.05)
        head, fed = feed.client.book()
        assert status["delivered_seq"] == last_seq, (status, feed.log_text())
        assert head["last_seq"] == last_seq, (head, status)
        assert head["session"] == self.exchange.venue.session.strip()
        expected = {s: b for s, b in book.items() if b != (0, 0, 0, 0)}
        fed = {s: b for s, b in fed.items() if b != (0, 0, 0, 0)}
        assert fed == expected, json.dumps(status)
        # No message lost: every sequence number reached the engine once, in order.
        assert status["messages_lost"] == 0 and status["gaps_given_up"] == 0
        assert status["engine"]["seq_gaps"] == 0
        assert status["engine"]["seq_duplicates"] == 0
        assert status["engine"]["messages"] == last_seq
        assert status["engine_errors"] == 0
        return status, last_seq

    def close(self) -> None:
        for step in (
            lambda: self.feed.stop(),
            lambda: self.exchange.close(),
            lambda: self.relay.stop(),
        ):
            try:
                step()
            except Exception:  # noqa: BLE001 - teardown must reach the namespaces
                pass
        self.topo.close()


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    n = Net(tmp_path_factory.mktemp("netns"))
    yield n
    n.close()


@pytest.fixture(autouse=True)
def _clear_faults(net):
    yield
    net.topo.drop({})
    net.relay.faults = netns.RelayFaults()
    for role in ("ta", "tb"):
        net.topo.link(role, up=True)


def _delta(after: dict, before: dict, key: str) -> int:
    return after[key] - before[key]


def test_clean_network_late_joiner_recovers_the_whole_session(net) -> None:
    net.traffic(1.0)
    status, last_seq = net.settle()
    assert last_seq > 100
    # The feed started after the exchange: the first messages came by re-request.
    assert status["retrans_messages"] > 0
    assert status["state"] == "up" and status["healthy"]
    assert set(status["first_copy_by_line"]) <= {"A", "B"}


def test_loss_on_one_line_is_recovered_by_the_other_line(net) -> None:
    before, _ = net.settle()
    net.topo.drop({"ta": 30})
    net.traffic(2.0)
    dropped = net.topo.drop_counts()
    net.topo.drop({})
    after, _ = net.settle()
    assert dropped["ta"] > 10
    by_b = after["first_copy_by_line"].get("B", 0) - before["first_copy_by_line"].get("B", 0)
    # B's copy of a packet A lost arrives with it, so the first copy wins without a gap.
    assert by_b > 0
    # Line B had every packet: nothing needed the retransmission server.
    assert _delta(after, before, "retrans_messages") == 0


def test_loss_on_both_lines_is_recovered_by_retransmission(net) -> None:
    before, _ = net.settle()
    net.topo.drop({"ta": 25, "tb": 25})
    net.traffic(2.0)
    dropped = net.topo.drop_counts()
    net.topo.drop({})
    after, _ = net.settle()
    assert dropped["ta"] > 10 and dropped["tb"] > 10
    assert _delta(after, before, "retrans_requests") > 0
    assert _delta(after, before, "retrans_messages") > 0
    assert _delta(after, before, "gaps_filled") > 0


def test_reordering_is_absorbed_by_the_buffer(net) -> None:
    before, _ = net.settle()
    r0 = net.relay.counters.reordered
    # Line B off, else its in-order copy would hide A's reordering.
    net.topo.drop({"tb": 100})
    net.relay.faults = netns.RelayFaults(reorder=0.3)
    net.traffic(2.0)
    net.relay.faults = netns.RelayFaults()
    net.topo.drop({})
    after, _ = net.settle()
    assert net.relay.counters.reordered - r0 > 10
    # A held-back packet opens a gap; its late arrival (or a re-request) closes it.
    assert _delta(after, before, "gaps_detected") > 5
    assert _delta(after, before, "gaps_filled") == _delta(after, before, "gaps_detected")


def test_duplicates_are_dropped_and_counted(net) -> None:
    before, last0 = net.settle()
    d0 = net.relay.counters.duplicated
    net.relay.faults = netns.RelayFaults(duplicate=0.5)
    net.traffic(2.0)
    net.relay.faults = netns.RelayFaults()
    after, last1 = net.settle()
    assert net.relay.counters.duplicated - d0 > 10
    # Each message came on two lines, half of them twice more: delivered once.
    assert _delta(after, before, "duplicate_messages") > (last1 - last0)
    assert _delta(after, before, "delivered_messages") == last1 - last0


def test_line_going_down_and_back_then_both_lines_stale(net) -> None:
    before, _ = net.settle()
    net.exchange.resume()
    net.topo.link("ta", up=False)
    time.sleep(STALE_MS / 1000 + 0.8)
    status = net.client.status()
    assert status["lines"]["A"]["state"] == "stale"
    assert status["lines"]["B"]["state"] == "up"
    assert status["healthy"] and status["state"] in ("up", "recovering")
    net.topo.link("ta", up=True)
    time.sleep(0.5)
    mid, _ = net.settle()
    assert mid["lines"]["A"]["state"] == "up"
    # Both lines down: the feed must say it is stale, never healthy.
    net.exchange.resume()
    net.topo.link("ta", up=False)
    net.topo.link("tb", up=False)
    time.sleep(STALE_MS / 1000 + 0.8)
    status = net.client.status()
    assert status["state"] == "stale" and not status["healthy"] and not status["connected"]
    net.topo.link("ta", up=True)
    net.topo.link("tb", up=True)
    time.sleep(0.5)
    after, _ = net.settle()
    assert after["state"] == "up"
    assert after["stale_events"] - before["stale_events"] == 1
    # What was sent while both were down came from the retransmission server.
    assert _delta(after, before, "retrans_messages") > 0


def test_malformed_packets_are_counted_and_do_not_disturb_the_book(net) -> None:
    before, _ = net.settle()
    m0 = net.relay.counters.malformed_sent
    net.relay.faults = netns.RelayFaults(malformed=0.2)
    net.traffic(2.0)
    net.relay.faults = netns.RelayFaults()
    after, _ = net.settle()
    sent = net.relay.counters.malformed_sent - m0
    assert sent > 10
    assert _delta(after, before, "malformed_packets") == sent
    assert after["last_error"]


def test_exchange_restart_starts_a_new_session(net) -> None:
    before, _ = net.settle()
    net.exchange.stop()
    net.exchange.start("NSTEST0002", seed=12)
    net.traffic(1.5)
    after, last_seq = net.settle()
    assert after["session"] == "NSTEST0002"
    assert _delta(after, before, "session_changes") == 1
    assert after["end_of_session"] > before["end_of_session"]
    assert after["delivered_seq"] == last_seq


def test_afpacket_ring_feed_on_the_trader_host_matches_the_exchange(net) -> None:
    ring = FeedProcess(net.topo, net.tmp, "afpacket", "--source", "afpacket", "--ifname", "any")
    try:
        # nftables loss would not touch the ring (packet taps run before netfilter's
        # prerouting hook), so line A fails at the link instead.
        net.traffic(0.5)
        net.topo.link("ta", up=False)
        net.traffic(1.0)
        net.topo.link("ta", up=True)
        net.traffic(0.5)
        status, last_seq = net.settle(feed=ring)
        # Both lines arrive through the one ring, on two different ports of the host.
        assert status["lines"]["A"]["packets"] > 0 and status["lines"]["B"]["packets"] > 0
        assert status["first_copy_by_line"].get("B", 0) > 0, json.dumps(status)
        assert status["delivered_seq"] == last_seq
    finally:
        log = ring.stop()
    assert "source afpacket" in log
