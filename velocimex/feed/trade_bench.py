"""Cost of the trade prints next to the book engine, per message, in the feed's batch shape.

``python -m velocimex.feed.trade_bench [--messages N] [--batch B]`` generates a session, cuts
it into batches of B messages (a receive wake-up's worth) and times, over the same batches,
the calls the feed handler makes: the sw book engine's ``process`` alone, and followed by
``TradeTap.process_view`` priced by the engine's executions (the sw feed path) or by the
tap's own order index (the hw engine's path); best of five passes each, after a warm-up pass,
the two tap modes interleaved pass by pass. One JSON line: ns per message of each and the
prints found.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from velocimex.feed.trades import TradeTap
from velocimex.wire import blocks


def _batches(data: bytes, batch: int) -> list[tuple[bytes, np.ndarray]]:
    offsets, end, _ = blocks.block_offsets(np.frombuffer(data, dtype=np.uint8))
    bounds = [int(o) for o in offsets] + [end]
    out = []
    for i in range(0, len(offsets), batch):
        j = min(i + batch, len(offsets))
        seqs = np.arange(i + 1, j + 1, dtype=np.uint64)
        out.append((data[bounds[i] : bounds[j]], seqs))
    return out


def _best(make, method: str, batches, passes: int = 5) -> float:
    best = float("inf")
    for _ in range(passes + 1):  # the first pass compiles and warms the caches
        call = getattr(make(), method)
        t0 = time.perf_counter_ns()
        for data, seqs in batches:
            call(data, seqs)
        best = min(best, time.perf_counter_ns() - t0)
    return best


def _feed_pair(batches, passes: int = 5) -> tuple[float, float]:
    """Best ns of engine + priced tap and of engine + indexed tap, passes interleaved (A, B,
    A, B, ...) so that load from other processes falls on both alike."""
    from velocimex.sw_fallback.engine import BookEngine

    best = {True: float("inf"), False: float("inf")}
    for _ in range(passes + 1):
        for priced in (True, False):
            engine, tap = BookEngine(), TradeTap(priced_by_engine=priced)
            process, scan = engine.process, tap.process_view
            t0 = time.perf_counter_ns()
            if priced:
                executions = engine.executions
                for data, seqs in batches:
                    process(data, seqs)
                    scan(data, seqs, executions())
            else:
                for data, seqs in batches:
                    process(data, seqs)
                    scan(data, seqs)
            best[priced] = min(best[priced], time.perf_counter_ns() - t0)
    return best[True], best[False]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--messages", type=int, default=500_000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--symbols", type=int, default=8)
    args = p.parse_args(argv)
    from velocimex.generate.write import write_session
    from velocimex.sw_fallback.engine import BookEngine

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "session.itch"
        write_session(path, args.symbols, args.messages, 1)
        data = path.read_bytes()
    batches = _batches(data, args.batch)
    n = sum(len(s) for _, s in batches)
    # The calls the feed handler makes on each batch.
    engine_ns = _best(BookEngine, "process", batches)
    priced_ns, indexed_ns = _feed_pair(batches)
    tap = TradeTap()
    prints = sum(len(tap.process(d, s)) for d, s in batches)
    row = {
        "messages": n,
        "batch": args.batch,
        "engine_ns_per_msg": round(engine_ns / n, 1),
        "engine_and_priced_tap_ns_per_msg": round(priced_ns / n, 1),
        "engine_and_indexed_tap_ns_per_msg": round(indexed_ns / n, 1),
        "prints": prints,
    }
    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
