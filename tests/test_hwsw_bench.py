"""`velocimex bench` and the live performance monitor: the report of a tiny capture, the
identity check that guards every figure, the wire arithmetic, and the Prometheus metrics."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from tests.streams import stream
from tests.test_control_api import PASSWORD, auth, make_client, quote
from tests.test_feed_handler import LINES, _write_ab_capture
from velocimex import book_contract as bc
from velocimex.cli import main as cli_main
from velocimex.exchange.server import Venue
from velocimex.feed.arbiter import ArbiterConfig
from velocimex.feed.bus import MarketDataBus
from velocimex.feed.engines import engine_factory
from velocimex.feed.handler import FeedConfig, FeedHandler
from velocimex.feed.sources import PcapSource
from velocimex.generate.write import write_session
from velocimex.hwsw_bench import measure, monitor, wire
from velocimex.hwsw_bench.packets import MAX_PAYLOAD, load_session
from velocimex.wire.itch import encode

DISTRIBUTION_KEYS = ("p50", "p90", "p99", "p99_9", "max")


@pytest.fixture(scope="module")
def tiny_capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "tiny.pcap"
    write_session(path, 4, 4000, 7)
    return path


@pytest.fixture(scope="module")
def tiny_report(tiny_capture: Path) -> tuple[int, Path]:
    out = tiny_capture.parent / "report"
    rc = cli_main(
        ["bench", "--capture", str(tiny_capture), "--out", str(out), "--hw-samples", "100"]
    )
    return rc, out


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not exposed")


def _distributions(node: object) -> list[dict]:
    """Every latency distribution anywhere in the summary."""
    found = []
    if isinstance(node, dict):
        if all(k in node for k in DISTRIBUTION_KEYS):
            found.append(node)
        for value in node.values():
            found += _distributions(value)
    return found


def test_bench_on_a_tiny_capture_writes_the_report_plots_and_passes_the_identity_check(
    tiny_report: tuple[int, Path],
) -> None:
    rc, out = tiny_report
    assert rc == 0
    for name in ("report.md", "bench.json", "latency_cdf.png", "throughput.png", "per_type.png"):
        assert (out / name).stat().st_size > 0, name
    summary = json.loads((out / "bench.json").read_text())
    meta = summary["meta"]
    assert meta["identity"] == "passed"
    assert set(meta["identical_runs"]) == {
        "sw_batch", "sw_packet", "sw_message", "hw_batch", "hw_latency",
    }  # fmt: skip
    assert meta["command"].startswith("velocimex bench --capture")
    assert len(meta["git_commit"]) >= 40 and meta["versions"]["numpy"] == np.__version__
    text = (out / "report.md").read_text()
    assert "Identity check: passed" in text and meta["command"] in text
    assert summary["capture"]["messages"] == 4000


def test_bench_figures_are_positive_and_percentiles_ordered(
    tiny_report: tuple[int, Path],
) -> None:
    summary = json.loads((tiny_report[1] / "bench.json").read_text())
    dists = _distributions(summary)
    assert len(dists) > 10
    for d in dists:
        values = [d[k] for k in DISTRIBUTION_KEYS]
        assert values[0] > 0 and values == sorted(values), d
    sw, hw = summary["software"], summary["hardware"]
    for key in (
        "batch_msgs_per_second",
        "per_packet_msgs_per_second",
        "per_message_msgs_per_second",
    ):
        assert sw[key] > 0
    nominal = hw["clocks"]["nominal"]
    assert nominal["mhz"] == 156.25 and nominal["msgs_per_second"] > 0
    # ns = cycles x 6.4 ns at the nominal clock, exactly.
    assert nominal["latency_ns"]["p50"] == pytest.approx(hw["latency_cycles"]["p50"] * 6.4)
    ten, twenty_five = summary["wire_to_record"]["10G"], summary["wire_to_record"]["25G"]
    assert (
        ten["hw_nominal_ns"]["p50"]
        > twenty_five["hw_nominal_ns"]["p50"]
        > nominal["latency_ns"]["p50"]
    )
    assert set(sw["per_message_ns_by_type"]) >= {"A", "D", "S", "R"}


def test_model_latency_matches_the_cocotb_measurement(tiny_report: tuple[int, Path]) -> None:
    """The bench derives cycles from the harness's cycle counter; the cocotb top test
    timestamps beats and records directly. Both must see the same pipeline."""
    cocotb = Path(__file__).parents[1] / "results" / "feed_top_latency.json"
    if not cocotb.exists():
        pytest.skip("run `python -m pytest hw/sim/vx_feed_top` first")
    want = json.loads(cocotb.read_text())
    got = json.loads((tiny_report[1] / "bench.json").read_text())["hardware"]["latency_cycles"]
    assert got["p50"] == want["p50_cycles"]
    assert want["min_cycles"] <= got["max"] <= want["max_cycles"]


def test_bench_fails_loudly_when_one_engine_output_differs(
    tiny_capture: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    real = measure.sw_per_packet

    def one_bit_off(session, capacity):  # type: ignore[no-untyped-def]
        run = real(session, capacity)
        run.records["bid_qty"][len(run.records) // 2] ^= 1
        return run

    monkeypatch.setattr(measure, "sw_per_packet", one_bit_off)
    out = tmp_path / "report"
    rc = cli_main(["bench", "--capture", str(tiny_capture), "--out", str(out), "--hw-samples", "5"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "OUTPUTS DIFFER" in err and "software per packet" in err
    assert not (out / "report.md").exists()


def test_identity_check_names_the_first_differing_record() -> None:
    records = np.zeros(5, dtype=bc.RECORD_DTYPE)
    records["seq"] = np.arange(1, 6)
    other = records.copy()
    other["ask_px"][3] = 1
    ref = measure.EngineRun("a", records, 1.0, 5)
    with pytest.raises(measure.OutputMismatch, match="first difference at record 3"):
        measure.check_identical(ref, [measure.EngineRun("b", other, 1.0, 5)])
    with pytest.raises(measure.OutputMismatch, match="4 vs 5 records"):
        measure.check_identical(ref, [measure.EngineRun("c", records[:4], 1.0, 5)])


def test_bench_rejects_a_missing_capture_and_bad_options(tmp_path: Path, capsys) -> None:
    assert cli_main(["bench", "--capture", str(tmp_path / "none.pcap")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert cli_main(["bench", "--out", str(tmp_path), "--hw-samples", "0"]) == 2
    assert cli_main(["bench", "--out", str(tmp_path), "--messages", "-5"]) == 2
    assert "cannot generate" in capsys.readouterr().err
    assert not list((tmp_path / "data").glob("*.pcap"))


def test_bench_reports_a_corrupt_capture_clearly(
    tiny_capture: Path, tmp_path: Path, capsys
) -> None:
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(tiny_capture.read_bytes()[:5000] + b"\x00" * 7)
    rc = cli_main(["bench", "--capture", str(cut), "--out", str(tmp_path / "r")])
    assert rc == 2
    assert str(cut) in capsys.readouterr().err
    assert not (tmp_path / "r" / "report.md").exists()


def test_serialisation_counts_preamble_headers_fcs_and_gap() -> None:
    # 8 preamble+SFD + 14 + 20 + 8 + 1400 payload + 4 FCS + 12 IFG = 1466 bytes.
    assert wire.wire_bytes(np.array([1400]))[0] == 1466
    assert wire.serialisation_ns(np.array([1400]), 10.0)[0] == pytest.approx(1172.8)
    assert wire.serialisation_ns(np.array([1400]), 25.0)[0] == pytest.approx(469.12)
    # A tiny datagram is padded to the 64-byte minimum frame: 8 + 64 + 12.
    assert wire.wire_bytes(np.array([1]))[0] == 84


def test_binaryfile_capture_is_packed_like_the_model_frames_it(tmp_path: Path) -> None:
    itch, pcap = tmp_path / "s.itch", tmp_path / "s.pcap"
    write_session(itch, 3, 3000, 2)
    write_session(pcap, 3, 3000, 2)
    a, b = load_session(itch), load_session(pcap)
    assert a.data.tobytes() == b.data.tobytes() and np.array_equal(a.seqs, b.seqs)
    assert a.packet_payload.max() <= MAX_PAYLOAD and a.packet_first[-1] == a.messages
    sizes = np.diff(a.offsets)
    for p in range(a.packets):
        body = sizes[a.packet_first[p] : a.packet_first[p + 1]].sum()
        assert a.packet_payload[p] == body + 20


def test_control_plane_metrics_expose_strategy_order_path_and_resource_use(
    tmp_path: Path,
) -> None:
    client, tokens = make_client(tmp_path)
    from velocimex.control.auth import Role

    admin, viewer = tokens[Role.ADMIN], tokens[Role.VIEWER]
    r = client.post(
        "/strategies",
        json={"strategy_id": "mm", "kind": "market_maker", "params": {"symbol": "AAPL"}},
        headers=auth(admin),
    )
    assert r.status_code in (200, 201), r.text
    assert client.post("/strategies/mm/start", headers=auth(admin)).status_code == 200
    quote(client, tokens)
    text = client.get("/metrics", headers=auth(viewer)).text
    # The book top and then each of the quotes' order events run the strategy; the book
    # top's decision placed orders, so the order path was timed at least once.
    assert _sample(text, 'vx_strategy_latency_seconds_count{strategy="mm"}') >= 2
    assert _sample(text, 'vx_strategy_order_path_seconds_count{strategy="mm"}') >= 1
    assert "process_cpu_seconds_total" in text
    assert "process_resident_memory_bytes" in text
    assert PASSWORD not in text


def test_feed_handler_reports_receive_to_publish_latency(tmp_path: Path) -> None:
    data, _ = stream(3, 2000)
    _write_ab_capture(tmp_path / "ab.pcap", data, seed=5)
    bus = MarketDataBus(f"ipc://{tmp_path}/pub", None)
    handler = FeedHandler(
        PcapSource(str(tmp_path / "ab.pcap"), LINES),
        engine_factory("sw"),
        bus,
        FeedConfig(
            retrans=None,
            arbiter=ArbiterConfig(retransmission=False, recover_from_start=False),
            measure_latency=True,
        ),
    )
    registry = monitor.feed_monitor(handler, None)
    try:
        handler.run()
    finally:
        handler.close()
    text = generate_latest(registry).decode()
    assert _sample(text, "vx_feed_latency_seconds_count") == len(handler.latency_ns) > 0
    assert "process_resident_memory_bytes" in text


def test_tick_to_trade_runs_from_the_instruments_last_market_data_to_the_order() -> None:
    registry = CollectorRegistry()
    t2t = monitor.TickToTradeMetrics(registry)
    t2t.on_order(7)  # no market data for locate 7 yet: nothing to measure
    assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_count") == 0
    t2t.on_market_data(encode("A", stock_locate=7, order_ref=1, side="B", shares=1, price=1))
    time.sleep(0.002)
    t2t.on_order(7)
    assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_count") == 1
    assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_sum") >= 0.002
    t2t.on_order(8)
    assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_count") == 1


def test_metrics_are_served_on_loopback() -> None:
    registry = CollectorRegistry()
    monitor.add_process_collector(registry)
    server = monitor.serve_metrics(registry, 0)
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        assert b"process_cpu_seconds_total" in body
    finally:
        server.shutdown()
        server.server_close()


def test_deploy_configs_scrape_loopback_and_chart_every_metric() -> None:
    deploy = Path(__file__).parents[1] / "deploy"
    scrape = (deploy / "prometheus.yml").read_text()
    targets = [
        t
        for line in scrape.splitlines()
        if "targets:" in line
        for t in re.findall(r"'([^']+)'", line)
    ]
    assert targets and all(t.startswith("127.0.0.1:") for t in targets), targets
    dashboard = json.loads((deploy / "grafana-velocimex.json").read_text())
    exprs = " ".join(t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", []))
    for name in (
        "vx_feed_latency_seconds_bucket",
        "vx_strategy_latency_seconds_bucket",
        "vx_strategy_order_path_seconds_bucket",
        "vx_order_submit_seconds_bucket",
        "vx_exchange_tick_to_trade_seconds_bucket",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
    ):
        assert name in exprs, name


def test_exchange_measures_tick_to_trade_of_ouch_orders() -> None:
    import asyncio

    from tests.test_exchange_interop import _config, _enter, _next
    from velocimex.wire.soupbintcp import SoupClient

    async def main() -> CollectorRegistry:
        venue = Venue(_config())
        await venue.start()
        registry = monitor.exchange_monitor(venue, None)
        host, port = venue.ouch_address
        alice = await SoupClient.connect(host, port, "alice", "pw1")
        try:
            assert (await _next(alice))["type"] == "S"
            # No AAPL market data since the monitor attached: nothing to measure yet.
            alice.send_unsequenced(_enter(1, "B", 100, 100_0000))
            assert (await _next(alice))["type"] == "A"  # its ITCH Add is AAPL's tick
            assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_count") == 0
            alice.send_unsequenced(_enter(2, "B", 100, 99_0000))
            assert (await _next(alice))["type"] == "A"
            return registry
        finally:
            await alice.close()
            await venue.stop()

    registry = asyncio.run(asyncio.wait_for(main(), 30))
    assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_count") == 1
    assert registry.get_sample_value("vx_exchange_tick_to_trade_seconds_sum") > 0


def _cocotb_top_session() -> tuple[bytes, np.ndarray, list[str]]:
    """The MoldUDP64 session of hw/sim/vx_feed_top's latency test, as the DUT received it:
    session seed 12, packets of up to 1400 bytes, packet 1 duplicated and packet 5 lost, three
    subscribed symbols."""
    from velocimex.sw_fallback.engine import BookEngine

    from velocimex.generate import generate_session
    from velocimex.wire import blocks
    from velocimex.wire.moldudp64 import HEADER_LEN, Packetizer

    data = b"".join(generate_session(8, 4000, 12))
    packets = Packetizer("VXTEST", max_payload=1400).add_blocks(data)
    n = len(blocks.block_offsets(blocks.as_u8(data))[0])
    probe = BookEngine(bc.SYNTH_CAPACITY)
    probe.process(data, np.arange(1, n + 1, dtype=np.uint64))
    names = [s for s in (probe.symbol(loc) for loc in range(bc.SYNTH_CAPACITY.locates)) if s]
    body, seqs = bytearray(), []
    for dg in packets[:3] + [packets[1]] + packets[3:5] + packets[6:]:
        seq = int.from_bytes(dg[10:18], "big")
        count = len(blocks.block_offsets(blocks.as_u8(dg[HEADER_LEN:]))[0])
        body += dg[HEADER_LEN:]
        seqs += range(seq, seq + count)
    return bytes(body), np.array(seqs, dtype=np.uint64), names[1:4]


def test_model_latency_mode_equals_the_cocotb_measurement_on_its_session() -> None:
    from velocimex.sw_fallback.engine import BookEngine

    from velocimex.hw_engine import HwBookEngine

    cocotb = Path(__file__).parents[1] / "results" / "feed_top_latency.json"
    if not cocotb.exists():
        pytest.skip("run `python -m pytest hw/sim/vx_feed_top` first")
    want = json.loads(cocotb.read_text())
    data, seqs, symbols = _cocotb_top_session()
    with HwBookEngine(bc.SYNTH_CAPACITY, symbols, latency=True) as engine:
        records = engine.process(data, seqs)
        cycles = engine.record_latencies()
    assert records.tobytes() == BookEngine(bc.SYNTH_CAPACITY, symbols).process(data, seqs).tobytes()
    assert len(cycles) == len(records) == want["records"]
    assert float(np.percentile(cycles, 50)) == want["p50_cycles"]
    assert float(np.percentile(cycles, 99)) == want["p99_cycles"]
    assert int(cycles.max()) == want["max_cycles"] and int(cycles.min()) == want["min_cycles"]


def test_model_without_latency_mode_stamps_nothing_and_keeps_its_protocol() -> None:
    from velocimex.hw_engine import HwBookEngine

    data, seqs, symbols = _cocotb_top_session()
    with HwBookEngine(bc.SYNTH_CAPACITY, symbols) as plain:
        records = plain.process(data, seqs)
        assert len(records) > 0 and len(plain.record_latencies()) == 0
        assert plain.counters()["records"] == len(records)
