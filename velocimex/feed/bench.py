"""Loopback load test of the feed handler: the sustained message rate it keeps up with
without loss, and its receive-to-publish latency per packet.

A child process replays the MoldUDP64 packets of a generated session on both multicast
lines at a fixed message rate (paced per millisecond); the feed handler (kernel UDP source,
sw engine, PUB on ipc) runs in this process without a retransmission server, so anything
both lines lost shows up as ``messages_lost``. One row per rate:

    python -m velocimex.feed.bench --messages 200000 --rates 50000,100000,200000

Latency is ``time.monotonic_ns()`` after the datagram left the socket to the end of
publishing its records (the kernel's part is not in it).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from velocimex.wire import moldudp64
from velocimex.wire.pcap import iter_udp_payloads


def _sender(packets: list[bytes], lines: list[tuple[str, int]], rate: float, go) -> None:
    from velocimex.exchange.marketdata import multicast_sender

    sock = multicast_sender()
    sock.setblocking(True)
    counts = [moldudp64.parse_packet(p).message_count for p in packets]
    go.wait()
    start = time.perf_counter()
    sent = 0
    for packet, count in zip(packets, counts, strict=True):
        # Pace by messages: send when the schedule says this many messages are due.
        due = start + sent / rate
        while time.perf_counter() < due:
            pass
        for line in lines:
            sock.sendto(packet, line)
        sent += count
    sock.close()


def run_rate(packets: list[bytes], rate: float, workdir: Path) -> dict:
    from velocimex.feed.arbiter import ArbiterConfig
    from velocimex.feed.bus import MarketDataBus
    from velocimex.feed.engines import engine_factory
    from velocimex.feed.handler import FeedConfig, FeedHandler
    from velocimex.feed.sources import LineAddress, UdpMulticastSource

    port = random.randint(40000, 60000)
    groups = [f"239.192.{random.randint(100, 250)}.{random.randint(1, 250)}" for _ in "AB"]
    lines = [LineAddress(n, g, port) for n, g in zip("AB", groups, strict=True)]
    handler = FeedHandler(
        UdpMulticastSource(lines),
        engine_factory("sw"),
        MarketDataBus(f"ipc://{workdir}/pub-{port}", None),
        FeedConfig(
            retrans=None,
            arbiter=ArbiterConfig(retransmission=False, gap_grace_ns=20_000_000),
        ),
    )
    total = sum(moldudp64.parse_packet(p).message_count for p in packets)
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    child = ctx.Process(target=_sender, args=(packets, [(g, port) for g in groups], rate, go))
    child.start()
    stop = threading.Event()
    result: dict = {}
    feeder = threading.Thread(target=lambda: result.update(handler.run(stop)))
    feeder.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    go.set()
    child.join()
    send_s = time.perf_counter() - t0
    # Give the handler a moment to drain its socket buffers, then stop it.
    deadline = time.monotonic() + 10
    while handler.arbiter.delivered_seq < total and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.1)
    stop.set()
    feeder.join()
    handler.close()
    lat = result.get("latency_us") or {}
    return {
        "target_msgs_per_s": rate,
        "achieved_send_msgs_per_s": round(total / send_s),
        "messages": total,
        "delivered": result["delivered_messages"],
        # Given up in gaps, or never seen at all (a tail both lines lost).
        "lost": total - result["delivered_messages"],
        "latency_us_p50": lat.get("p50"),
        "latency_us_p99": lat.get("p99"),
        "latency_us_max": lat.get("max"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=8)
    parser.add_argument("--rates", default="50000,100000,200000,400000")
    parser.add_argument("--out", help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "session.pcap"
        subprocess.run(
            [sys.executable, "-m", "velocimex.cli", "generate", "--symbols", str(args.symbols)]
            + ["--messages", str(args.messages), "--seed", "1", "--out", str(capture)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        packets = [p for _, p in iter_udp_payloads(capture)]
        rows = [run_rate(packets, float(r), Path(tmp)) for r in args.rates.split(",")]
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
