"""Several venue sessions behind the one session the risk manager holds.

Smart order routing needs sessions to two (or more) venues, each with its own SoupBinTCP
sequenced stream, while the core keeps one path to the wire and one journal. A
:class:`VenueSet` is that path: the risk manager holds it like any session, every child session
is bound to the risk manager's approval authority (so a child sends nothing without an
approval either), and an order goes to the child named by ``Order.venue`` (the first venue when
the order names none).

Each child numbers its reports in its own stream; the order manager deduplicates on one
sequence. The set therefore gives every child report a merged sequence number and journals
``merged -> (venue, venue sequence)`` before passing the report on (write-ahead, like the
order journal). On start, the order manager's next merged sequence says which reports it has;
each child then logs in from the first of its own sequence numbers not yet mapped below that
point, so a restart replays what either venue sent meanwhile exactly once. Execution ids are
prefixed with the venue name, since two exchanges may number their matches alike.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from velocimex.control.journal import Journal
from velocimex.control.venue import (
    ApprovalAuthority,
    ReportHandler,
    RiskApproval,
    Venue,
)

from velocimex.domain import BookTop, Order, OrderEvent, OrderSubmitted


class UnknownVenue(ValueError):
    """An order names a venue this set has no session to."""


class VenueSet:
    name = "venue-set"

    def __init__(
        self,
        sessions: Mapping[str, Venue],
        sequence_journal: str | Path,
        *,
        fsync: bool = True,
        lock: threading.RLock | None = None,
    ) -> None:
        if len(sessions) < 1:
            raise ValueError("a venue set needs at least one session")
        for venue_name in sessions:
            if not venue_name or len(venue_name) > 16 or not venue_name.isidentifier():
                raise ValueError(f"venue name must be a 1-16 character identifier: {venue_name!r}")
        self.sessions = dict(sessions)
        self.default_venue = next(iter(self.sessions))
        self.counters: Counter[str] = Counter()
        self._journal = Journal(sequence_journal, fsync=fsync)
        self._handler: ReportHandler | None = None
        # Reports of two session threads must reach the order manager in merged order; the
        # core shares its lock (see share_lock) so a report never waits on a second lock
        # while the core waits on this one.
        self._lock = lock or threading.RLock()
        self._mapped: dict[str, list[tuple[int, int]]] = {n: [] for n in self.sessions}
        self._last_seq: dict[str, int] = dict.fromkeys(self.sessions, 0)
        self._merged = 0
        for body in self._journal.records():
            if "reset" in body:
                self._forget_from(int(body["reset"]))
            elif body.get("v") in self._mapped:
                self._mapped[body["v"]].append((int(body["m"]), int(body["s"])))
        for venue_name, session in self.sessions.items():
            session.set_report_handler(self._handler_for(venue_name))

    # ------------------------------------------------------------------ the Venue protocol
    def bind_risk(self, authority: ApprovalAuthority) -> None:
        for session in self.sessions.values():
            session.bind_risk(authority)

    def set_report_handler(self, handler: ReportHandler) -> None:
        self._handler = handler

    def share_lock(self, lock: threading.RLock) -> None:
        self._lock = lock

    def connect(self, next_sequence: int) -> None:
        with self._lock:
            # Mapped at or past next_sequence: passed on but never journaled by the order
            # manager (a crash in between). Forget them; the children replay those reports.
            self._forget_from(next_sequence)
            self._journal.append({"reset": next_sequence})
            self._merged = next_sequence - 1
            for venue_name in self.sessions:
                self._last_seq[venue_name] = max(
                    (s for _, s in self._mapped[venue_name]), default=0
                )
        for venue_name, session in self.sessions.items():
            session.connect(self._last_seq[venue_name] + 1)

    def session_problem(self, venue_name: str) -> str | None:
        """Why ``venue_name``'s session cannot take orders now, or None. Sessions that keep
        a link (OUCH) say so with ``connected``; others are always up."""
        session = self.sessions.get(venue_name)
        if session is None:
            return "no such venue"
        if getattr(session, "connected", True):
            return None
        return getattr(session, "error", "") or "session not connected"

    def next_sequence(self, venue_name: str) -> int:
        """The first sequence number of ``venue_name``'s own stream not yet passed on."""
        return self._last_seq[venue_name] + 1

    def session_for(self, order: Order) -> Venue:
        venue_name = order.venue or self.default_venue
        try:
            return self.sessions[venue_name]
        except KeyError:
            raise UnknownVenue(f"no session to venue {venue_name!r}") from None

    def send_order(self, order: Order, approval: RiskApproval) -> None:
        self.session_for(order).send_order(order, approval)

    def send_cancel(self, order: Order, approval: RiskApproval) -> None:
        self.session_for(order).send_cancel(order, approval)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()
        self._journal.close()

    # ------------------------------------------------------------------ market data
    def on_venue_book_top(self, venue_name: str, top: BookTop) -> None:
        """A venue's own top of book, for sessions that simulate fills (the paper venue)."""
        sink = getattr(self.sessions.get(venue_name), "on_book_top", None)
        if callable(sink):
            sink(top)

    # ------------------------------------------------------------------ reports
    def _handler_for(self, venue_name: str) -> ReportHandler:
        def on_report(event: OrderEvent) -> None:
            self._on_report(venue_name, event)

        return on_report

    def _on_report(self, venue_name: str, event: OrderEvent) -> None:
        if type(event) is OrderSubmitted:
            # An order the venue holds and our journal lost: it is that venue's order.
            event = replace(event, order=replace(event.order, venue=venue_name))
        fill = getattr(event, "fill", None)
        if fill is not None:
            fill = replace(fill, venue=venue_name, execution_id=f"{venue_name}:{fill.execution_id}")
            event = replace(event, fill=fill)  # type: ignore[call-arg]
        with self._lock:
            seq = getattr(event, "venue_seq", None)
            if seq is not None:
                if seq <= self._last_seq[venue_name]:
                    # A replay overlapping what this venue's stream already gave us.
                    self.counters[f"{venue_name}_duplicate_sequence"] += 1
                    return
                self._merged += 1
                self._journal.append({"m": self._merged, "v": venue_name, "s": seq})
                self._mapped[venue_name].append((self._merged, seq))
                self._last_seq[venue_name] = seq
                event = replace(event, venue_seq=self._merged)  # type: ignore[call-arg]
            self.counters[f"{venue_name}_reports"] += 1
            if self._handler is not None:
                self._handler(event)

    def _forget_from(self, merged: int) -> None:
        for venue_name, pairs in self._mapped.items():
            self._mapped[venue_name] = [(m, s) for m, s in pairs if m < merged]
