"""End to end on loopback: the venue's multicast lines, retransmission server and CLI.

A receiver joins the lines like a feed handler would, decodes MoldUDP64 + ITCH, checks
sequence continuity and rebuilds the book, which must equal the matching engine's; the
sw_fallback BookEngine fed the same stream must report the same top of book at every
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

import numpy as np
from velocimex.sw_fallback.engine import BookEngine

from tests.test_exchange_matching import ItchBook, assert_same_book
from velocimex.exchange.marketdata import LineConfig
from velocimex.exchange.matching import BUY, SELL
from velocimex.exchange.server import Venue, VenueConfig
from velocimex.wire import itch, moldudp64, ouch
from velocimex.wire.soupbintcp import SoupClient


def _lines() -> tuple[LineConfig, LineConfig]:
    base = random.randint(30000, 60000)
    return (
        LineConfig(f"239.192.{random.randint(100, 250)}.{random.randint(1, 250)}", base),
        LineConfig(f"239.192.{random.randint(100, 250)}.{random.randint(1, 250)}", base + 1),
    )


def _join(line: LineConfig) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sock.bind((line.group, line.port))
    mreq = socket.inet_aton(line.group) + socket.inet_aton("127.0.0.1")
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    sock.setblocking(False)
    return sock


class _Collector(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: list[bytes] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.packets.append(data)


def _top_changes(messages: list[bytes]) -> list[tuple[int, int, int, int, int, int]]:
    """(seq, locate, bid_px, bid_qty, ask_px, ask_qty) each time a locate's top changes,
    from the plain-Python ITCH book."""
    book = ItchBook()
    last: dict[int, tuple] = {}
    out = []
    for seq, raw in enumerate(messages, start=1):
        book.apply(raw)
        m = book.messages[-1]
        locate = m["stock_locate"]
        if m["type"] not in itch.BOOK_TYPES:
            continue
        bids = book.depth(locate, BUY)
        asks = book.depth(locate, SELL)
        top = (*(bids[0] if bids else (0, 0)), *(asks[0] if asks else (0, 0)))
        if last.get(locate, (0, 0, 0, 0)) != top:
            last[locate] = top
            out.append((seq, locate, *top))
    return out


def test_multicast_feed_rebuilds_the_exchange_book_on_both_lines():
    async def main():
        line_a, line_b = _lines()
        loop = asyncio.get_running_loop()
        col_a, col_b = _Collector(), _Collector()
        ta, _ = await loop.create_datagram_endpoint(lambda: col_a, sock=_join(line_a))
        tb, _ = await loop.create_datagram_endpoint(lambda: col_b, sock=_join(line_b))
        venue = Venue(
            VenueConfig(
                symbols=("AAA", "BBB", "CCC"),
                seed=3,
                rate=2000.0,
                lines=(line_a, line_b),
                retrans_port=0,
                ouch_port=0,
                heartbeat_interval=0.1,
            )
        )
        await venue.start()
        # An OUCH trader takes part alongside the simulated participants.
        host, port = venue.ouch_address
        trader = await SoupClient.connect(host, port, "trader", "secret")
        rng = random.Random(5)
        for user_ref in range(1, 121):
            await asyncio.sleep(0.01)
            bid, _, ask, _ = venue.engine.best(venue.engine.locate("BBB"))
            mid = (bid + ask) // 2 if bid and ask else 100_0000
            price = max(100, mid // 100 * 100 + rng.randint(-3, 3) * 100)
            order = ouch.encode(
                ouch.INBOUND,
                "O",
                user_ref_num=user_ref,
                side=rng.choice("BS"),
                quantity=100 * rng.randint(1, 4),
                symbol="BBB",
                price=price,
                time_in_force=rng.choice("03"),
                display=rng.choice("YYYNA"),
            )
            trader.send_unsequenced(order)
        await asyncio.sleep(0.2)
        venue.pause_flow()
        await asyncio.sleep(0.35)  # idle: heartbeats only
        engine_depth = {
            (loc, side): venue.engine.depth(loc, side)
            for loc in venue.engine.instruments
            for side in (BUY, SELL)
        }
        await venue.stop()
        replies = []
        with contextlib.suppress(ConnectionError):
            while True:
                replies.append(ouch.decode(ouch.OUTBOUND, await trader.recv(5))["type"])
        await trader.close()
        assert replies.count("A") == 120 and "E" in replies
        await asyncio.sleep(0.1)
        ta.close()
        tb.close()
        return venue, col_a.packets, col_b.packets, engine_depth

    venue, packets_a, packets_b, engine_depth = asyncio.run(asyncio.wait_for(main(), 30))
    assert packets_a == packets_b, "lines A and B must carry identical packets"
    depack = moldudp64.Depacketizer()
    messages: list[bytes] = []
    for packet in packets_a:
        for seq, message in depack.feed(packet):
            assert seq == len(messages) + 1
            messages.append(message)
    assert depack.gaps == 0 and depack.corrupt_packets == 0 and depack.duplicate_packets == 0
    assert depack.ended, "Ctrl-C / stop must send the MoldUDP64 end of session"
    assert depack.heartbeats >= 2
    assert depack.session == moldudp64.normalize_session(venue.session)
    assert messages == list(venue.market_data.messages)
    assert len(messages) > 1000
    decoded = [itch.decode(m) for m in messages]
    assert [m["event_code"] for m in decoded if m["type"] == "S"] == list("OSQMEC")
    assert [m["type"] for m in decoded[:2]] == ["S", "R"]
    book = ItchBook()
    for raw in messages:
        book.apply(raw)
    for (loc, side), depth in engine_depth.items():
        assert book.depth(loc, side) == depth
    assert_same_book(venue.engine, book)
    # The software book engine agrees with the plain book at every top-of-book change.
    blocks = b"".join(struct.pack(">H", len(m)) + m for m in messages)
    seqs = np.arange(1, len(messages) + 1, dtype=np.uint64)
    records = BookEngine().process(blocks, seqs)
    fields = ("seq", "locate", "bid_px", "bid_qty", "ask_px", "ask_qty")
    got = [tuple(int(r[f]) for f in fields) for r in records]
    assert got == _top_changes(messages)
    assert len(got) > 100


def test_retransmission_server_returns_stored_messages_and_counts_bad_requests():
    async def main():
        venue = Venue(
            VenueConfig(symbols=("AAA",), rate=0.0, lines=_lines(), retrans_port=0, ouch_port=0)
        )
        await venue.start()
        locate = venue.engine.locate("AAA")
        for k in range(200):
            venue.engine.submit(locate, BUY, 100, 50_0000 + k * 100)
        loop = asyncio.get_running_loop()
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Client(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                replies.put_nowait(data)

        transport, _ = await loop.create_datagram_endpoint(
            Client, remote_addr=venue.retrans_address
        )
        session = venue.session
        transport.sendto(moldudp64.encode_request(session, 5, 3))
        small = moldudp64.parse_packet(await asyncio.wait_for(replies.get(), 5))
        transport.sendto(moldudp64.encode_request(session, 1, 1000))
        big = moldudp64.parse_packet(await asyncio.wait_for(replies.get(), 5))
        transport.sendto(b"short")
        transport.sendto(moldudp64.encode_request("WRONGSESS", 1, 1))
        transport.sendto(moldudp64.encode_request(session, 10**6, 1))  # not yet published
        transport.sendto(moldudp64.encode_request(session, 2, 1))
        last = moldudp64.parse_packet(await asyncio.wait_for(replies.get(), 5))
        stored = list(venue.market_data.messages)
        counters = venue.market_data.counters
        transport.close()
        await venue.stop()
        return small, big, last, stored, counters

    small, big, last, stored, counters = asyncio.run(asyncio.wait_for(main(), 30))
    assert small.seq == 5 and [bytes(m) for m in small.messages] == stored[4:7]
    # One response packet: as many messages from seq 1 as fit the payload limit.
    assert big.seq == 1 and 1 < big.count < len(stored)
    assert [bytes(m) for m in big.messages] == stored[: big.count]
    size = moldudp64.HEADER_LEN + sum(2 + len(m) for m in big.messages)
    assert size <= moldudp64.DEFAULT_MAX_PAYLOAD
    assert last.seq == 2 and last.count == 1
    assert counters.retrans_requests == 6 and counters.bad_requests == 2
    assert counters.retrans_packets == 3


def test_cli_exchange_ends_the_session_cleanly_on_ctrl_c():
    line_a, line_b = _lines()
    receiver = _join(line_a)
    receiver.setblocking(True)
    cmd = [
        sys.executable,
        "-m",
        "velocimex.cli",
        "exchange",
        "--ouch-port",
        "0",
        "--retrans-port",
        "0",
        "--line-a",
        f"{line_a.group}:{line_a.port}",
        "--line-b",
        f"{line_b.group}:{line_b.port}",
        "--symbols",
        "AAA,BBB",
        "--rate",
        "300",
        "--session",
        "CLITEST",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        banner = proc.stdout.readline()
        assert "exchange session CLITEST" in banner, banner + proc.stderr.read()
        time.sleep(0.7)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "session CLITEST ended" in out
    depack = moldudp64.Depacketizer()
    receiver.settimeout(1.0)
    messages = []
    while not depack.ended:
        messages += depack.feed(receiver.recv(65536))
    receiver.close()
    assert depack.gaps == 0 and depack.session == b"CLITEST   "
    types = [itch.decode(m)["type"] for _, m in messages]
    assert types[:1] == ["S"] and types[-3:] == ["S", "S", "S"]
    assert "A" in types
