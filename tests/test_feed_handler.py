"""The feed handler end to end: pcap replay through arbiter, engine and bus (bit-exact
against the engine fed directly), the snapshot service, and the CLI against the real
exchange simulator on loopback with ``velocimex watch``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zmq
from velocimex.sw_fallback.engine import BookEngine

from tests.streams import stream
from velocimex import book_contract as bc
from velocimex.feed.arbiter import ArbiterConfig
from velocimex.feed.bus import STATUS_TOPIC, TRADE_PREFIX, MarketDataBus, TopOfBook, trade_topic
from velocimex.feed.engines import EngineUnavailable, engine_factory
from velocimex.feed.handler import FeedConfig, FeedHandler
from velocimex.feed.sources import LineAddress, PcapSource
from velocimex.feed.trades import PRINT_DTYPE, TradeTap
from velocimex.hwsw_bench.monitor import feed_monitor
from velocimex.wire import moldudp64
from velocimex.wire.itch import encode
from velocimex.wire.pcap import PcapWriter

VELOCIMEX = str(Path(sys.executable).with_name("velocimex"))
LINES = [LineAddress("A", "239.192.1.1", 26400), LineAddress("B", "239.192.1.2", 26401)]


def _split_blocks(data: bytes) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        n = int.from_bytes(data[i : i + 2], "big")
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


def _write_ab_capture(path: Path, data: bytes, seed: int) -> int:
    """Lines A and B in one pcap, each losing some packets the other has, B a little late
    and sometimes reordered; returns the number of packets per line."""
    rng = random.Random(seed)
    packets = list(moldudp64.Packetizer(b"PCAPSESS01", 400).packetize(_split_blocks(data)))
    frames = []
    for i, p in enumerate(packets):
        lose_a = rng.random() < 0.1
        if not lose_a:
            frames.append((i * 1000, LINES[0].port, p))
        if lose_a or rng.random() > 0.1:
            frames.append((i * 1000 + rng.choice((300, 1500, 2500)), LINES[1].port, p))
    frames.sort(key=lambda f: f[0])
    with PcapWriter(path) as w:
        for ts, port, p in frames:
            w.write_udp(1_000_000_000 + ts, p, dport=port)
    return len(packets)


def pcap_handler(
    path: Path, lines: list[LineAddress], make_engine: Callable, bus: MarketDataBus
) -> FeedHandler:
    """A feed handler replaying a capture with nothing to recover from: no retransmission
    server, no latency measurement."""
    return FeedHandler(
        PcapSource(str(path), lines),
        make_engine,
        bus,
        FeedConfig(
            retrans=None,
            arbiter=ArbiterConfig(retransmission=False, recover_from_start=False),
            measure_latency=False,
        ),
    )


def _collect(endpoint: str, stop: threading.Event, out: list) -> None:
    sub = zmq.Context.instance().socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(endpoint)
    while not stop.is_set():
        if sub.poll(50):
            out.append(sub.recv_multipart())
    while sub.poll(200):
        out.append(sub.recv_multipart())
    sub.close(0)


def run_collecting(handler: FeedHandler, pub: str) -> tuple[dict, list]:
    """Runs the handler to the end of its capture with a subscriber on its bus; returns the
    final stats and every (topic, payload) the subscriber received."""
    got: list = []
    stop = threading.Event()
    collector = threading.Thread(target=_collect, args=(pub, stop, got))
    collector.start()
    time.sleep(0.3)  # PUB drops what it sends before the subscriber has connected
    try:
        final = handler.run()
    finally:
        stop.set()
        collector.join()
        handler.close()
    return final, got


@pytest.mark.parametrize("engine", ["sw", "hw"])
def test_pcap_replay_through_the_feed_publishes_exactly_the_engine_records(
    tmp_path, engine: str
) -> None:
    make_engine = engine_factory(engine)
    if engine == "hw":
        try:
            make_engine().close()
        except EngineUnavailable as exc:
            pytest.skip(str(exc))
    data, seqs = stream(3, 4000)
    _write_ab_capture(tmp_path / "ab.pcap", data, seed=3)
    expected = BookEngine().process(data, seqs)
    reference = BookEngine()
    reference.process(data, seqs)

    pub = f"ipc://{tmp_path}/pub"
    bus = MarketDataBus(pub, f"ipc://{tmp_path}/snap")
    handler = pcap_handler(tmp_path / "ab.pcap", LINES, make_engine, bus)
    registry = feed_monitor(handler, None)
    final, got = run_collecting(handler, pub)
    records = [(t, r) for t, r in got if t != STATUS_TOPIC and not t.startswith(TRADE_PREFIX)]
    assert len(records) == len(expected)
    assert b"".join(r for _, r in records) == expected.tobytes()
    for t, r in records:
        rec = np.frombuffer(r, dtype=bc.RECORD_DTYPE)[0]
        assert t == reference.symbol(int(rec["locate"])).encode() + b"\0"
    # The prints are those of the same stream, each under its symbol's trade topic, and the
    # bus interleaves them with the records in sequence order (a print before its record).
    prints = [(t, r) for t, r in got if t.startswith(TRADE_PREFIX)]
    expected_prints = TradeTap().process(data, seqs)
    assert len(expected_prints) > 100
    assert b"".join(r for _, r in prints) == expected_prints.tobytes()
    for t, r in prints:
        row = np.frombuffer(r, dtype=PRINT_DTYPE)[0]
        assert t == trade_topic(reference.symbol(int(row["locate"])))
    order = [
        (int(np.frombuffer(r, dtype=PRINT_DTYPE)[0]["seq"]), 0)
        if t.startswith(TRADE_PREFIX)
        else (int(np.frombuffer(r, dtype=bc.RECORD_DTYPE)[0]["seq"]), 1)
        for t, r in got
        if t != STATUS_TOPIC
    ]
    assert order == sorted(order)
    assert final["trades_published"] == len(expected_prints)
    assert final["trade_prints"]["trade_prints"] == len(expected_prints)
    scrape = registry.get_sample_value
    assert scrape("vx_feed_trade_prints_published_total") == len(expected_prints)
    assert scrape("vx_feed_records_published_total") == len(expected)
    assert final["delivered_seq"] == len(seqs) and final["messages_lost"] == 0
    assert final["engine"]["seq_gaps"] == 0
    assert final["first_copy_by_line"]["B"] > 0  # what A lost came from B
    assert final["duplicate_packets"] > 0
    statuses = [json.loads(r) for t, r in got if t == STATUS_TOPIC]
    assert statuses and statuses[-1]["delivered_seq"] == len(seqs)


def test_prints_of_an_unnamed_instrument_are_counted_not_published(tmp_path) -> None:
    def add(ref: int) -> bytes:
        return encode("A", stock_locate=1, order_ref=ref, side="S", shares=100, stock="AAPL",
                      price=1_000_000)  # fmt: skip

    def execute(ref: int, match: int) -> bytes:
        return encode("E", stock_locate=1, order_ref=ref, executed_shares=10, match_number=match)

    # A capture that starts after AAPL's directory message: its prints have no symbol.
    messages = [add(1), execute(1, 1), add(2), execute(2, 2)]
    packets = list(moldudp64.Packetizer(b"PCAPSESS03", 300).packetize(messages))
    with PcapWriter(tmp_path / "unnamed.pcap") as w:
        for i, p in enumerate(packets):
            w.write_udp(i * 1000, p, dport=LINES[0].port)
    pub = f"ipc://{tmp_path}/pub"
    bus = MarketDataBus(pub, None)
    handler = pcap_handler(tmp_path / "unnamed.pcap", LINES[:1], engine_factory("sw"), bus)
    final, got = run_collecting(handler, pub)
    assert not [t for t, _ in got if t.startswith(TRADE_PREFIX)]
    assert final["trade_prints"]["trade_prints"] == 2
    assert final["trades_unnamed"] == 2 and final["trades_published"] == 0


def test_pcap_with_a_gap_on_both_lines_and_no_server_flags_the_records(tmp_path) -> None:
    data, seqs = stream(4, 1500)
    packets = list(moldudp64.Packetizer(b"PCAPSESS02", 300).packetize(_split_blocks(data)))
    lost = packets[len(packets) // 2]
    with PcapWriter(tmp_path / "gap.pcap") as w:
        for i, p in enumerate(packets):
            if p is not lost:
                w.write_udp(i * 1000, p, dport=LINES[0].port)
    bus = MarketDataBus(f"ipc://{tmp_path}/pub", None)
    handler = pcap_handler(tmp_path / "gap.pcap", LINES[:1], engine_factory("sw"), bus)
    try:
        final = handler.run()
    finally:
        handler.close()
    missing = moldudp64.parse_packet(lost).message_count
    assert final["gaps_given_up"] == 1 and final["messages_lost"] == missing
    assert final["engine"]["seq_gaps"] == missing
    late = handler.top.records[handler.top.present]
    assert np.all(late["flags"][late["seq"] > moldudp64.parse_packet(lost).seq] & bc.FLAG_SEQ_GAP)


def test_pcap_recorded_speed_keeps_the_capture_timing(tmp_path) -> None:
    packets = list(moldudp64.Packetizer(b"PCAPSESS03").packetize([b"x" * 10] * 5))
    with PcapWriter(tmp_path / "t.pcap") as w:
        for i, p in enumerate(packets * 5):
            w.write_udp(i * 50_000_000, p, dport=LINES[0].port)  # 50 ms apart
    src = PcapSource(str(tmp_path / "t.pcap"), LINES[:1], speed="recorded")
    t0 = time.monotonic_ns()
    stamps = []
    while not src.exhausted:
        got = src.read(time.monotonic_ns())
        stamps += [time.monotonic_ns() - t0 for _ in got]
        time.sleep(0.002)
    assert len(stamps) == 5
    assert stamps[-1] >= 190_000_000  # 4 gaps of 50 ms
    fast = PcapSource(str(tmp_path / "t.pcap"), LINES[:1], speed="max")
    assert len(fast.read(0)) == 5


def test_snapshot_service_answers_symbols_star_status_and_rejects_bad_requests(
    tmp_path,
) -> None:
    top = TopOfBook(16)
    recs = np.zeros(3, dtype=bc.RECORD_DTYPE)
    recs["locate"] = [1, 2, 1]
    recs["seq"] = [10, 11, 12]
    recs["bid_px"] = [100, 200, 101]
    top.update(recs)
    top.symbols.update({1: "AAPL", 2: "MSFT"})
    top.last_seq = 12
    bus = MarketDataBus(f"ipc://{tmp_path}/pub", f"ipc://{tmp_path}/snap")
    req = zmq.Context.instance().socket(zmq.REQ)
    req.connect(f"ipc://{tmp_path}/snap")

    def ask(frames: list[bytes]) -> tuple[dict, bytes]:
        req.send_multipart(frames)
        deadline = time.monotonic() + 5
        while not req.poll(10):
            bus.serve_snapshot(top, "S1", {"state": "up"})
            assert time.monotonic() < deadline
        head, body = req.recv_multipart()
        return json.loads(head), body

    try:
        head, body = ask([b"AAPL"])
        assert head == {"session": "S1", "last_seq": 12, "symbols": ["AAPL"]}
        assert np.frombuffer(body, bc.RECORD_DTYPE)["bid_px"].tolist() == [101]
        head, body = ask([b"*"])
        assert head["symbols"] == ["AAPL", "MSFT"] and len(body) == 2 * bc.RECORD_BYTES
        head, body = ask([b"ZZZZ"])
        assert head["symbols"] == [] and body == b""
        assert ask([b"_status"]) == ({"state": "up"}, b"")
        for bad in ([b""], [b"TOOLONGSYMBOL"], [b"\xff"], [b"A", b"B"]):
            assert "error" in ask(bad)[0]
        assert bus.bad_requests == 4
    finally:
        req.close(0)
        bus.close()


def test_unknown_engine_is_refused_clearly() -> None:
    with pytest.raises(EngineUnavailable, match="unknown engine"):
        engine_factory("fpga")


def test_feed_cli_rejects_a_missing_pcap_and_bad_endpoints(tmp_path) -> None:
    done = subprocess.run(
        [VELOCIMEX, "feed", "--source", "pcap", "--pub", f"ipc://{tmp_path}/p"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "--pcap FILE" in done.stderr
    done = subprocess.run(
        [VELOCIMEX, "feed", "--line-a", "nonsense"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "HOST:PORT" in done.stderr


def test_exchange_feed_and_watch_on_loopback_show_the_live_top_of_book(tmp_path) -> None:
    base = random.randint(30000, 50000)
    group_a, group_b = (
        f"239.192.201.{random.randint(1, 250)}",
        f"239.192.202.{random.randint(1, 250)}",
    )
    lines = ["--line-a", f"{group_a}:{base}", "--line-b", f"{group_b}:{base + 1}"]
    bus = ["--pub", f"ipc://{tmp_path}/pub", "--snapshot", f"ipc://{tmp_path}/snap"]
    exchange = subprocess.Popen(
        [VELOCIMEX, "exchange", *lines, "--retrans-port", str(base + 2), "--ouch-port", "0"]
        + ["--rate", "300", "--session", "LOOPTEST01"],
        stdout=subprocess.PIPE,
        text=True,
    )
    feed = None
    try:
        assert "LOOPTEST01" in exchange.stdout.readline()
        feed = subprocess.Popen(
            [VELOCIMEX, "feed", *lines, "--retrans", f"127.0.0.1:{base + 2}", *bus],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert "feed: source udp" in feed.stdout.readline()
        time.sleep(1.0)
        watch = subprocess.run(
            [VELOCIMEX, "watch", "AAPL", *bus, "--count", "3", "--timeout", "20"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert watch.returncode == 0, watch.stderr
        out = watch.stdout.splitlines()
        assert out[0].startswith("snapshot session LOOPTEST01")
        updates = [ln for ln in out[1:] if ln.startswith("AAPL ")]
        assert len(updates) >= 3 and "bid" in updates[-1] and "ask" in updates[-1]
        seqs = [int(ln.split()[2]) for ln in updates]
        assert seqs == sorted(seqs)
    finally:
        if feed is not None:
            feed.terminate()
            final = json.loads(feed.communicate(timeout=30)[0].splitlines()[-1])
        exchange.terminate()
        exchange.communicate(timeout=30)
    assert final["session"] == "LOOPTEST01" and final["messages_lost"] == 0
    assert final["engine"]["seq_gaps"] == 0 and final["records_published"] > 0
