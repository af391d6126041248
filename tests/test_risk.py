"""Every pre-trade check (pass and reject), breakers, kill switch, audit, the only-path rule."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from velocimex.control import risk as risk_module
from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal
from velocimex.control.metrics import CoreCollector
from velocimex.control.order_manager import OrderManager
from velocimex.control.risk import RiskLimits, RiskManager
from velocimex.control.venue import (
    ApprovalAuthority,
    ApprovalError,
    RecordingVenue,
    VenueSessionBase,
)

from tests.manual_clock import ManualClock
from velocimex.book_contract import FLAG_SEQ_GAP
from velocimex.domain import (
    BookTop,
    Fill,
    Instrument,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderFillReported,
    OrderRejected,
    OrderReplaced,
    OrderState,
    OrderType,
    Side,
    TradingState,
)

AAPL = Instrument("AAPL", locate=7)
MSFT = Instrument("MSFT", locate=9)
BID, ASK = 1_499_900, 1_500_100  # $149.99 / $150.01
SEC = 1_000_000_000


def make_core(
    tmp_path: Path, venue=None, **limits
) -> tuple[TradingCore, RecordingVenue, ManualClock]:
    venue = venue or RecordingVenue()
    clock = ManualClock(10 * SEC)
    base = {"max_messages_per_second": 10_000, "duplicate_window_ms": 0, **limits}
    core = TradingCore(tmp_path, [AAPL, MSFT], venue, RiskLimits(**base), clock_ns=clock)
    quote(core)
    return core, venue, clock


def quote(
    core: TradingCore, bid: int = BID, ask: int = ASK, flags: int = 0, locate: int = 7
) -> None:
    core.risk.on_book_top(BookTop(locate, 1, 0, flags, bid, 100, ask, 100))


def buy(core: TradingCore, qty: int = 100, price: int = BID, **kw):
    return core.orders.submit("AAPL", Side.BUY, qty, price=price, **kw)


def sell(core: TradingCore, qty: int = 100, price: int = ASK, **kw):
    return core.orders.submit("AAPL", Side.SELL, qty, price=price, **kw)


def rejected_for(record, code: str) -> bool:
    return record.state is OrderState.REJECTED and record.reason.startswith(code)


def fill_order(
    venue: RecordingVenue, record, qty: int | None = None, px: int | None = None
) -> None:
    order = record.order
    venue.report(
        OrderFillReported(
            order.client_order_id,
            0,
            fill=Fill(
                order.client_order_id,
                f"E-{order.client_order_id}",
                order.symbol,
                order.side,
                qty or order.quantity,
                px or order.price,
            ),
        )
    )


def test_order_within_all_limits_is_sent(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    rec = buy(core)
    assert rec.state is OrderState.NEW
    assert [o.client_order_id for o in venue.sent_orders] == [rec.order.client_order_id]


def test_max_order_quantity(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_order_quantity=500)
    assert buy(core, 500).state is OrderState.NEW
    assert rejected_for(buy(core, 501), "max_order_quantity")
    assert len(venue.sent_orders) == 1


def test_max_order_notional(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_order_notional=BID * 100)
    assert buy(core, 100).state is OrderState.NEW
    assert rejected_for(buy(core, 101), "max_order_notional")


def test_price_collar_against_best_bid_and_offer(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, price_collar_bps=100)  # 1%
    ceiling = ASK * 101 // 100
    at_ceiling = buy(core, 1, ceiling)
    assert at_ceiling.state is OrderState.NEW
    assert rejected_for(buy(core, 1, ceiling + 1), "price_collar")
    fill_order(venue, at_ceiling)  # no longer working: the sells below cannot meet it
    floor = -(-BID * 99 // 100)
    assert sell(core, 1, floor).state is OrderState.NEW
    assert rejected_for(sell(core, 1, floor - 1), "price_collar")


def test_market_order_is_priced_at_the_collar_from_the_offer(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, price_collar_bps=50)
    rec = core.orders.submit("AAPL", Side.BUY, 10, order_type=OrderType.MARKET)
    assert rec.state is OrderState.NEW
    assert venue.sent_orders[-1].price == ASK * 10_050 // 10_000


def test_market_order_without_opposite_side_is_rejected(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    quote(core, bid=BID, ask=0)
    rec = core.orders.submit("AAPL", Side.BUY, 10, order_type=OrderType.MARKET)
    assert rejected_for(rec, "no_market")
    assert venue.sent_orders == []


def test_stale_market_data_blocks_orders_and_never_prices_market_orders(tmp_path: Path) -> None:
    core, venue, clock = make_core(tmp_path, max_market_data_age_ms=200)
    clock.now += 200 * 1_000_000
    assert buy(core).state is OrderState.NEW
    clock.now += 1_000_000
    assert rejected_for(buy(core), "stale_market_data")
    rec = core.orders.submit("AAPL", Side.SELL, 10, order_type=OrderType.MARKET)
    assert rejected_for(rec, "stale_market_data")
    assert rec.order.price is None  # never priced
    assert len(venue.sent_orders) == 1
    quote(core)  # fresh data lifts the block
    assert buy(core, 3).state is OrderState.NEW


def test_sequence_gap_flag_blocks_market_orders(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    quote(core, flags=FLAG_SEQ_GAP)
    rec = core.orders.submit("AAPL", Side.BUY, 10, order_type=OrderType.MARKET)
    assert rejected_for(rec, "stale_market_data")
    assert rec.order.price is None
    assert venue.sent_orders == []


def test_order_without_any_market_data_is_rejected(tmp_path: Path) -> None:
    core, _, _ = make_core(tmp_path)
    rec = core.orders.submit("MSFT", Side.BUY, 1, price=100)
    assert rejected_for(rec, "stale_market_data")


def test_unknown_instrument_is_rejected(tmp_path: Path) -> None:
    core, _, _ = make_core(tmp_path)
    assert rejected_for(core.orders.submit("ZZZZ", Side.BUY, 1, price=100), "unknown_instrument")


def test_position_limit_counts_open_orders(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_position=300)
    first = buy(core, 200)
    fill_order(venue, first)
    assert core.orders.position("AAPL").quantity == 200
    assert buy(core, 60).state is OrderState.NEW  # 200 held + 60 open
    assert rejected_for(buy(core, 41), "max_position")  # 200 + 60 + 41 > 300
    assert buy(core, 40).state is OrderState.NEW
    # Selling down is allowed up to the short limit on the other side.
    assert sell(core, 500).state is OrderState.NEW  # 200 - 500 = -300
    assert rejected_for(sell(core, 1), "max_position")


def test_gross_exposure_includes_positions_and_open_orders(tmp_path: Path) -> None:
    limit = 1000 * BID
    core, venue, _ = make_core(tmp_path, max_gross_exposure=limit, max_position=10_000)
    fill_order(venue, buy(core, 600))  # held at the mark
    mark = (BID + ASK) // 2
    assert buy(core, 300).state is OrderState.NEW
    remaining = (limit - 600 * mark - 300 * BID) // BID
    assert buy(core, remaining).state is OrderState.NEW
    assert rejected_for(buy(core, 1), "max_gross_exposure")


def test_open_order_count(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_open_orders=3)
    recs = [buy(core, 1, BID - i) for i in range(3)]
    assert all(r.state is OrderState.NEW for r in recs)
    assert rejected_for(buy(core, 1, BID - 9), "max_open_orders")
    fill_order(venue, recs[0])
    assert buy(core, 1, BID - 10).state is OrderState.NEW


def test_message_rate_throttle_per_second(tmp_path: Path) -> None:
    core, _, clock = make_core(tmp_path, max_messages_per_second=5)
    sent = [buy(core, 1, BID - i) for i in range(4)]
    core.orders.cancel(sent[0].order.client_order_id)  # cancels count as messages
    assert rejected_for(buy(core, 1, BID - 20), "throttle")
    clock.now += SEC + 1
    quote(core)
    assert buy(core, 1, BID - 21).state is OrderState.NEW


def test_throttle_never_blocks_cancels(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_messages_per_second=3)
    recs = [buy(core, 1, BID - i) for i in range(3)]
    for rec in recs:
        core.orders.cancel(rec.order.client_order_id)
    assert len(venue.sent_cancels) == 3


def test_duplicate_order_detection(tmp_path: Path) -> None:
    core, _, clock = make_core(tmp_path, duplicate_window_ms=100)
    assert buy(core, 100).state is OrderState.NEW
    assert rejected_for(buy(core, 100), "duplicate_order")
    assert buy(core, 101).state is OrderState.NEW  # different size is not a duplicate
    clock.now += 101 * 1_000_000
    quote(core)
    assert buy(core, 100).state is OrderState.NEW


def test_halted_state_rejects_and_active_state_reopens(tmp_path: Path) -> None:
    core, _, _ = make_core(tmp_path)
    core.risk.set_state(TradingState.HALTED, actor="ro")
    assert rejected_for(buy(core), "halted")
    core.risk.set_state(TradingState.ACTIVE, actor="ro")
    assert buy(core).state is OrderState.NEW


def test_reducing_only_allows_only_orders_that_shrink_the_position(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    fill_order(venue, buy(core, 100))
    core.risk.set_state(TradingState.REDUCING_ONLY, actor="ro")
    assert rejected_for(buy(core, 1), "reducing_only")
    assert sell(core, 60).state is OrderState.NEW
    assert rejected_for(sell(core, 41), "reducing_only")  # 60 already working to sell
    assert sell(core, 40).state is OrderState.NEW


class SocketVenue(VenueSessionBase):
    """A venue session that writes each message to a real socket, as an OUCH session would."""

    name = "socket"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock

    def _transmit_order(self, order: Order) -> None:
        self.sock.sendall(json.dumps({"new": order.client_order_id}).encode())

    def _transmit_cancel(self, order: Order) -> None:
        self.sock.sendall(json.dumps({"cancel": order.client_order_id}).encode())


def _drain(sock: socket.socket) -> bytes:
    sock.setblocking(False)
    out = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return out
        if not chunk:
            return out
        out += chunk


def test_kill_switch_cancels_open_orders_and_no_new_order_byte_reaches_the_venue(
    tmp_path: Path,
) -> None:
    ours, exchange = socket.socketpair()
    venue = SocketVenue(ours)
    core, _, _ = make_core(tmp_path, venue=venue)
    open_ids = [buy(core, 1, BID - i).order.client_order_id for i in range(3)]
    assert _drain(exchange).count(b'"new"') == 3

    cancelled = core.risk.engage_kill_switch(actor="ro", reason="test")
    assert sorted(cancelled) == sorted(open_ids)
    assert _drain(exchange).count(b'"cancel"') == 3
    assert all(core.orders.get(c).state is OrderState.CANCEL_PENDING for c in open_ids)

    for i in range(50):
        rec = buy(core, 1, BID - 10 - i)
        assert rejected_for(rec, "kill_switch")
    core.orders.submit("AAPL", Side.SELL, 1, order_type=OrderType.MARKET)
    assert _drain(exchange) == b""
    with pytest.raises(PermissionError):
        core.risk.set_state(TradingState.ACTIVE, actor="trader")
    core.risk.reset_kill_switch(actor="ro")
    assert rejected_for(buy(core, 1), "halted")  # reset does not silently re-open trading
    core.risk.set_state(TradingState.ACTIVE, actor="ro")
    assert buy(core, 1, BID - 99).state is OrderState.NEW
    assert _drain(exchange).count(b'"new"') == 1


def test_venue_session_refuses_messages_without_risk_approval(tmp_path: Path) -> None:
    ours, exchange = socket.socketpair()
    venue = SocketVenue(ours)
    core, _, _ = make_core(tmp_path, venue=venue)
    order = Order("ROGUE", "AAPL", Side.BUY, 1, price=BID)
    with pytest.raises(ApprovalError):
        venue.send_order(order, None)  # type: ignore[arg-type]
    forged = ApprovalAuthority().mint("ROGUE", "new")
    with pytest.raises(ApprovalError):
        venue.send_order(order, forged)
    with pytest.raises(ApprovalError):
        venue.bind_risk(ApprovalAuthority())  # cannot be re-bound to a friendlier authority
    # An approval is for one order and one use.
    decision = core.risk.check_order(order, core.orders)
    assert decision.approved
    other = Order("OTHER", "AAPL", Side.BUY, 1, price=BID)
    with pytest.raises(ApprovalError):
        venue.send_order(other, decision.approval)
    core.risk.transmit_order(decision)
    with pytest.raises(ApprovalError):
        venue.send_order(order, decision.approval)
    assert _drain(exchange).count(b'"new"') == 1


def test_loss_limit_breaker_trips_reducing_only(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_loss=100 * 10_000)  # $100
    fill_order(venue, buy(core, 100, ASK))
    quote(core, bid=ASK - 9_000, ask=ASK - 8_000)  # mark falls $0.85: loss $85
    assert core.risk.state is TradingState.ACTIVE
    quote(core, bid=ASK - 12_000, ask=ASK - 11_000)  # $1.15: loss $115
    assert core.risk.state is TradingState.REDUCING_ONLY
    assert core.risk.breakers["loss_limit"].tripped
    assert rejected_for(buy(core, 1, ASK - 12_000), "reducing_only")


def test_reject_rate_breaker_halts_trading(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, reject_rate_min_orders=4, max_reject_rate=0.5)
    recs = [buy(core, 1, BID - i) for i in range(4)]
    for rec in recs[:2]:
        venue.report(OrderRejected(rec.order.client_order_id, 0, reason="venue"))
    assert core.risk.state is TradingState.ACTIVE  # 2/4 is not above 50%
    venue.report(OrderRejected(recs[2].order.client_order_id, 0, reason="venue"))
    assert core.risk.state is TradingState.HALTED
    assert core.risk.breakers["reject_rate"].tripped
    venue.report(OrderAccepted(recs[3].order.client_order_id, 0))


def test_every_decision_is_audited_and_kill_switch_survives_restart(tmp_path: Path) -> None:
    core, _, _ = make_core(tmp_path, max_order_quantity=10)
    ok = buy(core, 10)
    bad = buy(core, 11)
    core.risk.set_limits(core.risk.limits.model_copy(update={"max_order_quantity": 20}), "ro")
    core.risk.engage_kill_switch(actor="ro")
    core.close()
    audit = [
        json.loads(line)["body"] for line in (tmp_path / "audit.jsonl").read_text().splitlines()
    ]
    checks = {r["client_order_id"]: r for r in audit if r["action"] == "order_check"}
    assert checks[ok.order.client_order_id]["approved"] is True
    assert checks[bad.order.client_order_id]["approved"] is False
    assert checks[bad.order.client_order_id]["reason"].startswith("max_order_quantity")
    assert any(r["action"] == "kill_switch" and r["engaged"] for r in audit)

    again, venue, _ = make_core(tmp_path, venue=RecordingVenue())
    assert again.risk.kill_switch
    assert again.risk.state is TradingState.HALTED
    assert again.risk.limits.max_order_quantity == 20
    assert rejected_for(buy(again, 1), "kill_switch")
    assert venue.sent_orders == []


def test_duplicate_detection_is_on_by_default(tmp_path: Path) -> None:
    core = TradingCore(tmp_path, [AAPL], RecordingVenue(), clock_ns=ManualClock(10 * SEC))
    quote(core)
    assert core.risk.limits.duplicate_window_ms > 0
    assert buy(core).state is OrderState.NEW
    assert rejected_for(buy(core), "duplicate_order")


def test_stale_market_data_breaker_trips_and_clears_itself(tmp_path: Path) -> None:
    core, _, clock = make_core(tmp_path, max_market_data_age_ms=200)
    quote(core, locate=9)  # MSFT has data too
    core.risk.evaluate_market_data()
    assert not core.risk.breakers["stale_market_data"].tripped
    clock.now += 300 * 1_000_000
    quote(core, locate=9)  # MSFT fresh, AAPL now 300 ms old
    core.risk.evaluate_market_data()
    status = core.risk.breakers["stale_market_data"]
    assert status.tripped and status.reason.startswith("AAPL: market data 300 ms old")
    assert rejected_for(buy(core), "stale_market_data")
    quote(core, flags=FLAG_SEQ_GAP)
    assert core.risk.breakers["stale_market_data"].tripped  # fresh but gapped
    quote(core)
    assert not core.risk.breakers["stale_market_data"].tripped
    actions = [r["action"] for r in core.audit.records() if r.get("breaker") == "stale_market_data"]
    assert actions == ["breaker_tripped", "breaker_cleared"]


def test_duplicate_check_lets_a_cancelled_order_be_sent_again(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, duplicate_window_ms=1000)
    first = buy(core, 100)
    cid = first.order.client_order_id
    venue.report(OrderAccepted(cid, 0))
    core.orders.cancel(cid)
    assert rejected_for(buy(core, 100), "duplicate_order")  # cancel not confirmed yet
    venue.report(OrderCancelled(cid, 0))
    assert buy(core, 100).state is OrderState.NEW  # the quote is put back
    filled = sell(core, 7)
    fill_order(venue, filled)
    assert rejected_for(sell(core, 7), "duplicate_order")  # a filled twin is a duplicate


def test_order_check_audit_record_is_the_canonical_form_of_its_fields(tmp_path: Path) -> None:
    """The per-order record is formatted by hand for speed; it must be byte for byte what the
    generic JSON writer makes of the same fields, odd strings and an unpriced order included."""
    from velocimex.control.journal import canonical_json

    core, _, _ = make_core(tmp_path, max_order_quantity=10)
    seen: list[dict] = []
    core.risk.subscribe(seen.append)
    buy(core, 10, strategy_id='q"uo\\te é\n')
    buy(core, 11)
    core.orders.submit("MSFT", Side.SELL, 5, order_type=OrderType.MARKET)  # no data: unpriced
    core.close()
    lines = (tmp_path / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    checks = [json.loads(line) for line in lines if '"order_check"' in line]
    assert len(checks) == 3 == len(seen)
    for wrapper, record in zip(checks, seen, strict=True):
        assert wrapper["body"] == record
        text = canonical_json(record)
        assert json.dumps(wrapper, sort_keys=True, separators=(",", ":")) == (
            f'{{"body":{text},"crc":{wrapper["crc"]}}}'
        )
    assert checks[2]["body"]["price"] is None
    assert list(core.audit.records())  # every CRC verifies


def test_market_data_age_limit_is_inclusive_to_the_millisecond(tmp_path: Path) -> None:
    core, _, clock = make_core(tmp_path, max_market_data_age_ms=200)
    clock.now += 200 * 1_000_000 + 999_999  # 200 ms old, not yet 201
    assert buy(core).state is OrderState.NEW
    clock.now += 1
    assert rejected_for(buy(core, 99), "stale_market_data: market data 201 ms old")


def test_kill_switch_blocks_every_order_under_group_commit(tmp_path: Path) -> None:
    clock = ManualClock(10 * SEC)
    venue = RecordingVenue()
    limits = RiskLimits(max_messages_per_second=10_000, duplicate_window_ms=0)
    core = TradingCore(tmp_path, [AAPL], venue, limits, group_commit=True, clock_ns=clock)
    quote(core)
    open_ids = [buy(core, 10 + i).order.client_order_id for i in range(5)]
    core.risk.engage_kill_switch(actor="ro")
    # The kill switch record was fsync'd before engage returned, not left to the flusher.
    assert core.audit.unsynced == 0
    assert sorted(o.client_order_id for o in venue.sent_cancels) == sorted(open_ids)
    sent = len(venue.sent_orders)
    for i in range(50):
        assert rejected_for(buy(core, 1 + i), "kill_switch")
    assert len(venue.sent_orders) == sent
    core.close()
    again = TradingCore(tmp_path, [AAPL], RecordingVenue(), limits, group_commit=True)
    assert again.risk.kill_switch
    assert [o.state for o in again.orders.records()].count(OrderState.REJECTED) == 50
    again.close()


def test_exposure_view_equals_the_account_and_open_order_views(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path, max_position=10_000)
    a = buy(core, 300)
    fill_order(venue, a, 120)
    b = sell(core, 50)
    quote(core, locate=9)
    m = core.orders.submit("MSFT", Side.SELL, 40, price=BID)
    fill_order(venue, m)
    marks = core.risk.marks()
    working = core.orders.open_exposure()
    for symbol in ("AAPL", "MSFT"):
        position, open_buy, open_sell, count, notional, gross = core.orders.exposure(symbol, marks)
        assert position == core.orders.position(symbol).quantity
        assert open_buy == working.quantity.get((symbol, Side.BUY), 0)
        assert open_sell == working.quantity.get((symbol, Side.SELL), 0)
        assert (count, notional) == (working.count, working.notional)
        assert gross == core.orders.account().gross_exposure(marks)
    expected = core.orders.account().gross_exposure(marks)
    assert core.orders.gross_position_exposure(marks) == expected > 0
    assert core.orders.gross_position_exposure({}) == core.orders.account().gross_exposure({})
    assert b.state is OrderState.NEW


# ----------------------------------------------------------------------------- self-trade
def test_buy_meeting_our_own_working_sell_is_refused_as_a_self_trade(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    resting = sell(core, 100, ASK)
    cid = resting.order.client_order_id
    venue.report(OrderAccepted(cid, 0))
    # At or through our own offer: the venue would match us with ourselves.
    for price in (ASK, ASK + 100):
        rec = buy(core, 50, price)
        assert rejected_for(rec, "self_trade"), rec.reason
        assert f"our own working sell {cid} at {ASK}" in rec.reason
    below = buy(core, 50, ASK - 1)  # one unit under our offer does not meet it
    assert below.state is OrderState.NEW
    assert [o.client_order_id for o in venue.sent_orders] == [cid, below.order.client_order_id]
    assert core.risk.counters.reject_reasons == {"self_trade": 2}


def test_sell_meeting_our_own_working_buy_is_refused_as_a_self_trade(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    resting = buy(core, 100, BID)
    assert rejected_for(sell(core, 10, BID), "self_trade")
    assert rejected_for(sell(core, 10, BID - 100), "self_trade")
    assert sell(core, 10, BID + 1).state is OrderState.NEW
    # Partly filled, the buy still works its leaves: still refused.
    fill_order(venue, resting, qty=40)
    assert core.orders.get(resting.order.client_order_id).leaves_quantity == 60
    assert rejected_for(sell(core, 10, BID), "self_trade")


def test_self_trade_check_looks_only_at_the_same_instrument(tmp_path: Path) -> None:
    core, _, _ = make_core(tmp_path)
    quote(core, locate=9)  # MSFT at the same prices
    assert buy(core, 100, BID).state is OrderState.NEW  # AAPL
    rec = core.orders.submit("MSFT", Side.SELL, 10, price=BID)
    assert rec.state is OrderState.NEW


def test_an_order_no_longer_working_is_no_self_trade(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    resting = sell(core, 100, ASK)
    cid = resting.order.client_order_id
    venue.report(OrderAccepted(cid, 0))
    core.orders.cancel(cid)
    # Cancel asked, not confirmed: the offer can still trade, so it still counts.
    assert rejected_for(buy(core, 10, ASK), "self_trade")
    venue.report(OrderCancelled(cid, 0))
    lifted = buy(core, 10, ASK)
    assert lifted.state is OrderState.NEW
    assert rejected_for(sell(core, 10, ASK), "self_trade")
    fill_order(venue, lifted)
    assert sell(core, 10, ASK).state is OrderState.NEW  # the filled buy works nothing


def test_market_order_meets_any_of_our_working_orders_on_the_other_side(
    tmp_path: Path,
) -> None:
    core, venue, _ = make_core(tmp_path, price_collar_bps=50)
    # Far above the price the collar would give a market buy: a limit buy there would not
    # meet it, a market order is refused all the same.
    far_offer = sell(core, 100, 2 * ASK)
    assert far_offer.state is OrderState.NEW
    assert buy(core, 10, ASK * 10_050 // 10_000).state is OrderState.NEW
    rec = core.orders.submit("AAPL", Side.BUY, 10, order_type=OrderType.MARKET)
    assert rejected_for(rec, "self_trade")
    assert rec.reason.startswith("self_trade: buy at market would trade against our own")
    far_bid = buy(core, 100, BID // 2)
    assert rejected_for(
        core.orders.submit("AAPL", Side.SELL, 10, order_type=OrderType.MARKET), "self_trade"
    )
    venue.report(OrderCancelled(far_bid.order.client_order_id, 0))
    venue.report(OrderCancelled(venue.sent_orders[1].client_order_id, 0))
    market_sell = core.orders.submit("AAPL", Side.SELL, 10, order_type=OrderType.MARKET)
    assert market_sell.state is OrderState.NEW


def test_self_trade_prevention_is_on_by_default_and_can_be_switched_off(tmp_path: Path) -> None:
    assert RiskLimits().self_trade_prevention is True
    assert RiskLimits.model_json_schema()["properties"]["self_trade_prevention"]["type"] == (
        "boolean"
    )
    core, venue, _ = make_core(tmp_path)
    sell(core, 100, ASK)
    assert rejected_for(buy(core, 10, ASK), "self_trade")
    off = core.risk.limits.model_copy(update={"self_trade_prevention": False})
    core.risk.set_limits(off, actor="ro")
    crossing = buy(core, 10, ASK)
    assert crossing.state is OrderState.NEW
    assert venue.sent_orders[-1].client_order_id == crossing.order.client_order_id
    core.close()
    # The switch is a limit: it is audited and restored on start like the others.
    again, _, _ = make_core(tmp_path, venue=RecordingVenue())
    assert again.risk.limits.self_trade_prevention is False


def test_self_trade_is_checked_after_the_order_alone_and_before_position_limits(
    tmp_path: Path,
) -> None:
    core, _, _ = make_core(tmp_path, max_order_notional=ASK * 100, max_position=150)
    sell(core, 100, ASK)
    # Wrong in itself (notional): that reason first.
    assert rejected_for(buy(core, 101, ASK), "max_order_notional")
    # Crossing our offer and past the position limit (100 + 60 > 150): self-trade first.
    assert buy(core, 60, BID).state is OrderState.NEW  # does not cross: position counts it
    assert rejected_for(buy(core, 100, ASK), "self_trade")


def test_self_trade_refusal_is_audited_and_counted_in_the_metrics(tmp_path: Path) -> None:
    core, _, _ = make_core(tmp_path)
    sell(core, 100, ASK)
    refused = buy(core, 10, ASK)
    assert rejected_for(refused, "self_trade")
    checks = [
        r
        for r in core.audit.records()
        if r["action"] == "order_check" and r["client_order_id"] == refused.order.client_order_id
    ]
    assert len(checks) == 1
    assert checks[0]["approved"] is False and checks[0]["reason"] == refused.reason
    registry = CollectorRegistry()
    registry.register(CoreCollector(core))
    text = generate_latest(registry).decode()
    assert 'vx_risk_rejects_total{check="self_trade"} 1.0' in text


def test_a_price_the_venue_replaces_is_the_one_the_self_trade_check_sees(tmp_path: Path) -> None:
    core, venue, _ = make_core(tmp_path)
    offer = sell(core, 100, ASK + 500)
    cid = offer.order.client_order_id
    venue.report(OrderAccepted(cid, 0))
    assert buy(core, 10, ASK).state is OrderState.NEW  # under our offer
    venue.report(OrderReplaced(cid, 0, new_quantity=100, new_price=ASK))
    assert rejected_for(buy(core, 10, ASK), "self_trade")
    venue.report(OrderReplaced(cid, 0, new_quantity=100, new_price=ASK + 100))
    assert buy(core, 11, ASK).state is OrderState.NEW


def test_working_orders_restored_on_start_are_seen_by_the_self_trade_check(
    tmp_path: Path,
) -> None:
    core, _, _ = make_core(tmp_path)
    resting = sell(core, 100, ASK)
    core.close()
    again, _, _ = make_core(tmp_path, venue=RecordingVenue())
    assert again.orders.get(resting.order.client_order_id).state.is_open
    assert rejected_for(buy(again, 10, ASK), "self_trade")


def test_self_trade_check_reads_every_open_order_of_a_book_it_has_no_events_from(
    tmp_path: Path,
) -> None:
    # Not wired as TradingCore wires them: the risk manager never sees this book's events.
    risk = RiskManager(
        RecordingVenue(), Journal(tmp_path / "audit.jsonl", fsync=False), [AAPL], RiskLimits()
    )
    risk.on_book_top(BookTop(7, 1, 0, 0, BID, 100, ASK, 100))
    book = OrderManager(Journal(tmp_path / "orders.jsonl", fsync=False), risk)
    assert book.submit("AAPL", Side.SELL, 100, price=ASK).state is OrderState.NEW
    crossing = Order("X1", "AAPL", Side.BUY, 10, price=ASK)
    assert risk.check_order(crossing, book).reason.startswith("self_trade")
    assert risk.check_order(Order("X2", "AAPL", Side.BUY, 10, price=BID), book).approved
    # Attached but still deaf to its events: the index cannot match the book, so it is read.
    risk.attach_order_book(book)
    assert book.submit("AAPL", Side.SELL, 100, price=ASK - 50).state is OrderState.NEW
    crossing = Order("X3", "AAPL", Side.BUY, 10, price=ASK - 50)
    assert risk.check_order(crossing, book).reason.startswith("self_trade")


def test_self_trade_index_stays_the_size_of_the_book_under_quote_churn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    core, venue, _ = make_core(tmp_path)

    def no_scan(*_: object) -> str:
        raise AssertionError("the index should have answered without reading every order")

    monkeypatch.setattr(risk_module, "_self_trade_scan", no_scan)
    best = sell(core, 100, ASK)  # works all along, at the top of the sell side
    for k in range(1_000):
        quote_ = sell(core, 100, ASK + 100 + k)
        venue.report(OrderCancelled(quote_.order.client_order_id, 0))
    assert rejected_for(buy(core, 10, ASK), "self_trade")
    assert buy(core, 10, ASK - 1).state is OrderState.NEW
    assert core.orders.get(best.order.client_order_id).state.is_open
    heaps = core.risk._resting  # the index's heaps, one per instrument and side
    assert max(len(h) for h in heaps.values()) <= 64 + 4 * len(core.orders.open_records())
