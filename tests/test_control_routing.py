"""Smart order routing across two venues with their own books: ranking by price then size,
splitting, no overfill when fills race cancels, risk on every child, stale venues excluded,
parent cancel, and restart recovery of the two venues' sequenced streams."""

from __future__ import annotations

import random
from fractions import Fraction
from pathlib import Path

import pytest
from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.routing import ParentState, RoutingError, RoutingVenue, SmartRouter
from velocimex.control.strategy import Intent, PlaceOrder, Strategy, StrategyContext, StrategyParams
from velocimex.control.venue import RecordingVenue
from velocimex.control.venue_set import VenueSet

from tests.manual_clock import ManualClock
from velocimex.book_contract import FLAG_SEQ_GAP
from velocimex.domain import (
    BookTop,
    Fill,
    Instrument,
    OrderAccepted,
    OrderCancelled,
    OrderFillReported,
    OrderRejected,
    OrderState,
    OrderType,
    Side,
    Trade,
)

AAA = Instrument("AAA", locate=1)
LIMITS = RiskLimits(duplicate_window_ms=0, max_messages_per_second=10**6)
PX = 100_0000
MS = 1_000_000


def ask_top(ask: int, qty: int, bid: int = PX - 100, flags: int = 0, seq: int = 1) -> BookTop:
    return BookTop(1, seq, seq, flags, bid, 500, ask, qty)


def bid_top(bid: int, qty: int, ask: int = PX + 500, seq: int = 1) -> BookTop:
    return BookTop(1, seq, seq, 0, bid, qty, ask, 500)


class Rig:
    """A core holding a venue set of two sessions, and the router over them."""

    def __init__(
        self,
        tmp_path: Path,
        sessions: dict,
        limits: RiskLimits = LIMITS,
        fees: dict[str, int] | None = None,
        clock: ManualClock | None = None,
    ) -> None:
        self.clock = clock or ManualClock(1_000 * MS)
        self.sessions = sessions
        self.venues = VenueSet(sessions, tmp_path / "venue_seq.jsonl", fsync=False)
        self.core = TradingCore(
            tmp_path, [AAA], self.venues, limits, fsync=False, clock_ns=self.clock
        )
        fees = fees or {}
        self.router = SmartRouter(
            self.core,
            [RoutingVenue(n, fees.get(n, 0)) for n in sessions],
            self.venues.on_venue_book_top,
            clock_ns=self.clock,
            journal=Journal(tmp_path / "routing.jsonl", fsync=False),
            session_problem=self.venues.session_problem,
        )

    def children(self, parent_id: str) -> list:
        parent = self.router.snapshot(parent_id)
        return [self.core.orders.get(cid) for cid in parent.children]

    def sent(self, parent_id: str) -> list[tuple[str, int, int, str]]:
        return [
            (r.order.venue, r.order.quantity, r.order.price, str(r.order.order_type))
            for r in self.children(parent_id)
        ]


def paper_rig(tmp_path: Path, **kwargs) -> Rig:  # type: ignore[no-untyped-def]
    return Rig(tmp_path, {"A": PaperVenue([AAA]), "B": PaperVenue([AAA])}, **kwargs)


def test_best_price_first_then_next_venue_and_positions_aggregate(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path)
    rig.router.on_venue_book_top("A", ask_top(PX + 200, 500))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 200))
    parent = rig.router.submit("AAA", Side.BUY, 600, PX + 200, time_in_force="ioc")
    assert rig.sent(parent.parent_id) == [("B", 200, PX + 100, "ioc"), ("A", 400, PX + 200, "ioc")]
    done = rig.router.snapshot(parent.parent_id)
    assert (done.state, done.filled, done.working) == (ParentState.FILLED, 600, 0)
    position = rig.core.orders.position("AAA")
    assert position.quantity == 600  # one position over both venues
    assert position.average_price == Fraction(200 * (PX + 100) + 400 * (PX + 200), 600)


def test_sell_parent_takes_the_highest_bid_first(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path)
    rig.router.on_venue_book_top("A", bid_top(PX, 300))
    rig.router.on_venue_book_top("B", bid_top(PX - 100, 300))
    parent = rig.router.submit("AAA", Side.SELL, 400, PX - 100, time_in_force="ioc")
    assert rig.sent(parent.parent_id) == [("A", 300, PX, "ioc"), ("B", 100, PX - 100, "ioc")]
    assert rig.core.orders.position("AAA").quantity == -400


