"""``velocimex exchange``: run the simulated venue until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import sys

from velocimex.exchange.marketdata import LineConfig


def _endpoint(text: str) -> LineConfig:
    group, sep, port = text.rpartition(":")
    if not sep or not group or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected GROUP:PORT, got {text!r}")
    return LineConfig(group, int(port))


def _credential(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not 1 <= len(user) <= 6 or not 1 <= len(password) <= 10:
        raise argparse.ArgumentTypeError(
            f"expected USER:PASSWORD (user 1-6, password 1-10 characters), got {text!r}"
        )
    return user, password


def _symbols(text: str) -> tuple[str, ...]:
    symbols = tuple(s.strip().upper() for s in text.split(",") if s.strip())
    bad = [s for s in symbols if len(s) > 8 or not s.isascii()]
    if not symbols or bad:
        raise argparse.ArgumentTypeError(f"expected SYM,SYM,... of 1-8 ASCII chars, got {text!r}")
    if len(set(symbols)) != len(symbols):
        raise argparse.ArgumentTypeError(f"duplicate symbols in {text!r}")
    return symbols


def register(sub: argparse._SubParsersAction) -> None:
    from velocimex.exchange.server import DEFAULT_SYMBOLS

    p = sub.add_parser(
        "exchange",
        help="run the simulated NASDAQ-style venue (ITCH/MoldUDP64 out, OUCH/SoupBinTCP in)",
        description=(
            "Simulated venue: price-time matching, background participants, ITCH 5.0 over "
            "MoldUDP64 multicast on lines A and B, a MoldUDP64 retransmission server and "
            "OUCH 5.0 order entry over SoupBinTCP. Ctrl-C ends the session cleanly."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="OUCH/SoupBinTCP listen address")
    p.add_argument("--ouch-port", type=int, default=15000, help="OUCH/SoupBinTCP TCP port")
    p.add_argument(
        "--line-a", type=_endpoint, default=_endpoint("239.192.1.1:26400"), help="GROUP:PORT"
    )
    p.add_argument(
        "--line-b", type=_endpoint, default=_endpoint("239.192.1.2:26401"), help="GROUP:PORT"
    )
    p.add_argument(
        "--interface", default="127.0.0.1", help="address of the interface multicast leaves by"
    )
    p.add_argument(
        "--retrans-port",
        type=int,
        default=26402,
        help="UDP port of the MoldUDP64 retransmission server (on --host)",
    )
    p.add_argument(
        "--symbols",
        type=_symbols,
        default=DEFAULT_SYMBOLS,
        help=f"comma-separated symbols (default {','.join(DEFAULT_SYMBOLS)})",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the simulated participants")
    p.add_argument(
        "--rate", type=float, default=200.0, help="participant actions per second (0 = none)"
    )
    p.add_argument(
        "--user",
        dest="users",
        type=_credential,
        action="append",
        help="OUCH account USER:PASSWORD, repeatable (default trader:secret)",
    )
    p.add_argument("--session", help="session name, up to 10 characters (default: from time)")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics (tick-to-trade, CPU, RSS) on 127.0.0.1:PORT/metrics",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from velocimex.exchange.server import VenueConfig, run_venue

    if args.session is not None and len(args.session) > 10:
        print("velocimex exchange: --session is at most 10 characters", file=sys.stderr)
        return 2
    if args.rate < 0:
        print("velocimex exchange: --rate must be >= 0", file=sys.stderr)
        return 2
    config = VenueConfig(
        symbols=args.symbols,
        seed=args.seed,
        rate=args.rate,
        interface=args.interface,
        lines=(args.line_a, args.line_b),
        retrans_host=args.host,
        retrans_port=args.retrans_port,
        ouch_host=args.host,
        ouch_port=args.ouch_port,
        credentials=dict(args.users or [("trader", "secret")]),
        session=args.session,
    )

    def announce(venue) -> None:
        if args.metrics_port is not None:
            from velocimex.hwsw_bench.monitor import exchange_monitor

            exchange_monitor(venue, args.metrics_port)
        lines = ", ".join(f"{ln.group}:{ln.port}" for ln in config.lines)
        print(
            f"exchange session {venue.session}: ITCH/MoldUDP64 on {lines} via "
            f"{config.interface}; retransmission udp {venue.retrans_address[0]}:"
            f"{venue.retrans_address[1]}; OUCH/SoupBinTCP tcp {venue.ouch_address[0]}:"
            f"{venue.ouch_address[1]}; symbols {','.join(config.symbols)}; Ctrl-C to stop",
            flush=True,
        )

    async def main() -> None:
        venue = await run_venue(config, args.duration, on_start=announce)
        md = venue.market_data
        print(
            f"session {venue.session} ended: {md.next_seq - 1} ITCH messages, "
            f"{md.counters.packets_sent} packets, {md.counters.retrans_requests} re-requests, "
            f"{venue.gateway.counters.orders_entered} OUCH orders",
            flush=True,
        )

    try:
        asyncio.run(main())
    except OSError as exc:
        print(f"velocimex exchange: {exc}", file=sys.stderr)
        return 1
    return 0
