"""`make bench`: every performance figure the docs quote, measured in one run on this machine.

Each measured job runs in its own child process so that its peak memory (ru_maxrss) and its
JIT warm-up are its own. Results go to `<out>/bench.json` and `<out>/bench.md`.

    python -m velocimex.bench_suite --out results [--messages 10000000]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BENCH_SEED = 42
BENCH_SYMBOLS = 16


def _child(job: str, args: list[str]) -> dict:
    """Run `job` in a fresh interpreter; return its JSON result plus its peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(
        [sys.executable, "-m", "velocimex.bench_suite", "--child", job, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench job {job} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of RUSAGE_CHILDREN is the largest child so far; jobs run largest-last is not
    # guaranteed, so each child also reports its own.
    result.setdefault("peak_rss_mb", max(peak, before) / 1024)
    return result


def _module_json(module: str, out: Path, *args: str) -> dict | list:
    """Run another package's own benchmark (`python -m module --out FILE`); keep its JSON."""
    proc = subprocess.run(
        [sys.executable, "-m", module, "--out", str(out), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{proc.stderr}")
    print(proc.stdout, file=sys.stderr)
    return json.loads(out.read_text())


def _own_peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def job_generate(out: str, messages: int) -> dict:
    t0 = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "velocimex.cli",
            "generate",
            "--symbols",
            str(BENCH_SYMBOLS),
            "--messages",
            str(messages),
            "--seed",
            str(BENCH_SEED),
            "--out",
            out,
        ],
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - t0
    return {"messages": messages, "seconds": seconds, "bytes": os.path.getsize(out)}


def job_sw_batch(path: str, csv_out: str) -> dict:
    from velocimex.sw_fallback.replay import replay_capture

    # replay_capture loads the compiled kernel before its clock starts and reports that
    # load apart (jit_seconds), so the throughput is the steady state.
    result = replay_capture(path, csv_out)
    return {
        "jit_seconds": result.jit_seconds,
        "messages": result.messages,
        "records": result.records,
        "engine_seconds": result.engine_seconds,
        "csv_seconds": result.csv_seconds,
        "msgs_per_second": result.messages_per_second,
        "counters": result.counters,
        "peak_rss_mb": _own_peak_mb(),
    }


def job_sw_kernel(path: str, reps: int) -> dict:
    """The book kernel alone: the capture's chunks read into memory first, then `reps` runs
    of a fresh engine over them, each timed in the calling thread's CPU time (time the
    thread is descheduled on a shared machine does not count; cache contention does).
    `digest` (sha256 of every record and the final counters) is equal across versions of
    the kernel exactly when their output is bit-identical."""
    import hashlib

    from velocimex.sw_fallback.engine import BookEngine
    from velocimex.wire.capture import CaptureReader

    chunks = [(bytes(c.data), np.ascontiguousarray(c.seqs, np.uint64)) for c in CaptureReader(path)]
    messages = sum(len(s) for _, s in chunks)
    runs, digests = [], set()
    for _ in range(reps):
        engine = BookEngine()
        engine.process_view(b"", np.zeros(0, np.uint64))  # JIT load, not timed
        digest = hashlib.sha256()
        cpu = 0.0
        for data, seqs in chunks:
            t0 = time.thread_time()
            records = engine.process_view(data, seqs)
            cpu += time.thread_time() - t0
            digest.update(records.tobytes())
        digest.update(engine.state.counters.tobytes())
        digests.add(digest.hexdigest())
        runs.append(cpu / messages * 1e9)
    return {
        "messages": messages,
        "ns_per_msg_runs": runs,
        "ns_per_msg_min": min(runs),
        "ns_per_msg_median": float(np.median(runs)),
        "digest": digests.pop() if len(digests) == 1 else sorted(digests),
        "peak_rss_mb": _own_peak_mb(),
    }


def job_itch_book(path: str) -> dict:
    import itch_book

    t0 = time.perf_counter()
    feed = itch_book.open(path, price_type="fixed", date=datetime.date(2026, 11, 2))
    rows = 0
    for batch in feed.batches(tables=("bbo",)):
        rows += len(batch.bbo["seq"])
    seconds = time.perf_counter() - t0
    messages = int(feed.stats["messages"])
    return {
        "version": importlib.metadata.version("itch-book"),
        "messages": messages,
        "records": rows,
        "seconds": seconds,
        "msgs_per_second": messages / seconds,
        "peak_rss_mb": _own_peak_mb(),
    }


def job_compare(path: str) -> dict:
    """Our records against itch-book's bbo rows, every column, vectorised."""
    import itch_book

    from velocimex.sw_fallback.replay import replay_capture

    parts: list[np.ndarray] = []
    replay_capture(path, records_out=parts)
    ours = np.concatenate(parts) if parts else np.zeros(0)
    feed = itch_book.open(path, price_type="fixed", date=datetime.date(2026, 11, 2))
    cols: dict[str, list[np.ndarray]] = {
        k: [] for k in ("seq", "locate", "bid_px", "bid_sz", "ask_px", "ask_sz")
    }
    for batch in feed.batches(tables=("bbo",)):
        for k in cols:
            cols[k].append(np.asarray(batch.bbo[k]))
    theirs = {k: np.concatenate(v) for k, v in cols.items()}
    same_len = len(ours) == len(theirs["seq"])
    equal = same_len and all(
        np.array_equal(ours[a].astype(np.int64), theirs[b].astype(np.int64))
        for a, b in (
            ("seq", "seq"),
            ("locate", "locate"),
            ("bid_px", "bid_px"),
            ("bid_qty", "bid_sz"),
            ("ask_px", "ask_px"),
            ("ask_qty", "ask_sz"),
        )
    )
    return {
        "ours": len(ours),
        "itch_book": len(theirs["seq"]),
        "flagged": int(np.count_nonzero(ours["flags"])) if len(ours) else 0,
        "identical": bool(equal),
    }


# Messages per packet: live MoldUDP64 packets often carry few, the generator's about 44.
STREAM_BUCKETS = ((1, 1), (2, 4), (5, 16), (17, 64))


def job_sw_stream(path: str, max_packets: int) -> dict:
    """Per-packet latency of the streaming engine: `BookEngine.process_packet` on each
    MoldUDP64 payload (framing, decode, book, records in one kernel call), bytes in to records
    out. First the generator's packets as captured, then the same messages re-packed into
    packets of 1 to 64 messages (a bucket drawn uniformly, then a size within it), reported
    per bucket of messages per packet."""
    from velocimex.wire import moldudp64
    from velocimex.wire.pcap import iter_udp_payloads

    payloads = []
    for _, payload in iter_udp_payloads(path):
        if moldudp64.parse_packet(payload).count in (0, 0xFFFF):
            continue
        payloads.append(bytes(payload))
        if len(payloads) >= max_packets:
            break
    lat, counts = _packet_latencies(payloads)
    result = {"packets": len(payloads), "messages": int(counts.sum())}
    result.update(_latency_summary(lat, counts))
    lat, counts = _packet_latencies(_repack(payloads, np.random.default_rng(BENCH_SEED)))
    result["by_msgs_per_packet"] = {
        f"{lo}-{hi}" if hi > lo else f"{lo}": _latency_summary(
            lat[(counts >= lo) & (counts <= hi)], counts[(counts >= lo) & (counts <= hi)]
        )
        for lo, hi in STREAM_BUCKETS
    }
    result["peak_rss_mb"] = _own_peak_mb()
    return result


def _packet_latencies(payloads: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    from velocimex.sw_fallback.engine import BookEngine

    BookEngine().process_packet(payloads[0])  # JIT load, on an engine thrown away
    engine = BookEngine()
    lat = np.empty(len(payloads), np.int64)
    counts = np.array([int.from_bytes(p[18:20], "big") for p in payloads], np.int64)
    clock = time.perf_counter_ns
    process = engine.process_packet
    for i, payload in enumerate(payloads):
        t0 = clock()
        process(payload)
        lat[i] = clock() - t0
    return lat, counts


def _repack(payloads: list[bytes], rng: np.random.Generator) -> list[bytes]:
    """The payloads' messages, in order and with their sequence numbers, in new packets."""
    from velocimex.wire import moldudp64

    blocks: list[bytes] = []
    session, seq0, _ = moldudp64.HEADER.unpack_from(payloads[0], 0)
    for payload in payloads:
        body = moldudp64.parse_packet(payload).blocks
        i = 0
        while i < len(body):
            n = 2 + int.from_bytes(body[i : i + 2], "big")
            blocks.append(bytes(body[i : i + n]))
            i += n
    out, i = [], 0
    while i < len(blocks):
        lo, hi = STREAM_BUCKETS[int(rng.integers(len(STREAM_BUCKETS)))]
        n = min(int(rng.integers(lo, hi + 1)), len(blocks) - i)
        out.append(moldudp64.HEADER.pack(session, seq0 + i, n) + b"".join(blocks[i : i + n]))
        i += n
    return out


def _latency_summary(lat: np.ndarray, counts: np.ndarray) -> dict:
    if not len(lat):
        return {"packets": 0}
    pct = np.percentile(lat, [50, 90, 99, 99.9])
    return {
        "packets": len(lat),
        "msgs_per_packet": float(counts.mean()),
        "p50_ns": float(pct[0]),
        "p90_ns": float(pct[1]),
        "p99_ns": float(pct[2]),
        "p99_9_ns": float(pct[3]),
        "max_ns": float(lat.max()),
    }


def run_all(out_dir: Path, messages: int) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = out_dir / "data"
    data.mkdir(exist_ok=True)
    itch_file = str(data / f"bench_{messages}.itch")
    pcap_file = str(data / "bench_1000000.pcap")
    report: dict = {
        "command": f"python -m velocimex.bench_suite --out {out_dir} --messages {messages}",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpu": _cpu_name(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
    }
    steps = [
        ("generate_1m", lambda: _child("generate", [pcap_file, "1000000"])),
        ("generate_big", lambda: _child("generate", [itch_file, str(messages)])),
        ("sw_batch", lambda: _child("sw_batch", [itch_file, str(data / "bench.csv")])),
        ("sw_kernel", lambda: _child("sw_kernel", [itch_file, "5"])),
        ("itch_book", lambda: _child("itch_book", [itch_file])),
        ("compare", lambda: _child("compare", [itch_file])),
        ("sw_stream", lambda: _child("sw_stream", [pcap_file, "20000"])),
        ("feed_loopback", lambda: _module_json("velocimex.feed.bench", out_dir / "feed.json")),
        (
            "order_path",
            lambda: _module_json(
                "velocimex.control.bench", out_dir / "order_path.json", "--orders", "20000"
            ),
        ),
    ]
    for name, step in steps:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        report[name] = step()
        print(f"[bench] {name}: {json.dumps(report[name])[:300]}", file=sys.stderr, flush=True)
    sw, ib = report["sw_batch"], report["itch_book"]
    report["sw_over_itch_book"] = sw["msgs_per_second"] / ib["msgs_per_second"]
    (out_dir / "bench.json").write_text(json.dumps(report, indent=1))
    (out_dir / "bench.md").write_text(render_markdown(report))
    print((out_dir / "bench.md").read_text())
    return report


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def render_markdown(r: dict) -> str:
    sw, ib, st = r["sw_batch"], r["itch_book"], r["sw_stream"]
    g1, gb, cmp_ = r["generate_1m"], r["generate_big"], r["compare"]
    m = r["machine"]
    rows = [
        ("generate 1,000,000 messages (pcap)", f"{g1['seconds']:.1f} s"),
        (f"generate {gb['messages']:,} messages (BinaryFILE)", f"{gb['seconds']:.1f} s"),
        (
            "software engine, batch: decode + book + records",
            f"{sw['msgs_per_second'] / 1e6:.2f} M msg/s "
            f"({sw['messages']:,} messages in {sw['engine_seconds']:.2f} s)",
        ),
        ("records emitted", f"{sw['records']:,}"),
        ("CSV writing (separate)", f"{sw['csv_seconds']:.2f} s"),
        ("software engine peak memory (whole process)", f"{sw['peak_rss_mb']:.0f} MB"),
    ]
    if "sw_kernel" in r:
        k = r["sw_kernel"]
        rows.append(
            (
                "software kernel alone (chunks in memory), thread CPU time per message: "
                f"min / median of {len(k['ns_per_msg_runs'])} runs",
                f"{k['ns_per_msg_min']:.1f} / {k['ns_per_msg_median']:.1f} ns "
                f"({1e3 / k['ns_per_msg_min']:.1f} M msg/s at the min)",
            )
        )
    rows += [
        (
            f"itch-book {ib['version']} `bbo`, same file",
            f"{ib['msgs_per_second'] / 1e6:.2f} M msg/s "
            f"({ib['seconds']:.2f} s, peak {ib['peak_rss_mb']:.0f} MB)",
        ),
        ("ratio Velocimex / itch-book", f"{r['sw_over_itch_book']:.2f}x"),
        (
            "records identical to itch-book's bbo",
            f"{cmp_['identical']} ({cmp_['ours']:,} vs {cmp_['itch_book']:,} rows, "
            f"{cmp_['flagged']} flagged)",
        ),
        (
            f"streaming per packet ({st['msgs_per_packet']:.1f} msgs): p50 / p90 / p99 / p99.9",
            _pcts(st),
        ),
    ] + [
        (f"streaming per packet, {k} msgs ({b['packets']:,} packets): p50 / p90 / p99 / p99.9",
         _pcts(b))
        for k, b in st.get("by_msgs_per_packet", {}).items()
        if b["packets"]
    ]  # fmt: skip
    table = "\n".join(f"| {a} | {b} |" for a, b in rows)
    return (
        f"# Velocimex benchmark ({r['date']})\n\n"
        f"Command: `{r['command']}` (`make bench`).\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, numpy {m['numpy']}.\n\n"
        f"| figure | value |\n|---|---|\n{table}\n"
        + "".join(
            f"\n## {title} (`python -m {module}`)\n\n```\n{json.dumps(r[key], indent=1)}\n```\n"
            for key, title, module in (
                ("feed_loopback", "Feed handler on loopback", "velocimex.feed.bench"),
                ("order_path", "Order path and risk checks", "velocimex.control.bench"),
            )
            if key in r
        )
    )


def _pcts(st: dict) -> str:
    keys = ("p50_ns", "p90_ns", "p99_ns", "p99_9_ns")
    return " / ".join(f"{st[k] / 1e3:.2f}" for k in keys) + " us"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default="results", help="results folder")
    p.add_argument("--messages", type=int, default=10_000_000, help="size of the batch capture")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child:
        jobs = {
            "generate": lambda: job_generate(a.rest[0], int(a.rest[1])),
            "sw_batch": lambda: job_sw_batch(a.rest[0], a.rest[1]),
            "sw_kernel": lambda: job_sw_kernel(a.rest[0], int(a.rest[1])),
            "itch_book": lambda: job_itch_book(a.rest[0]),
            "compare": lambda: job_compare(a.rest[0]),
            "sw_stream": lambda: job_sw_stream(a.rest[0], int(a.rest[1])),
        }
        print(json.dumps(jobs[a.child]()))
        return 0
    run_all(Path(a.out), a.messages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