def test_equal_price_goes_to_more_displayed_size_then_lower_fee(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path, fees={"A": 30, "B": 10})
    rig.router.on_venue_book_top("A", ask_top(PX, 300))
    rig.router.on_venue_book_top("B", ask_top(PX, 100))
    parent = rig.router.submit("AAA", Side.BUY, 200, PX, time_in_force="ioc")
    assert rig.sent(parent.parent_id) == [("A", 200, PX, "ioc")]  # size beats fee
    rig.router.on_venue_book_top("A", ask_top(PX, 100, seq=2))
    rig.router.on_venue_book_top("B", ask_top(PX, 100, seq=2))
    parent = rig.router.submit("AAA", Side.BUY, 150, PX, time_in_force="ioc")
    assert rig.sent(parent.parent_id) == [("B", 100, PX, "ioc"), ("A", 50, PX, "ioc")]


def test_split_when_best_venue_lacks_size_and_day_remainder_rests(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path)
    rig.router.on_venue_book_top("A", ask_top(PX, 200))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 100, seq=2))
    parent = rig.router.submit("AAA", Side.BUY, 500, PX + 100)
    assert rig.sent(parent.parent_id) == [
        ("A", 200, PX, "ioc"),
        ("B", 100, PX + 100, "ioc"),
        ("A", 200, PX + 100, "limit"),  # the rest, on the best-ranked venue, at the limit
    ]
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled, snap.working) == (ParentState.WORKING, 300, 200)
    # Sellers come to A at our limit: the resting child fills and completes the parent.
    rig.router.on_venue_book_top("A", ask_top(PX + 100, 500, seq=3))
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled) == (ParentState.FILLED, 500)
    assert rig.core.orders.position("AAA").quantity == 500


def test_resting_child_is_cancelled_to_take_liquidity_that_appears_elsewhere(
    tmp_path: Path,
) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX + 500, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 600, 100))
    parent = rig.router.submit("AAA", Side.BUY, 300, PX)  # nothing within the limit: rests
    (rest,) = rig.children(parent.parent_id)
    assert (rest.order.venue, rest.order.quantity) == ("A", 300)
    rig.router.on_venue_book_top("B", ask_top(PX, 120, seq=2))
    assert [o.client_order_id for o in a.sent_cancels] == [rest.order.client_order_id]
    assert len(b.sent_orders) == 0  # nothing more until the rest's shares are free
    a.report(OrderCancelled(rest.order.client_order_id, 0, cancelled_quantity=300, venue_seq=1))
    # 120 taken on B, and the other 180 rest again on the best-ranked venue, now B.
    assert [(o.quantity, o.price, o.order_type) for o in b.sent_orders] == [
        (120, PX, OrderType.IOC),
        (180, PX, OrderType.LIMIT),
    ]


def child_totals(rig: Rig, parent_id: str) -> tuple[int, int]:
    filled = working = 0
    for rec in rig.children(parent_id):
        filled += rec.filled_quantity
        working += rec.leaves_quantity if rec.state.is_open else 0
    return filled, working


def test_no_overfill_when_fills_race_a_cancel(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX + 500, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 500, 100))
    parent = rig.router.submit("AAA", Side.BUY, 300, PX)
    (rest,) = rig.children(parent.parent_id)
    rest_cid = rest.order.client_order_id
    a.report(OrderAccepted(rest_cid, 0, venue_seq=1))
    # Liquidity appears on B, so the router asks A to cancel the rest...
    rig.router.on_venue_book_top("B", ask_top(PX, 300, seq=2))
    assert [o.client_order_id for o in a.sent_cancels] == [rest_cid]
    # ...but the rest fills on A before the cancel arrives, and B's liquidity is still shown.
    fill = Fill(rest_cid, "X1", "AAA", Side.BUY, 250, PX, ts_ns=1)
    a.report(OrderFillReported(rest_cid, 1, fill=fill, venue_seq=2))
    rig.router.on_venue_book_top("B", ask_top(PX, 300, seq=3))
    assert b.sent_orders == []  # 50 shares are still working on A: nothing is free
    a.report(OrderCancelled(rest_cid, 2, cancelled_quantity=50, venue_seq=3))
    # Only now are 50 shares free; they go to B, not 300.
    assert [(o.quantity, o.price) for o in b.sent_orders] == [(50, PX)]
    cid_b = b.sent_orders[0].client_order_id
    b.report(
        OrderFillReported(cid_b, 3, fill=Fill(cid_b, "Y1", "AAA", Side.BUY, 50, PX), venue_seq=1)
    )
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled) == (ParentState.FILLED, 300)
    assert rig.core.orders.position("AAA").quantity == 300


