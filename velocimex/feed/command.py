"""``velocimex feed``: run the feed handler; ``velocimex watch``: print a live top of book."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from velocimex.feed.bus import DEFAULT_PUB, DEFAULT_SNAPSHOT


def _group_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _line(text: str) -> tuple[str, int, str | None]:
    """GROUP:PORT, optionally @ADDRESS of the interface this line is joined on."""
    where, _, interface = text.partition("@")
    group, port = _group_port(where)
    return group, port, interface or None


def _retrans(text: str) -> tuple[str, int] | None:
    return None if text.lower() == "none" else _group_port(text)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "feed",
        help="run the feed handler: ITCH/MoldUDP64 lines A+B -> book engine -> zmq PUB",
        description=(
            "Receives MoldUDP64 on two multicast lines (or a pcap, or an AF_PACKET ring), "
            "arbitrates A/B by sequence number, recovers gaps from the retransmission server, "
            "runs the book engine and publishes book-update records and trade prints on zmq PUB "
            "with a "
            "snapshot service for late joiners. See docs/feed-handler.md."
        ),
    )
    p.add_argument(
        "--line-a",
        type=_line,
        default=("239.192.1.1", 26400, None),
        help="GROUP:PORT[@IFADDR] of line A (IFADDR overrides --interface for this line)",
    )
    p.add_argument(
        "--line-b",
        type=_line,
        default=("239.192.1.2", 26401, None),
        help="GROUP:PORT[@IFADDR] of line B",
    )
    p.add_argument(
        "--no-line-b", action="store_true", help="receive line A only (single-line feed)"
    )
    p.add_argument(
        "--interface", default="127.0.0.1", help="address of the interface to join groups on"
    )
    p.add_argument(
        "--retrans",
        type=_retrans,
        default=("127.0.0.1", 26402),
        help="HOST:PORT of the MoldUDP64 retransmission server, or 'none'",
    )
    p.add_argument("--source", choices=("udp", "pcap", "afpacket"), default="udp")
    p.add_argument(
        "--ifname", default="lo", help="interface of the AF_PACKET ring ('any': all interfaces)"
    )
    p.add_argument("--pcap", help="capture file for --source pcap")
    p.add_argument("--speed", choices=("max", "recorded"), default="max", help="pcap replay pace")
    p.add_argument("--engine", choices=("sw", "hw"), default="sw", help="book engine")
    p.add_argument("--symbols", help="comma-separated symbols to track (default: all)")
    p.add_argument("--pub", default=DEFAULT_PUB, help=f"zmq PUB endpoint (default {DEFAULT_PUB})")
    p.add_argument(
        "--snapshot",
        default=DEFAULT_SNAPSHOT,
        help=f"zmq REP snapshot endpoint (default {DEFAULT_SNAPSHOT})",
    )
    p.add_argument(
        "--stale-ms", type=float, default=2500.0, help="no packet on any line this long = stale"
    )
    p.add_argument("--gap-grace-ms", type=float, default=2.0, help="wait for the other line")
    p.add_argument("--retries", type=int, default=8, help="re-requests before a gap is given up")
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--metrics-port",
        type=int,
        help="serve Prometheus metrics (feed latency, CPU, RSS) on 127.0.0.1:PORT/metrics",
    )
    p.set_defaults(func=run_feed)

    w = sub.add_parser(
        "watch",
        help="print the live top of book of one symbol from the feed handler's bus",
        description="Takes the snapshot for SYMBOL, then prints each update from the PUB stream.",
    )
    w.add_argument("symbol", help="symbol, e.g. AAPL")
    w.add_argument("--pub", default=DEFAULT_PUB, help="zmq PUB endpoint of the feed handler")
    w.add_argument("--snapshot", default=DEFAULT_SNAPSHOT, help="zmq REP snapshot endpoint")
    w.add_argument("--count", type=int, help="exit after printing this many updates")
    w.add_argument("--timeout", type=float, default=5.0, help="snapshot reply timeout, seconds")
    w.set_defaults(func=run_watch)


def build_handler(args: argparse.Namespace):
    from velocimex.feed.arbiter import ArbiterConfig
    from velocimex.feed.bus import MarketDataBus
    from velocimex.feed.engines import engine_factory
    from velocimex.feed.handler import FeedConfig, FeedHandler
    from velocimex.feed.sources import LineAddress, PcapSource, UdpMulticastSource

    symbols = [s.strip().upper() for s in args.symbols.split(",")] if args.symbols else None
    make_engine = engine_factory(args.engine, symbols)
    lines = [LineAddress("A", *args.line_a)]
    if not args.no_line_b:
        lines.append(LineAddress("B", *args.line_b))
    retrans = args.retrans
    if args.source == "udp":
        source = UdpMulticastSource(lines, args.interface)
    elif args.source == "afpacket":
        from velocimex.feed.afpacket import AfPacketSource

        source = AfPacketSource(lines, args.ifname, args.interface)
    else:
        if not args.pcap:
            raise ValueError("--source pcap needs --pcap FILE")
        source = PcapSource(args.pcap, lines, args.speed)
        retrans = None if args.retrans == ("127.0.0.1", 26402) else retrans
    arbiter = ArbiterConfig(
        gap_grace_ns=int(args.gap_grace_ms * 1e6),
        max_retries=args.retries,
        retransmission=retrans is not None,
        recover_from_start=args.source != "pcap",
    )
    config = FeedConfig(
        retrans=retrans,
        stale_ms=args.stale_ms,
        arbiter=arbiter,
        measure_latency=args.source == "udp",
    )
    try:
        bus = MarketDataBus(args.pub, args.snapshot or None)
    except Exception:
        source.close()
        raise
    return FeedHandler(source, make_engine, bus, config, symbols)


def run_feed(args: argparse.Namespace) -> int:
    import zmq

    from velocimex.feed.engines import EngineUnavailable
    from velocimex.feed.sources import SourceUnavailable
    from velocimex.wire.pcap import PcapError

    try:
        handler = build_handler(args)
    except (EngineUnavailable, SourceUnavailable, PcapError, ValueError) as exc:
        print(f"velocimex feed: {exc}", file=sys.stderr)
        return 2
    except (OSError, zmq.ZMQError) as exc:
        print(f"velocimex feed: {exc}", file=sys.stderr)
        return 1
    if args.metrics_port is not None:
        from velocimex.hwsw_bench.monitor import feed_monitor

        try:
            feed_monitor(handler, args.metrics_port)
        except OSError as exc:
            # A port in use is a usage error, not a crash with the sockets left open.
            handler.close()
            print(f"velocimex feed: --metrics-port {args.metrics_port}: {exc}", file=sys.stderr)
            return 1
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(
        f"feed: source {args.source}, lines {', '.join(handler.source.lines)}, retransmission "
        f"{handler.config.retrans}, engine {args.engine}; PUB {args.pub}, snapshot "
        f"{args.snapshot}",
        flush=True,
    )
    try:
        final = handler.run(stop, args.duration)
    except PcapError as exc:
        print(f"velocimex feed: {exc}", file=sys.stderr)
        return 1
    finally:
        handler.close()
    print(json.dumps(final, sort_keys=True), flush=True)
    return 0


def _format(symbol: str, record) -> str:
    return (
        f"{symbol:<8} seq {int(record['seq']):>10}  bid {int(record['bid_qty']):>8} @ "
        f"{int(record['bid_px']) / 10_000:>10.4f}   ask {int(record['ask_qty']):>8} @ "
        f"{int(record['ask_px']) / 10_000:>10.4f}  flags 0x{int(record['flags']):02x}"
    )


def run_watch(args: argparse.Namespace) -> int:
    import numpy as np
    import zmq

    from velocimex import book_contract as bc
    from velocimex.feed.bus import STATUS_TOPIC, topic

    symbol = args.symbol.strip().upper()
    ctx = zmq.Context.instance()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.LINGER, 0)
    # Subscribe before the snapshot so no update falls between the two.
    sub.setsockopt(zmq.SUBSCRIBE, topic(symbol))
    sub.setsockopt(zmq.SUBSCRIBE, STATUS_TOPIC)
    sub.connect(args.pub)
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(args.snapshot)
    req.send(symbol.encode("ascii"))
    if not req.poll(int(args.timeout * 1000)):
        print(f"velocimex watch: no snapshot reply from {args.snapshot}", file=sys.stderr)
        return 1
    head_raw, body = req.recv_multipart()
    req.close(0)
    head = json.loads(head_raw)
    if "error" in head:
        print(f"velocimex watch: {head['error']}", file=sys.stderr)
        return 2
    session, after = head["session"], head["last_seq"]
    records = np.frombuffer(body, dtype=bc.RECORD_DTYPE)
    print(f"snapshot session {session} at seq {after}:", flush=True)
    if not len(records):
        print(f"{symbol:<8} no book yet", flush=True)
    for r in records:
        print(_format(symbol, r), flush=True)
    printed = 0
    try:
        while args.count is None or printed < args.count:
            t, payload = sub.recv_multipart()
            if t == STATUS_TOPIC:
                status = json.loads(payload)
                if status.get("session") != session:
                    # A restarted exchange numbers from 1 again: no update is older.
                    session, after = status.get("session"), 0
                    print(f"session {session}; feed state {status.get('state')}", flush=True)
                continue
            record = np.frombuffer(payload, dtype=bc.RECORD_DTYPE)[0]
            if int(record["seq"]) <= after:
                continue  # already in the snapshot
            print(_format(symbol, record), flush=True)
            printed += 1
    except KeyboardInterrupt:
        pass
    finally:
        sub.close(0)
    return 0
