"""``velocimex generate``: write a synthetic trading session to a capture file."""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "generate",
        help="write a realistic, deterministic synthetic NASDAQ ITCH 5.0 trading session",
        description=(
            "Simulate one trading day (09:25-16:05) of N stocks with market makers, takers, "
            "hidden trades, crosses, halts and admin messages, and write exactly M ITCH "
            "messages as a pcap of MoldUDP64 packets or a NASDAQ BinaryFILE. The same seed "
            "gives a byte-identical file."
        ),
    )
    p.add_argument("--symbols", type=int, default=8, help="number of stocks (locates 1..N)")
    p.add_argument("--messages", type=int, required=True, help="exact number of ITCH messages")
    p.add_argument("--seed", type=int, default=1, help="random seed (0..2**63-1)")
    p.add_argument(
        "--out", required=True, help="output file: .pcap[.gz] or .itch/.bin[.gz] (BinaryFILE)"
    )
    p.add_argument(
        "--format",
        choices=("pcap", "binaryfile"),
        default=None,
        help="override the format implied by the --out suffix",
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from velocimex.generate.write import write_session

    started = time.perf_counter()
    try:
        stats = write_session(args.out, args.symbols, args.messages, args.seed, fmt=args.format)
    except ValueError as exc:
        print(f"velocimex generate: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    print(
        f"wrote {stats.messages} messages ({stats.format}, {args.symbols} symbols, "
        f"seed {args.seed}) to {args.out} in {elapsed:.1f} s",
        file=sys.stderr,
    )
    return 0