def test_children_never_exceed_the_parent_under_random_report_interleavings(
    tmp_path: Path,
) -> None:
    for seed in range(25):
        rng = random.Random(seed)
        a, b = RecordingVenue(), RecordingVenue()
        rig = Rig(tmp_path / str(seed), {"A": a, "B": b})
        seqs = {"A": 0, "B": 0}
        execs = iter(range(10**6))
        rig.router.on_venue_book_top("A", ask_top(PX, rng.randint(50, 400)))
        rig.router.on_venue_book_top("B", ask_top(PX + 100, rng.randint(50, 400)))
        parent = rig.router.submit("AAA", Side.BUY, 500, PX + 100)
        for step in range(60):
            name, session = rng.choice([("A", a), ("B", b)])
            roll = rng.random()
            if roll < 0.15:
                top = ask_top(PX + rng.choice([0, 100, 200]), rng.randint(1, 300), seq=step + 5)
                rig.router.on_venue_book_top(name, top)
            elif roll < 0.2:
                if not rig.router.snapshot(parent.parent_id).is_done and rng.random() < 0.3:
                    rig.router.cancel(parent.parent_id)
            else:
                open_here = [
                    r
                    for r in rig.children(parent.parent_id)
                    if r.order.venue == name and r.state.is_open
                ]
                if not open_here:
                    continue
                rec = rng.choice(open_here)
                cid = rec.order.client_order_id
                seqs[name] += 1
                if rng.random() < 0.6:
                    qty = rng.randint(1, rec.leaves_quantity)
                    fill = Fill(cid, f"{name}{next(execs)}", "AAA", Side.BUY, qty, rec.order.price)
                    session.report(OrderFillReported(cid, step, fill=fill, venue_seq=seqs[name]))
                else:
                    session.report(
                        OrderCancelled(
                            cid, step, cancelled_quantity=rec.leaves_quantity, venue_seq=seqs[name]
                        )
                    )
            filled, working = child_totals(rig, parent.parent_id)
            assert filled + working <= 500, (seed, step)
            assert rig.core.orders.position("AAA").quantity == filled <= 500
        assert not rig.core.orders.anomalies, (seed, rig.core.orders.last_anomaly)


def test_a_child_refused_by_risk_stops_the_parent(tmp_path: Path) -> None:
    limits = LIMITS.model_copy(update={"max_position": 250})
    rig = paper_rig(tmp_path, limits=limits)
    rig.router.on_venue_book_top("A", ask_top(PX, 200))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 200))
    parent = rig.router.submit("AAA", Side.BUY, 400, PX + 100)
    snap = rig.router.snapshot(parent.parent_id)
    # The child to A fills (200); the one to B (200 more) would take the position to 400.
    assert snap.state is ParentState.STOPPED and snap.filled == 200
    assert "max_position" in snap.reason
    refused = [r for r in rig.children(parent.parent_id) if r.state is OrderState.REJECTED]
    assert [(r.order.venue, r.order.quantity) for r in refused] == [("B", 200)]
    checks = [r for r in rig.core.audit.records() if r.get("action") == "order_check"]
    assert [(c["venue"], c["approved"]) for c in checks] == [("A", True), ("B", False)]
    # Nothing reached B.
    assert rig.core.orders.position("AAA").quantity == 200


