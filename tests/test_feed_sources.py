"""Packet sources: kernel UDP multicast on loopback and the AF_PACKET TPACKET_V3 ring."""

from __future__ import annotations

import os
import random
import time

import pytest

from velocimex.exchange.marketdata import multicast_sender
from velocimex.feed.sources import (
    LineAddress,
    PcapSource,
    SourceUnavailable,
    UdpMulticastSource,
    iter_datagrams,
)
from velocimex.wire.pcap import PcapWriter


def _lines() -> list[LineAddress]:
    port = random.randint(30000, 60000)
    return [
        LineAddress("A", f"239.192.211.{random.randint(1, 250)}", port),
        LineAddress("B", f"239.192.212.{random.randint(1, 250)}", port),
    ]


def _send(lines: list[LineAddress], n: int) -> None:
    tx = multicast_sender()
    try:
        for i in range(n):
            for ln in lines:
                tx.sendto(f"{ln.name}{i:04d}".encode(), (ln.group, ln.port))
        # A group nobody asked for, on the same port: must not show up.
        tx.sendto(b"other", ("239.192.213.1", lines[0].port))
    finally:
        tx.close()


def _drain(source, expect: int, timeout: float = 3.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < expect and time.monotonic() < deadline:
        got += source.read(time.monotonic_ns())
        time.sleep(0.001)
    time.sleep(0.05)
    return got + source.read(time.monotonic_ns())


def test_udp_source_receives_each_line_on_its_own_socket_in_batches() -> None:
    lines = _lines()
    source = UdpMulticastSource(lines, "127.0.0.1", batch=8)
    try:
        assert len(source.fds()) == 2
        assert source.read(time.monotonic_ns()) == []  # never blocks
        _send(lines, 100)
        got = _drain(source, 200)
    finally:
        source.close()
    by_line = {name: [d.payload for d in got if d.line == name] for name in "AB"}
    assert by_line["A"] == [f"A{i:04d}".encode() for i in range(100)]
    assert by_line["B"] == [f"B{i:04d}".encode() for i in range(100)]
    stamps = [d.receive_ns for d in got]
    assert all(abs(t - time.monotonic_ns()) < 10e9 for t in stamps)


@pytest.mark.skipif(os.geteuid() != 0, reason="AF_PACKET rings need CAP_NET_RAW (root)")
def test_afpacket_ring_delivers_each_line_datagram_once_and_filters_the_rest() -> None:
    from velocimex.feed.afpacket import AfPacketSource

    lines = _lines()
    source = AfPacketSource(lines, "lo", "127.0.0.1", block_size=1 << 16, block_nr=4)
    got = []
    try:
        # Rounds of sending and reading: each round retires at least one block, so the
        # reader goes round the four-block ring more than once.
        for _ in range(6):
            _send(lines, 200)
            got += _drain(source, 400)
    finally:
        source.close()
    by_line = {name: [d.payload for d in got if d.line == name] for name in "AB"}
    assert by_line["A"] == [f"A{i:04d}".encode() for i in range(200)] * 6
    assert by_line["B"] == [f"B{i:04d}".encode() for i in range(200)] * 6
    assert source.other_frames >= 1


def test_afpacket_without_privilege_says_why(monkeypatch) -> None:
    import socket

    from velocimex.feed import afpacket

    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(socket, "socket", refuse)
    with pytest.raises(SourceUnavailable, match="CAP_NET_RAW"):
        afpacket.AfPacketSource(_lines())


def test_every_source_is_also_a_plain_iterator_of_datagrams(tmp_path) -> None:
    lines = _lines()
    with PcapWriter(tmp_path / "x.pcap") as w:
        for i in range(6):
            ln = lines[i % 2]  # both lines on one port: told apart by group
            w.write_udp(i * 1000, f"p{i}".encode(), dst=ln.group, dport=ln.port)
    got = list(iter_datagrams(PcapSource(str(tmp_path / "x.pcap"), lines)))
    assert [(d.payload, d.line) for d in got] == [(f"p{i}".encode(), "AB"[i % 2]) for i in range(6)]
    source = UdpMulticastSource(lines)
    try:
        _send(lines, 3)
        got = list(iter_datagrams(source, idle_timeout=0.3))
    finally:
        source.close()
    assert sorted(d.payload for d in got) == sorted(
        f"{n}{i:04d}".encode() for n in "AB" for i in range(3)
    )
