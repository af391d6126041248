"""``velocimex backtest``: a strategy over a capture, with a reproducible report."""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest",
        help="run a strategy over a capture against a simulated exchange and write a report",
        description="Replay a capture (pcap or BinaryFILE) through the software book engine into "
        "a strategy, the order manager and the risk manager, against a simulated exchange with "
        "queue position, latency and fees. Writes report.json (summary and settings) and "
        "pnl.csv (the PnL curve) to --out. The same inputs give byte-identical reports.",
    )
    p.add_argument("capture", type=Path, help="pcap or BinaryFILE, plain or gzipped")
    p.add_argument("--strategy", default="market_maker", help="built-in name or module:Class")
    p.add_argument(
        "--params", default="{}", help='strategy parameters as JSON, e.g. \'{"symbol": "AAPL"}\''
    )
    p.add_argument(
        "--symbols", required=True, help="comma-separated symbols to trade (from the capture)"
    )
    p.add_argument("--order-latency-us", type=float, default=0.0, help="each way, microseconds")
    p.add_argument("--feed-latency-us", type=float, default=0.0, help="microseconds")
    p.add_argument(
        "--maker-fee", type=int, default=0, help="ITCH units (1/10000 USD) per share; <0 rebate"
    )
    p.add_argument("--taker-fee", type=int, default=0, help="ITCH units per share")
    p.add_argument("--sample-ms", type=int, default=1000, help="PnL curve sampling period")
    p.add_argument(
        "--profile-from-capture",
        type=int,
        metavar="BUCKETS",
        help="vwap: set params.profile to the capture's own traded volume of params.symbol in "
        "BUCKETS equal slices of [start_ns, start_ns + duration_ns) (start_ns default: the "
        "symbol's first book top); the profile used is written to report.json",
    )
    p.add_argument("--out", type=Path, required=True, help="report directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from velocimex.control.backtest import BacktestConfig, load_book_tops, run_backtest

    try:
        params = json.loads(args.params)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--params is not JSON: {exc}") from None
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    config = BacktestConfig(
        strategy=args.strategy,
        params=params,
        symbols=symbols,
        order_latency_ns=int(args.order_latency_us * 1000),
        feed_latency_ns=int(args.feed_latency_us * 1000),
        maker_fee=args.maker_fee,
        taker_fee=args.taker_fee,
        sample_ns=args.sample_ms * 1_000_000,
    )
    from velocimex.control.strategy import Strategy, load_strategy_class

    try:
        strategy_class = load_strategy_class(args.strategy)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    records, locate_symbols = load_book_tops(args.capture)
    trades = None
    if strategy_class.on_trade is not Strategy.on_trade or args.profile_from_capture:
        # Only volume-driven strategies pay for the second pass over the capture.
        from velocimex.control.trade_prints import load_trades

        trades, _ = load_trades(args.capture, symbols)
    if args.profile_from_capture:
        params = _profile_from_capture(params, records, locate_symbols, trades, args)
        config = replace(config, params=params)
    if strategy_class.on_trade is Strategy.on_trade:
        trades = None
    result = run_backtest(records, locate_symbols, config, trades=trades)
    args.out.mkdir(parents=True, exist_ok=True)
    report = {
        "capture": args.capture.name,
        "strategy": args.strategy,
        "params": params,
        "symbols": list(symbols),
        "order_latency_ns": config.order_latency_ns,
        "feed_latency_ns": config.feed_latency_ns,
        "maker_fee": config.maker_fee,
        "taker_fee": config.taker_fee,
        "sample_ns": config.sample_ns,
        "summary": result.summary(),
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    with open(args.out / "pnl.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(asdict(result.curve[0])))
        writer.writeheader()
        for point in result.curve:
            writer.writerow(
                {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(point).items()}
            )
    print(json.dumps(result.summary(), indent=2))
    return 0


def _profile_from_capture(
    params: dict[str, Any], records: Any, locate_symbols: dict[int, str], trades: Any, args: Any
) -> dict[str, Any]:
    from velocimex.control.trade_prints import volume_profile

    symbol, duration = params.get("symbol"), params.get("duration_ns")
    locate = next((loc for loc, s in locate_symbols.items() if s == symbol), None)
    if locate is None or not isinstance(duration, int) or duration < 1:
        raise SystemExit(
            "--profile-from-capture needs params symbol (in the capture) and duration_ns"
        )
    start = params.get("start_ns")
    if start is None:
        mine = records[records["locate"] == locate]
        if not len(mine):
            raise SystemExit(f"no book tops of {symbol} in the capture")
        start = int(mine["timestamp"][0])
    profile = volume_profile(trades, locate, start, start + duration, args.profile_from_capture)
    return {**params, "start_ns": start, "profile": profile}