def test_venue_reject_reroutes_the_child_to_the_other_venue(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX, 300))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 300))
    parent = rig.router.submit("AAA", Side.BUY, 200, PX + 100)
    (child,) = a.sent_orders
    a.report(OrderRejected(child.client_order_id, 0, reason="venue reject", venue_seq=1))
    assert [(o.quantity, o.price) for o in b.sent_orders] == [(200, PX + 100)]
    assert rig.router.snapshot(parent.parent_id).excluded == {"A"}
    (child_b,) = b.sent_orders
    b.report(OrderRejected(child_b.client_order_id, 0, reason="venue reject", venue_seq=1))
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.reason) == (ParentState.STOPPED, "every venue rejected a child")


def test_stale_or_gapped_venue_is_not_routed_to(tmp_path: Path) -> None:
    clock = ManualClock(1_000 * MS)
    rig = paper_rig(tmp_path, clock=clock)
    rig.router.on_venue_book_top("A", ask_top(PX, 500))  # A is better...
    clock.now += 4_000 * MS
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 500))
    clock.now += 2_000 * MS  # ...but its data is now 6 s old (limit 5 s)
    assert rig.router.quote_problem("A", "AAA") == "market data 6000 ms old"
    parent = rig.router.submit("AAA", Side.BUY, 100, PX + 100, time_in_force="ioc")
    assert rig.sent(parent.parent_id) == [("B", 100, PX + 100, "ioc")]
    # A sequence gap on B's feed: B is out too, and risk sees a gapped consolidated top.
    rig.router.on_venue_book_top("B", ask_top(PX, 500, flags=FLAG_SEQ_GAP, seq=2))
    parent = rig.router.submit("AAA", Side.BUY, 100, PX + 100)
    snap = rig.router.snapshot(parent.parent_id)
    assert snap.children == {} and snap.state is ParentState.WORKING
    assert rig.core.risk.market_data_problem("AAA") == "sequence gap in market data"
    # Fresh data from A again: routed there, never on B's gapped top.
    rig.router.on_venue_book_top("A", ask_top(PX + 100, 500, seq=3))
    assert rig.sent(parent.parent_id) == [("A", 100, PX + 100, "ioc")]


def test_consolidated_top_is_the_best_of_usable_venues_with_size_summed(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path)
    rig.router.on_venue_book_top("A", BookTop(1, 1, 1, 0, PX, 100, PX + 200, 100))
    rig.router.on_venue_book_top("B", BookTop(1, 2, 2, 0, PX, 50, PX + 100, 70))
    top = rig.core.risk.market_top("AAA")
    assert top is not None
    assert (top.bid_px, top.bid_qty, top.ask_px, top.ask_qty) == (PX, 150, PX + 100, 70)


def test_cancel_of_the_parent_cancels_every_working_child(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 100))
    parent = rig.router.submit("AAA", Side.BUY, 300, PX + 100)
    assert len(rig.children(parent.parent_id)) == 3  # IOC on A, IOC on B, rest on A
    snap = rig.router.cancel(parent.parent_id)
    assert snap.state is ParentState.CANCEL_PENDING
    assert len(a.sent_cancels) == 2 and len(b.sent_cancels) == 1
    seq = {"A": 0, "B": 0}
    for rec in rig.children(parent.parent_id):
        session = a if rec.order.venue == "A" else b
        seq[rec.order.venue] += 1
        session.report(
            OrderCancelled(
                rec.order.client_order_id, 0, cancelled_quantity=rec.leaves_quantity,
                venue_seq=seq[rec.order.venue],
            )
        )  # fmt: skip
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled) == (ParentState.CANCELLED, 0)
    rig.router.on_venue_book_top("A", ask_top(PX, 100, seq=9))
    assert len(rig.children(parent.parent_id)) == 3  # nothing new after the cancel


def test_kill_switch_stops_routing(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX + 500, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 500, 100))
    parent = rig.router.submit("AAA", Side.BUY, 300, PX)
    rig.core.kill("risk", "drill")
    assert rig.router.snapshot(parent.parent_id).state is ParentState.STOPPED
    assert len(a.sent_cancels) == 1  # the resting child
    rig.router.on_venue_book_top("B", ask_top(PX, 300, seq=2))
    rest = a.sent_cancels[0].client_order_id
    a.report(OrderCancelled(rest, 0, cancelled_quantity=300, venue_seq=1))
    snap = rig.router.snapshot(parent.parent_id)
    assert snap.state is ParentState.STOPPED and snap.reason == "kill switch"
    assert b.sent_orders == []


