"""A trading core over several venues from the settings: a session per venue (OUCH, or paper),
the venue set that puts them behind the risk manager, and the smart order router."""

from __future__ import annotations

from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal
from velocimex.control.ouch_venue import OuchVenue
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.routing import RoutingVenue, SmartRouter
from velocimex.control.settings import Settings
from velocimex.control.venue import Venue
from velocimex.control.venue_set import VenueSet


def build_routed_core(settings: Settings) -> TradingCore:
    """The core of ``settings.venues``; ``core.router`` is its :class:`SmartRouter`."""
    if not settings.venues:
        raise ValueError("no venues configured")
    instruments = settings.domain_instruments()
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    sessions: dict[str, Venue] = {}
    for venue in settings.venues:
        if venue.ouch:
            host, _, port = venue.ouch.rpartition(":")
            sessions[venue.name] = OuchVenue(
                host or "127.0.0.1",
                int(port),
                venue.ouch_user,
                venue.ouch_password.get_secret_value(),
                data_dir / f"ouch_refs_{venue.name}.jsonl",
                fsync=settings.fsync,
                group_commit=settings.journal_group_commit,
            )
        else:
            sessions[venue.name] = PaperVenue(instruments)
    venue_set = VenueSet(sessions, data_dir / "venue_seq.jsonl", fsync=settings.fsync)
    core = TradingCore(
        data_dir,
        instruments,
        venue_set,
        fsync=settings.fsync,
        group_commit=settings.journal_group_commit,
    )
    SmartRouter(
        core,
        [RoutingVenue(v.name, v.fee) for v in settings.venues],
        venue_set.on_venue_book_top,
        max_age_ms=settings.max_venue_data_age_ms,
        journal=Journal(
            data_dir / "routing.jsonl",
            fsync=settings.fsync,
            group_commit=settings.journal_group_commit,
        ),
        session_problem=venue_set.session_problem,
    )
    return core
