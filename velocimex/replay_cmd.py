"""`velocimex replay`: a capture through the software or the hardware engine into the CSV."""

from __future__ import annotations

import argparse
import json
import sys

from velocimex import book_contract as bc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "replay",
        help="run a capture through a book engine and write top-of-book updates as CSV",
        description=(
            "Replay a pcap (MoldUDP64) or NASDAQ BinaryFILE capture, plain or gzipped, through "
            "the software fallback (sw) or the Verilated RTL (hw) and write one CSV row per "
            "top-of-book change: " + bc.CSV_HEADER
        ),
    )
    p.add_argument("input", help="capture file (.pcap, .pcap.gz, .itch, .bin, .gz)")
    p.add_argument("--engine", choices=("sw", "hw"), default="sw", help="book engine (default sw)")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument(
        "--symbols",
        default=None,
        help="comma-separated symbols to track (default: every instrument up to capacity)",
    )
    p.add_argument("--stats", action="store_true", help="print counters as JSON on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()] if args.symbols else None
    try:
        if args.engine == "sw":
            from velocimex.sw_fallback.replay import replay_capture

            result = replay_capture(args.input, args.out, symbols=symbols)
            counters = result.counters
            print(
                f"{result.messages} messages -> {result.records} records in "
                f"{result.engine_seconds:.2f} s ({result.messages_per_second / 1e6:.2f} M msg/s), "
                f"CSV {result.csv_seconds:.2f} s, JIT load {result.jit_seconds:.2f} s",
                file=sys.stderr,
            )
        else:
            counters = replay_hw_csv(args.input, args.out, symbols)
    except (OSError, ValueError) as exc:
        print(f"velocimex replay: {exc}", file=sys.stderr)
        return 2
    problems = {
        k: v
        for k, v in counters.items()
        if v
        and k not in ("messages", "book_messages", "records", "untracked")
        # With a symbol filter, executions and deletes of unfiltered orders are unknown refs.
        and not (symbols and k == "unknown_ref")
    }
    if problems:
        print(f"counters: {json.dumps(problems)}", file=sys.stderr)
    if args.stats:
        print(json.dumps(counters, indent=1), file=sys.stderr)
    return 0


def replay_hw_csv(path: str, out_csv: str, symbols: list[str] | None) -> dict[str, int]:
    """The capture through the Verilated RTL into the same CSV as the software engine."""
    import numpy as np

    from velocimex.hw_engine import HwBookEngine
    from velocimex.sw_fallback.csv_export import CsvWriter, learn_directory
    from velocimex.wire.capture import CaptureReader

    names = np.zeros(bc.DEFAULT_CAPACITY.locates, np.uint64)
    with HwBookEngine(bc.DEFAULT_CAPACITY, symbols) as engine, open(out_csv, "wb") as out:
        writer = CsvWriter(out)
        for chunk in CaptureReader(path):
            learn_directory(chunk.data, names)
            writer.write(engine.process(chunk.data, chunk.seqs), names)
        return engine.counters()