def test_restart_resumes_each_venue_stream_from_its_own_sequence(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX + 500, 100))
    cid_a = rig.core.orders.submit("AAA", Side.BUY, 100, price=PX, venue="A").order.client_order_id
    cid_b = rig.core.orders.submit("AAA", Side.BUY, 100, price=PX, venue="B").order.client_order_id
    assert [o.client_order_id for o in a.sent_orders] == [cid_a]
    assert [o.client_order_id for o in b.sent_orders] == [cid_b]

    def fill(cid: str, exec_id: str, qty: int, seq: int) -> OrderFillReported:
        f = Fill(cid, exec_id, "AAA", Side.BUY, qty, PX)
        return OrderFillReported(cid, 0, fill=f, venue_seq=seq)

    # Both venues number their streams from 1, and both call their first match "1".
    a.sequenced += [OrderAccepted(cid_a, 0, venue_seq=1), fill(cid_a, "1", 30, 2)]
    b.sequenced += [OrderAccepted(cid_b, 0, venue_seq=1), fill(cid_b, "1", 40, 2)]
    for event in a.sequenced:
        a.report(event)
    for event in b.sequenced:
        b.report(event)
    assert rig.core.orders.position("AAA").quantity == 70
    rig.core.close()
    rig.venues.close()
    # While we were down each venue filled more.
    a.sequenced.append(fill(cid_a, "2", 20, 3))
    b.sequenced.append(fill(cid_b, "2", 10, 3))
    a2, b2 = RecordingVenue(), RecordingVenue()
    a2.sequenced, b2.sequenced = a.sequenced, b.sequenced
    again = Rig(tmp_path, {"A": a2, "B": b2})
    assert again.core.orders.position("AAA").quantity == 100
    assert again.core.orders.get(cid_a).filled_quantity == 50
    assert again.core.orders.get(cid_b).filled_quantity == 50
    assert not again.core.orders.anomalies
    assert again.venues.counters["A_duplicate_sequence"] == 0
    fills = {r.order.client_order_id: r.order.venue for r in again.core.orders.records()}
    assert fills == {cid_a: "A", cid_b: "B"}


def test_a_working_parent_survives_a_restart_with_its_children(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 500, 100))
    parent = rig.router.submit("AAA", Side.BUY, 300, PX)
    ioc, rest = a.sent_orders  # 100 taken on A, 200 resting on A
    a.sequenced += [
        OrderFillReported(ioc.client_order_id, 0, fill=Fill(ioc.client_order_id, "1", "AAA",
                          Side.BUY, 100, PX), venue_seq=1),
        OrderAccepted(rest.client_order_id, 0, venue_seq=2),
    ]  # fmt: skip
    for event in a.sequenced:
        a.report(event)
    rig.core.close()
    rig.venues.close()
    # While we were down the resting child filled 150 on A.
    fill = Fill(rest.client_order_id, "2", "AAA", Side.BUY, 150, PX)
    a.sequenced.append(OrderFillReported(rest.client_order_id, 1, fill=fill, venue_seq=3))
    a2, b2 = RecordingVenue(), RecordingVenue()
    a2.sequenced = a.sequenced
    again = Rig(tmp_path, {"A": a2, "B": b2})
    snap = again.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled, snap.working) == (ParentState.WORKING, 250, 50)
    assert set(snap.children) == {ioc.client_order_id, rest.client_order_id}
    assert again.router.submit("AAA", Side.BUY, 1, PX).parent_id != parent.parent_id
    again.router.cancel(parent.parent_id)
    assert [o.client_order_id for o in a2.sent_cancels] == [rest.client_order_id]
    a2.report(OrderCancelled(rest.client_order_id, 2, cancelled_quantity=50, venue_seq=4))
    assert again.router.snapshot(parent.parent_id).state is ParentState.CANCELLED
    again.core.close()
    again.venues.close()
    # and the cancelled state itself is journaled
    last = Rig(tmp_path, {"A": RecordingVenue(), "B": RecordingVenue()})
    assert last.router.snapshot(parent.parent_id).state is ParentState.CANCELLED


