"""``velocimex serve``: the control plane (REST, WebSocket, /metrics) under uvicorn."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from functools import partial
from pathlib import Path

from pydantic import SecretStr
from velocimex.control.settings import InstrumentSetting, VenueSetting


def parse_instruments(text: str) -> list[InstrumentSetting]:
    """``AAPL:7,MSFT:9``: symbol and stock locate of each instrument to trade."""
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        symbol, sep, locate = item.partition(":")
        if not sep or not locate.isdigit():
            raise argparse.ArgumentTypeError(f"instrument {item!r} is not SYMBOL:LOCATE")
        out.append(InstrumentSetting(symbol=symbol.upper(), locate=int(locate)))
    return out


def parse_venue(text: str) -> VenueSetting:
    """``NAME=paper|HOST:PORT[,feed=ENDPOINT][,fee=N]``: one venue to route over."""
    name, sep, rest = text.partition("=")
    parts = [p.strip() for p in rest.split(",")] if sep else []
    if not parts or not parts[0]:
        raise argparse.ArgumentTypeError(f"venue {text!r} is not NAME=paper|HOST:PORT[,...]")
    fields: dict[str, object] = {"name": name.strip()}
    if parts[0] != "paper":
        fields["ouch"] = parts[0]
    for option in parts[1:]:
        key, eq, value = option.partition("=")
        if not eq or key not in ("feed", "fee"):
            raise argparse.ArgumentTypeError(f"venue option {option!r} is not feed=... or fee=N")
        if key == "fee":
            try:
                fields["fee"] = int(value)
            except ValueError:
                raise argparse.ArgumentTypeError(f"fee {value!r} is not an integer") from None
        else:
            fields["feed"] = value
    try:
        return VenueSetting(**fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"venue {text!r}: {exc}") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the control plane (REST + WebSocket API, /metrics) with uvicorn",
        description="Start the trading control plane. State (order journal, audit log, users, "
        "JWT secret) lives in --data-dir and survives restarts. Orders go to the built-in paper "
        "venue, or with --ouch to an OUCH 5.0 session. On first start an 'admin' user is "
        "created; its password is $VELOCIMEX_ADMIN_PASSWORD or a random one printed once on "
        "stderr.",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--data-dir", type=Path, default=Path("var/control"), help="state directory")
    p.add_argument(
        "--instruments",
        type=parse_instruments,
        default=parse_instruments("AAPL:1,MSFT:2"),
        help="tradable instruments as SYMBOL:LOCATE,... (default AAPL:1,MSFT:2)",
    )
    p.add_argument(
        "--ouch",
        metavar="HOST:PORT",
        help="trade on an OUCH 5.0 / SoupBinTCP session (e.g. `velocimex exchange`) instead "
        "of the paper venue",
    )
    p.add_argument("--ouch-user", default="trader", help="SoupBinTCP username")
    p.add_argument(
        "--ouch-password",
        default=os.environ.get("VELOCIMEX_OUCH_PASSWORD", "secret"),
        help="SoupBinTCP password (default $VELOCIMEX_OUCH_PASSWORD or 'secret')",
    )
    p.add_argument(
        "--feed",
        metavar="ENDPOINT",
        action="append",
        default=[],
        help="subscribe to book-update records on this pyzmq endpoint (repeatable), e.g. "
        "tcp://127.0.0.1:5560 (the feed handler's default)",
    )
    p.add_argument(
        "--venue",
        metavar="NAME=paper|HOST:PORT[,feed=ENDPOINT][,fee=N]",
        type=parse_venue,
        action="append",
        default=[],
        help="a venue to route parent orders over (repeatable; give two for smart order "
        "routing): a paper venue or an OUCH session (--ouch-user/--ouch-password), its own "
        "feed handler bus, and its fee per share (routing tie-breaker). Replaces --ouch",
    )
    p.add_argument(
        "--ui-dir",
        type=Path,
        default=None,
        help="built web UI to serve at / (default ui/dist of this checkout, or $VELOCIMEX_UI_DIR)",
    )
    p.add_argument(
        "--journal-fsync-per-record",
        dest="journal_group_commit",
        action="store_false",
        help="fsync every journal record before the order leaves, instead of the default: "
        "records written to the OS before each order leaves, fsync batched on a thread "
        "(docs/control-plane.md says what a power loss can then lose and how it is recovered)",
    )
    p.add_argument("--log-level", default="info", help="uvicorn log level")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from velocimex.control.app import create_app
    from velocimex.control.auth import Role, UserStore
    from velocimex.control.settings import Settings

    if args.venue and args.ouch:
        print("velocimex serve: --venue and --ouch exclude each other", file=sys.stderr)
        return 2
    venues = [
        v.model_copy(
            update={"ouch_user": args.ouch_user, "ouch_password": SecretStr(args.ouch_password)}
        )
        for v in args.venue
    ]
    settings = Settings.load(
        args.data_dir,
        instruments=args.instruments,
        venues=venues,
        journal_group_commit=args.journal_group_commit,
    )
    users = UserStore(settings.data_dir / "users.json")
    if len(users) == 0:
        password = os.environ.get("VELOCIMEX_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        users.add("admin", password, Role.ADMIN)
        if "VELOCIMEX_ADMIN_PASSWORD" not in os.environ:
            print(
                f"velocimex serve: created user 'admin' with password {password}", file=sys.stderr
            )
    core = None
    if args.ouch:
        from velocimex.control.core import TradingCore
        from velocimex.control.ouch_venue import OuchVenue

        host, _, port = args.ouch.rpartition(":")
        venue = OuchVenue(
            host or "127.0.0.1",
            int(port),
            args.ouch_user,
            args.ouch_password,
            settings.data_dir / "ouch_refs.jsonl",
            group_commit=settings.journal_group_commit,
        )
        core = TradingCore(
            settings.data_dir,
            settings.domain_instruments(),
            venue,
            group_commit=settings.journal_group_commit,
        )
    app = create_app(settings, core=core, users=users, ui_dir=args.ui_dir)
    from velocimex.control.feed_bridge import BookTopSubscriber

    core = app.state.core
    locates = {symbol: inst.locate for symbol, inst in core.instruments.items()}
    # Trade prints reach the core (POV and other volume followers) from the --feed buses; the
    # per-venue feeds below carry only each venue's book to the router.
    subscribers = [
        BookTopSubscriber(endpoint, core.on_book_top, locates, core.on_trade)
        for endpoint in args.feed
    ]
    router = core.router
    for venue in settings.venues:
        if venue.feed and router is not None:
            # Each venue's own book: the router consolidates them for risk and strategies.
            sink = partial(router.on_venue_book_top, venue.name)
            subscribers.append(BookTopSubscriber(venue.feed, sink, locates))
    for subscriber in subscribers:
        subscriber.start()

    def engine_counters() -> tuple[str, dict[str, int]] | None:
        for subscriber in subscribers:
            status = subscriber.last_status
            if status and isinstance(status.get("engine"), dict):
                return f"feed {subscriber.endpoint} ({status.get('state', '?')})", status["engine"]
        return None

    app.state.engine_counters = engine_counters

    def feed_status() -> tuple[str, dict] | None:
        for subscriber in subscribers:
            if isinstance(subscriber.last_status, dict):
                return subscriber.endpoint, subscriber.last_status
        return None

    app.state.feed_status = feed_status
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        for subscriber in subscribers:
            subscriber.stop()
        core.close()
    return 0
