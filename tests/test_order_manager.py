"""Order lifecycle, positions and restart recovery through the real order manager and risk path."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal, JournalCorrupt
from velocimex.control.order_state import IllegalTransition, OrderRecord, apply_event
from velocimex.control.risk import RiskLimits
from velocimex.control.venue import RecordingVenue

from tests.manual_clock import ManualClock
from velocimex.domain import (
    BookTop,
    Fill,
    Instrument,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderCancelRequested,
    OrderExpired,
    OrderFillReported,
    OrderRejected,
    OrderReplaced,
    OrderState,
    Side,
)

AAPL = Instrument("AAPL", locate=7)
PX = 1_500_000  # $150.0000


def make_core(
    data_dir: Path, venue: RecordingVenue | None = None
) -> tuple[TradingCore, RecordingVenue]:
    venue = venue or RecordingVenue()
    clock = ManualClock(1_000_000_000)
    core = TradingCore(
        data_dir, [AAPL], venue, RiskLimits(max_messages_per_second=10_000), clock_ns=clock
    )
    core.risk.on_book_top(BookTop(7, 1, 0, 0, PX - 100, 500, PX + 100, 500))
    return core, venue


def fill(cid: str, exec_id: str, qty: int, side: Side = Side.BUY, px: int = PX) -> Fill:
    return Fill(cid, exec_id, "AAPL", side, qty, px)


def test_fill_after_cancel_request_is_applied_and_not_lost(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    rec = core.orders.submit("AAPL", Side.BUY, 100, price=PX)
    cid = rec.order.client_order_id
    venue.report(OrderAccepted(cid, 1, venue_seq=1))
    core.orders.cancel(cid)
    assert venue.sent_cancels[-1].client_order_id == cid
    # The venue filled 40 shares before it saw our cancel, then cancelled the other 60.
    venue.report(OrderFillReported(cid, 2, fill=fill(cid, "E1", 40), venue_seq=2))
    mid = core.orders.get(cid)
    assert mid.state is OrderState.CANCEL_PENDING
    assert (mid.filled_quantity, mid.leaves_quantity) == (40, 60)
    venue.report(OrderCancelled(cid, 3, venue_seq=3))
    done = core.orders.get(cid)
    assert done.state is OrderState.CANCELLED
    assert done.filled_quantity == 40
    assert core.orders.position("AAPL").quantity == 40


def test_fill_after_cancel_request_that_completes_order_makes_it_filled(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.SELL, 100, price=PX).order.client_order_id
    venue.report(OrderAccepted(cid, 1, venue_seq=1))
    core.orders.cancel(cid)
    venue.report(OrderFillReported(cid, 2, fill=fill(cid, "E1", 100, Side.SELL), venue_seq=2))
    assert core.orders.get(cid).state is OrderState.FILLED
    # The cancel reject that follows a fill changes nothing and is not an anomaly.
    venue.report(OrderCancelRejected(cid, 3, reason="too late", venue_seq=3))
    assert core.orders.get(cid).state is OrderState.FILLED
    assert core.orders.position("AAPL").quantity == -100
    assert not core.orders.anomalies


def test_cancel_reject_while_pending_returns_order_to_working(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderAccepted(cid, 1, venue_seq=1))
    venue.report(OrderFillReported(cid, 2, fill=fill(cid, "E1", 10), venue_seq=2))
    core.orders.cancel(cid)
    venue.report(OrderCancelRejected(cid, 3, venue_seq=3))
    rec = core.orders.get(cid)
    assert rec.state is OrderState.PARTIALLY_FILLED
    assert rec.leaves_quantity == 90


def test_fill_overtaking_ack_does_not_reset_leaves_or_allow_overfill(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderFillReported(cid, 1, fill=fill(cid, "E1", 100), venue_seq=1))
    assert core.orders.get(cid).state is OrderState.FILLED
    venue.report(OrderAccepted(cid, 2, venue_order_id="V9", venue_seq=2))
    rec = core.orders.get(cid)
    assert rec.state is OrderState.FILLED
    assert rec.leaves_quantity == 0
    # A further execution would be an overfill: refused, counted, position unchanged.
    venue.report(OrderFillReported(cid, 3, fill=fill(cid, "E2", 1), venue_seq=3))
    assert core.orders.get(cid).filled_quantity == 100
    assert core.orders.position("AAPL").quantity == 100
    assert core.orders.anomalies["illegal_transition"] == 1


def test_partial_fill_before_ack_then_ack_keeps_partial_state(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderFillReported(cid, 1, fill=fill(cid, "E1", 30), venue_seq=1))
    venue.report(OrderAccepted(cid, 2, venue_seq=2))
    rec = core.orders.get(cid)
    assert rec.state is OrderState.PARTIALLY_FILLED
    assert rec.leaves_quantity == 70
    venue.report(OrderFillReported(cid, 3, fill=fill(cid, "E2", 80), venue_seq=3))
    assert core.orders.get(cid).filled_quantity == 30
    assert core.orders.anomalies["illegal_transition"] == 1


def test_restart_rebuilds_orders_and_positions_from_journal(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    a = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    b = core.orders.submit("AAPL", Side.SELL, 50, price=PX + 100).order.client_order_id
    venue.report(OrderAccepted(a, 1, venue_seq=1))
    venue.report(OrderFillReported(a, 2, fill=fill(a, "E1", 100, px=PX - 50), venue_seq=2))
    venue.report(OrderAccepted(b, 3, venue_seq=3))
    venue.report(OrderFillReported(b, 4, fill=fill(b, "E2", 20, Side.SELL, PX + 100), venue_seq=4))
    before = {r.order.client_order_id: (r.state, r.filled_quantity) for r in core.orders.records()}
    pos_before = core.orders.position("AAPL")
    core.close()

    again, _ = make_core(tmp_path, RecordingVenue())
    after = {r.order.client_order_id: (r.state, r.filled_quantity) for r in again.orders.records()}
    assert after == before
    assert again.orders.position("AAPL") == pos_before
    assert pos_before.realised_pnl == Fraction(20 * 150)
    assert again.orders.next_venue_sequence == 5
    # New ids continue after the old ones instead of colliding with them.
    c = again.orders.submit("AAPL", Side.BUY, 1, price=PX).order.client_order_id
    assert c not in before


def test_restart_applies_fills_made_while_down_exactly_once(tmp_path: Path) -> None:
    exchange = RecordingVenue()
    core, _ = make_core(tmp_path, exchange)
    cid = core.orders.submit("AAPL", Side.BUY, 300, price=PX).order.client_order_id
    live = [
        OrderAccepted(cid, 1, venue_seq=1),
        OrderFillReported(cid, 2, fill=fill(cid, "E1", 100), venue_seq=2),
    ]
    for event in live:
        exchange.sequenced.append(event)
        exchange.report(event)
    core.close()
    # While we are down the exchange executes 150 more shares.
    exchange.sequenced.append(OrderFillReported(cid, 3, fill=fill(cid, "E2", 100), venue_seq=3))
    exchange.sequenced.append(OrderFillReported(cid, 4, fill=fill(cid, "E3", 50), venue_seq=4))

    restarted = RecordingVenue()
    restarted.sequenced = list(exchange.sequenced)
    again, _ = make_core(tmp_path, restarted)
    rec = again.orders.get(cid)
    assert rec.filled_quantity == 250
    assert rec.state is OrderState.PARTIALLY_FILLED
    assert again.orders.position("AAPL").quantity == 250
    # A venue that replays from the start anyway is deduplicated, not double counted.
    for event in exchange.sequenced:
        again.orders.on_venue_report(event)
    assert again.orders.position("AAPL").quantity == 250
    assert again.orders.anomalies["duplicate_sequence"] == 4
    # And an unsequenced duplicate of an execution is caught by its execution id.
    again.orders.on_venue_report(OrderFillReported(cid, 5, fill=fill(cid, "E3", 50)))
    assert again.orders.position("AAPL").quantity == 250
    assert again.orders.anomalies["duplicate_execution"] == 1
    again.close()
    third, _ = make_core(tmp_path, RecordingVenue())
    assert third.orders.position("AAPL").quantity == 250


def test_report_for_unknown_order_is_counted_and_dropped(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    venue.report(OrderAccepted("NOPE", 1, venue_seq=1))
    assert core.orders.anomalies["unknown_order"] == 1
    assert core.orders.next_venue_sequence == 2


def test_cancel_of_filled_or_unknown_order_raises(tmp_path: Path) -> None:
    from velocimex.control.order_manager import OrderError

    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 10, price=PX).order.client_order_id
    venue.report(OrderFillReported(cid, 1, fill=fill(cid, "E1", 10), venue_seq=1))
    with pytest.raises(OrderError):
        core.orders.cancel(cid)
    with pytest.raises(OrderError):
        core.orders.cancel("missing")
    with pytest.raises(OrderError):
        core.orders.submit("AAPL", Side.BUY, 10, price=PX, client_order_id=cid)


def test_partial_cancel_and_replace_adjust_leaves(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderAccepted(cid, 1, venue_seq=1))
    venue.report(OrderCancelled(cid, 2, cancelled_quantity=30, venue_seq=2))
    rec = core.orders.get(cid)
    assert (rec.state, rec.leaves_quantity) == (OrderState.ACKNOWLEDGED, 70)
    venue.report(OrderReplaced(cid, 3, new_quantity=200, new_price=PX - 1, venue_seq=3))
    rec = core.orders.get(cid)
    assert (rec.leaves_quantity, rec.order.price) == (200, PX - 1)
    venue.report(OrderExpired(cid, 4, venue_seq=4))
    assert core.orders.get(cid).state is OrderState.EXPIRED


def _record(state: OrderState) -> OrderRecord:
    rec = OrderRecord(Order("C1", "AAPL", Side.BUY, 100, price=PX))
    rec.state = state
    if state in (OrderState.FILLED,):
        rec.filled_quantity, rec.leaves_quantity = 100, 0
    if state in (OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED):
        rec.leaves_quantity = 0
    return rec


@pytest.mark.parametrize(
    "state", [OrderState.CANCELLED, OrderState.REJECTED, OrderState.EXPIRED, OrderState.FILLED]
)
def test_terminal_states_refuse_fills_cancels_and_acks_of_rejects(state: OrderState) -> None:
    for event in (
        OrderFillReported("C1", 1, fill=Fill("C1", "X", "AAPL", Side.BUY, 1, PX)),
        OrderCancelRequested("C1", 1),
        OrderCancelled("C1", 1),
        OrderReplaced("C1", 1, new_quantity=500),
    ):
        rec = _record(state)
        with pytest.raises(IllegalTransition):
            apply_event(rec, event)
        assert rec.state is state
    if state is OrderState.REJECTED:
        with pytest.raises(IllegalTransition):
            apply_event(_record(state), OrderAccepted("C1", 1))


def test_rejected_order_never_reaches_the_position(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderRejected(cid, 1, reason="halted symbol", venue_seq=1))
    assert core.orders.get(cid).state is OrderState.REJECTED
    venue.report(OrderFillReported(cid, 2, fill=fill(cid, "E1", 100), venue_seq=2))
    assert core.orders.position("AAPL").quantity == 0


def test_torn_journal_tail_is_dropped_and_corrupt_line_raises(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    j = Journal(path)
    j.append({"a": 1})
    j.append({"a": 2})
    j.close()
    with open(path, "ab") as fh:
        fh.write(b'{"crc": 1, "body": {"a"')  # crash mid-write
    j2 = Journal(path)
    assert [r["a"] for r in j2.records()] == [1, 2]
    assert j2.torn_tail_dropped == 1
    j2.append({"a": 3})
    assert [r["a"] for r in j2.records()] == [1, 2, 3]
    j2.close()
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"a":2', b'"a":5')
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalCorrupt):
        list(Journal(path).records())


def test_open_exposure_matches_the_open_orders_after_every_event(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)

    def check(manager) -> None:  # type: ignore[no-untyped-def]
        exposure = manager.open_exposure()
        records = manager.open_records()
        assert exposure.count == len(records)
        assert exposure.notional == sum(r.order.price * r.leaves_quantity for r in records)
        for side in Side:
            qty = sum(r.leaves_quantity for r in records if r.order.side is side)
            assert exposure.quantity.get(("AAPL", side), 0) == qty

    a = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    b = core.orders.submit("AAPL", Side.SELL, 70, price=PX + 10).order.client_order_id
    check(core.orders)
    for event in (
        OrderAccepted(a, 1, venue_seq=1),
        OrderFillReported(a, 2, fill=fill(a, "E1", 30), venue_seq=2),
        OrderCancelled(b, 3, cancelled_quantity=20, venue_seq=3),
        OrderReplaced(a, 4, new_quantity=150, new_price=PX - 5, venue_seq=4),
        OrderFillReported(b, 5, fill=fill(b, "E2", 50, Side.SELL), venue_seq=5),
    ):
        venue.report(event)
        check(core.orders)
    core.orders.cancel(a)
    venue.report(OrderCancelled(a, 6, venue_seq=6))
    check(core.orders)
    assert core.orders.open_exposure().count == 0
    core.close()
    again, _ = make_core(tmp_path, RecordingVenue())
    check(again.orders)


class BrokenLinkVenue(RecordingVenue):
    def _transmit_cancel(self, order: Order) -> None:
        raise ConnectionError("link down")


def test_cancel_that_cannot_be_sent_leaves_order_working_and_says_so(tmp_path: Path) -> None:
    from velocimex.control.order_manager import OrderError

    core, venue = make_core(tmp_path, BrokenLinkVenue())
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderAccepted(cid, 1, venue_seq=1))
    with pytest.raises(OrderError, match="not sent"):
        core.orders.cancel(cid)
    assert core.orders.get(cid).state is OrderState.ACKNOWLEDGED
    assert core.orders.cancel_all("kill") == []
    assert core.orders.anomalies["cancel_not_sent"] == 1


def test_cancel_returns_the_order_as_cancel_pending(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)
    cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
    venue.report(OrderAccepted(cid, 1, venue_seq=1))
    assert core.orders.cancel(cid).state is OrderState.CANCEL_PENDING


def test_a_failing_listener_never_breaks_the_order_path(tmp_path: Path) -> None:
    core, venue = make_core(tmp_path)

    def broken(_event) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("observer bug")

    core.orders.subscribe(broken)
    core.risk.subscribe(broken)
    core.subscribe_book_tops(broken)
    core.on_book_top(BookTop(7, 2, 0, 0, PX - 100, 500, PX + 100, 500))
    rec = core.orders.submit("AAPL", Side.BUY, 10, price=PX)
    venue.report(
        OrderFillReported(
            rec.order.client_order_id,
            1,
            fill=fill(rec.order.client_order_id, "E1", 10),
            venue_seq=1,
        )
    )
    assert core.orders.position("AAPL").quantity == 10
    assert core.orders.anomalies["listener_error"] >= 2
    assert core.risk.counters.listener_errors >= 1
    assert core.book_top_listener_errors == 1


def test_submitted_record_fast_text_equals_the_generic_canonical_record() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from velocimex.control import event_records
    from velocimex.control.journal import canonical_json

    from velocimex.domain import OrderSubmitted, OrderType, event_to_dict

    assert event_records.FAST_SUBMITTED  # Order gained a field: update event_records

    text = st.text(min_size=1, max_size=20)

    @settings(max_examples=300, deadline=None)
    @given(
        cid=text,
        symbol=text,
        strategy=st.text(max_size=20),
        venue=st.text(max_size=8),
        side=st.sampled_from(list(Side)),
        order_type=st.sampled_from(list(OrderType)),
        quantity=st.integers(1, 10**12),
        price=st.integers(1, 0xFFFF_FFFF),
        created=st.integers(0, 2**63),
        ts=st.integers(0, 2**63),
    )
    def same(cid, symbol, strategy, venue, side, order_type, quantity, price, created, ts):  # type: ignore[no-untyped-def]
        priced = None if order_type is OrderType.MARKET and price % 2 else price
        order = Order(
            cid, symbol, side, quantity, order_type, priced, strategy, "acct", created, venue
        )
        event = OrderSubmitted(cid, ts, order=order)
        generic = canonical_json({"type": "event", "event": event_to_dict(event)})
        assert event_records.event_record_text(event) == generic

    same()


def test_orders_replay_from_fast_records_after_restart(tmp_path: Path) -> None:
    core, _ = make_core(tmp_path)
    sent = [
        core.orders.submit("AAPL", Side.BUY, 10 + i, price=PX - i, strategy_id='s"\\é')
        for i in range(20)
    ]
    core.close()
    again, _ = make_core(tmp_path, RecordingVenue())
    for rec in sent:
        assert again.orders.get(rec.order.client_order_id).order == rec.order


def test_core_raises_the_young_gc_threshold_unless_told_not_to(tmp_path: Path) -> None:
    import gc

    from velocimex.control import core as core_module

    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        TradingCore(tmp_path / "a", [], RecordingVenue(), fsync=False, tune_gc=False).close()
        assert gc.get_threshold() == (700, 10, 10)
        TradingCore(tmp_path / "b", [], RecordingVenue(), fsync=False).close()
        assert gc.get_threshold() == (core_module.GC_THRESHOLD0, 10, 10)
        assert core_module._gc_frozen and gc.get_freeze_count() > 0
        gc.set_threshold(0)  # collection switched off by the application: left alone
        TradingCore(tmp_path / "c", [], RecordingVenue(), fsync=False).close()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*saved)