def test_a_transient_risk_refusal_holds_the_shares_until_the_next_top(tmp_path: Path) -> None:
    clock = ManualClock(1_000 * MS)
    limits = LIMITS.model_copy(update={"duplicate_window_ms": 250})
    rig = paper_rig(tmp_path, limits=limits, clock=clock)
    rig.router.on_venue_book_top("A", ask_top(PX, 1000))
    first = rig.router.submit("AAA", Side.BUY, 100, PX, time_in_force="day")
    assert rig.router.snapshot(first.parent_id).state is ParentState.FILLED
    # The same child again inside the duplicate window: refused, once, and held.
    second = rig.router.submit("AAA", Side.BUY, 100, PX, time_in_force="day")
    snap = rig.router.snapshot(second.parent_id)
    assert snap.state is ParentState.WORKING and "duplicate_order" in snap.reason
    assert [r.state for r in rig.children(second.parent_id)] == [OrderState.REJECTED]
    clock.now += 300 * MS
    rig.router.on_venue_book_top("A", ask_top(PX, 1000, seq=2))
    assert rig.router.snapshot(second.parent_id).state is ParentState.FILLED
    assert rig.core.orders.position("AAA").quantity == 200


def test_children_are_no_larger_than_the_risk_order_size_limit(tmp_path: Path) -> None:
    limits = LIMITS.model_copy(update={"max_order_quantity": 150})
    rig = paper_rig(tmp_path, limits=limits)
    rig.router.on_venue_book_top("A", ask_top(PX, 400))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 100))
    parent = rig.router.submit("AAA", Side.BUY, 800, PX + 100)
    assert rig.sent(parent.parent_id) == [
        ("A", 150, PX, "ioc"),
        ("A", 150, PX, "ioc"),
        ("A", 100, PX, "ioc"),
        ("B", 100, PX + 100, "ioc"),
        ("A", 150, PX + 100, "limit"),
        ("A", 150, PX + 100, "limit"),
    ]
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled, snap.working) == (ParentState.WORKING, 500, 300)


def test_an_ioc_parent_refused_for_now_ends_with_the_risk_reason(tmp_path: Path) -> None:
    limits = LIMITS.model_copy(update={"duplicate_window_ms": 250})
    rig = paper_rig(tmp_path, limits=limits)
    rig.router.on_venue_book_top("A", ask_top(PX, 1000))
    rig.router.submit("AAA", Side.BUY, 100, PX, time_in_force="ioc")
    second = rig.router.submit("AAA", Side.BUY, 100, PX, time_in_force="ioc")
    snap = rig.router.snapshot(second.parent_id)
    assert snap.state is ParentState.CANCELLED and "duplicate_order" in snap.reason


def test_execution_algorithms_route_their_children_across_venues(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path)
    core = rig.core
    core.strategies.add("pov", "pov", {"symbol": "AAA", "side": "B", "quantity": 300,
                                       "participation": 0.5, "route": True})  # fmt: skip
    core.strategies.start("pov")
    rig.router.on_venue_book_top("A", ask_top(PX, 60))
    rig.router.on_venue_book_top("B", ask_top(PX, 100))
    core.on_trade(Trade("AAA", 200, PX, 1))  # 100 owed; 100 shown on B, 60 on A
    records = core.orders.records()
    assert [(r.order.venue, r.order.quantity, r.filled_quantity) for r in records] == [
        ("B", 100, 100)
    ]
    core.on_trade(Trade("AAA", 240, PX, 2))  # 220 owed: 60 on A, 0 left on B until its next top
    assert core.orders.position("AAA").quantity == 160
    rig.router.on_venue_book_top("B", ask_top(PX, 100, seq=2))
    assert core.orders.position("AAA").quantity == 220
    assert {r.order.venue for r in core.orders.records()} == {"A", "B"}
    slot = core.strategies.slots["pov"]
    assert slot.strategy.filled == 220  # the strategy counts its routed children's fills
    for step in range(3, 10):
        core.on_trade(Trade("AAA", 200, PX, step))
        rig.router.on_venue_book_top("A", ask_top(PX, 100, seq=step))
    assert core.orders.position("AAA").quantity == 300  # never past the parent
    core.kill("risk", "drill")
    count = len(core.orders.records())
    core.on_trade(Trade("AAA", 1000, PX, 20))
    rig.router.on_venue_book_top("B", ask_top(PX, 100, seq=20))
    assert len(core.orders.records()) == count


class LinkVenue(RecordingVenue):
    """A recording session with a link that can go down, like OuchVenue's ``connected``."""

    def __init__(self) -> None:
        super().__init__()
        self.connected = True
        self.drop_on_next_send = False

    def _transmit_order(self, order) -> None:  # type: ignore[no-untyped-def]
        if self.drop_on_next_send:  # the link dies as the order goes out
            self.connected, self.drop_on_next_send = False, False
        if not self.connected:
            raise ConnectionError("OUCH session is not connected")
        super()._transmit_order(order)


def test_a_venue_whose_session_is_down_is_skipped_until_it_is_back(tmp_path: Path) -> None:
    a, b = LinkVenue(), LinkVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 100))
    a.connected = False
    assert rig.router.session_problem("A") == "session not connected"
    parent = rig.router.submit("AAA", Side.BUY, 150, PX + 100)
    assert a.sent_orders == [] and [(o.quantity, o.price) for o in b.sent_orders] == [
        (100, PX + 100),
        (50, PX + 100),  # the rest goes to B too: A cannot take orders
    ]
    # The link drops as a child goes out: the shares are held, A is not given up on.
    a.connected, a.drop_on_next_send = True, True
    other = rig.router.submit("AAA", Side.BUY, 40, PX, time_in_force="day")
    snap = rig.router.snapshot(other.parent_id)
    assert snap.excluded == set() and snap.state is ParentState.WORKING and snap.working == 0
    assert rig.router.counters["child_not_sent_session_down"] == 1
    a.connected = True  # reconnected; its next top routes the held shares there
    rig.router.on_venue_book_top("A", ask_top(PX, 100, seq=2))
    assert [(o.quantity, o.price) for o in a.sent_orders] == [(40, PX)]
    assert rig.router.snapshot(parent.parent_id).excluded == set()


def test_market_parent_walks_venues_by_price_then_size_within_the_collar(
    tmp_path: Path,
) -> None:
    limits = RiskLimits(duplicate_window_ms=0, max_messages_per_second=10**6, price_collar_bps=100)
    rig = paper_rig(tmp_path, limits=limits)
    rig.router.on_venue_book_top("A", ask_top(PX + 200, 300))
    rig.router.on_venue_book_top("B", ask_top(PX + 200, 400))
    parent = rig.router.submit("AAA", Side.BUY, 900, None)
    # Priced once at the collar edge of the best usable offer; never rests.
    assert (parent.market, parent.time_in_force) == (True, "ioc")
    assert parent.limit_price == (PX + 200) * 10_100 // 10_000
    # Equal price: more displayed size first; each child an IOC at that venue's price.
    assert rig.sent(parent.parent_id) == [("B", 400, PX + 200, "ioc"), ("A", 300, PX + 200, "ioc")]
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled) == (ParentState.CANCELLED, 700)
    assert snap.reason == "ioc: no more displayed liquidity"
    assert rig.core.orders.position("AAA").quantity == 700


def test_market_parent_never_trades_through_the_collar(tmp_path: Path) -> None:
    limits = RiskLimits(duplicate_window_ms=0, max_messages_per_second=10**6, price_collar_bps=50)
    rig = paper_rig(tmp_path, limits=limits)
    rig.router.on_venue_book_top("A", bid_top(PX, 200))
    rig.router.on_venue_book_top("B", bid_top(PX - PX // 100, 500))  # 1% below: past 0.5%
    parent = rig.router.submit("AAA", Side.SELL, 400, None)
    assert parent.limit_price == -(-PX * 9_950 // 10_000)
    assert rig.sent(parent.parent_id) == [("A", 200, PX, "ioc")]
    snap = rig.router.snapshot(parent.parent_id)
    assert (snap.state, snap.filled) == (ParentState.CANCELLED, 200)
    assert rig.core.orders.position("AAA").quantity == -200


def test_market_parent_is_never_priced_from_stale_or_gapped_data(tmp_path: Path) -> None:
    clock = ManualClock(1_000 * MS)
    rig = paper_rig(tmp_path, clock=clock)
    with pytest.raises(RoutingError, match="stale_market_data: no market data"):
        rig.router.submit("AAA", Side.BUY, 100, None)
    rig.router.on_venue_book_top("A", ask_top(PX, 500))  # A is better...
    clock.now += 4_000 * MS
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 500))
    clock.now += 2_000 * MS  # ...but its data is now 6 s old
    parent = rig.router.submit("AAA", Side.BUY, 100, None)
    # Priced from B, the only venue with fresh data, and routed only there.
    assert parent.limit_price == (PX + 100) * 10_500 // 10_000
    assert rig.sent(parent.parent_id) == [("B", 100, PX + 100, "ioc")]
    # A gap on B: no venue has usable data, so no market order is priced at all.
    rig.router.on_venue_book_top("B", ask_top(PX, 500, flags=FLAG_SEQ_GAP, seq=2))
    with pytest.raises(RoutingError, match="stale_market_data: sequence gap"):
        rig.router.submit("AAA", Side.BUY, 100, None)
    # Fresh tops without an offer: nothing to price a buy from.
    rig.router.on_venue_book_top("A", BookTop(1, 3, 3, 0, PX, 100, 0, 0))
    with pytest.raises(RoutingError, match="no_market: no offer"):
        rig.router.submit("AAA", Side.BUY, 100, None)
    assert len(rig.router.parents) == 1  # the refused ones left nothing behind


def test_a_market_parent_survives_a_restart_as_one(tmp_path: Path) -> None:
    a, b = RecordingVenue(), RecordingVenue()
    rig = Rig(tmp_path, {"A": a, "B": b})
    rig.router.on_venue_book_top("A", ask_top(PX, 100))
    parent = rig.router.submit("AAA", Side.BUY, 100, None)
    assert [o.venue for o in a.sent_orders] == ["A"]
    rig.core.close()
    rig.venues.close()
    again = Rig(tmp_path, {"A": RecordingVenue(), "B": RecordingVenue()})
    snap = again.router.snapshot(parent.parent_id)
    assert (snap.market, snap.limit_price, snap.time_in_force) == (True, parent.limit_price, "ioc")


class MarketOnPrint(Strategy):
    """Test plugin: a routed market buy of ``quantity`` on each trade print."""

    class Params(StrategyParams):
        symbol: str
        quantity: int
        price: int | None = None

    def on_trade(self, symbol: str, trade: Trade, ctx: StrategyContext) -> list[Intent]:
        p = self.params
        return [PlaceOrder(p.symbol, Side.BUY, p.quantity, p.price, OrderType.MARKET, route=True)]


def test_a_strategy_routes_a_market_order_as_a_market_parent(tmp_path: Path) -> None:
    rig = paper_rig(tmp_path)
    core = rig.core
    spec = f"{__name__}:MarketOnPrint"
    core.strategies.add("mkt", spec, {"symbol": "AAA", "quantity": 150})
    core.strategies.add("bad", spec, {"symbol": "AAA", "quantity": 10, "price": PX})
    core.strategies.start("mkt")
    core.strategies.start("bad")
    core.on_trade(Trade("AAA", 10, PX, 1))  # no venue top yet: refused, nothing sent
    slot, bad = core.strategies.slots["mkt"], core.strategies.slots["bad"]
    assert "stale_market_data" in slot.last_error and core.orders.records() == []
    assert bad.last_error == "a market order has no price"
    rig.router.on_venue_book_top("A", ask_top(PX, 100))
    rig.router.on_venue_book_top("B", ask_top(PX + 100, 100))
    core.on_trade(Trade("AAA", 10, PX, 2))
    # One market parent: 100 at A's offer, the rest at B's; children are the strategy's orders.
    assert [(r.order.venue, r.order.quantity, r.order.price) for r in core.orders.records()] == [
        ("A", 100, PX),
        ("B", 50, PX + 100),
    ]
    assert {r.order.strategy_id for r in core.orders.records()} == {"mkt"}
    assert core.orders.position("AAA").quantity == 150
