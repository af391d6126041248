"""The OUCH 5.0 / SoupBinTCP venue session against the project's exchange simulator: orders
through risk onto the wire, executions back into positions, and restart recovery from the
exchange's replay of the sequenced stream."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from velocimex.control.core import TradingCore
from velocimex.control.ouch_venue import OuchVenue, VenueUnavailable
from velocimex.control.risk import RiskLimits

from tests.exchange_rig import ExchangeRig, venue_config, wait_for
from velocimex.domain import BookTop, Instrument, OrderState, Side
from velocimex.wire import ouch

PX = 99_0000


def make_core(
    tmp_path: Path, exchange: ExchangeRig, *, fsync: bool = False
) -> tuple[TradingCore, OuchVenue]:
    """``fsync=True``: the durability a user gets by default (group commit)."""
    venue = OuchVenue(
        exchange.host, exchange.port, "alice", "pw1", tmp_path / "ouch_refs.jsonl", fsync=fsync
    )
    core = TradingCore(tmp_path, [Instrument("AAPL", locate=1)], venue, RiskLimits(), fsync=fsync)
    core.on_book_top(BookTop(1, 1, 0, 0, PX - 100, 100, PX + 100, 100))
    return core, venue


@pytest.fixture
def exchange():  # type: ignore[no-untyped-def]
    ex = ExchangeRig(venue_config())
    yield ex
    ex.stop()


def test_orders_fills_and_cancels_round_trip_through_ouch(tmp_path: Path, exchange) -> None:
    core, venue = make_core(tmp_path, exchange)
    try:
        cid = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
        wait_for(lambda: core.orders.get(cid).state is OrderState.ACKNOWLEDGED)
        exchange.bob_sells(60, PX - 5000)  # trades at our resting price
        wait_for(lambda: core.orders.get(cid).filled_quantity == 60)
        core.orders.cancel(cid)
        wait_for(lambda: core.orders.get(cid).state is OrderState.CANCELLED)
        rec = core.orders.get(cid)
        assert (rec.filled_quantity, rec.leaves_quantity) == (60, 0)
        pos = core.orders.position("AAPL")
        assert pos.quantity == 60 and pos.average_price == PX
        # A second cancel of a dead order is refused locally; the exchange would reject it.
        assert venue.counters["unknown_user_ref"] == 0
    finally:
        venue.close()
        core.close()


def test_restart_applies_executions_missed_while_down_exactly_once(
    tmp_path: Path, exchange
) -> None:
    core, venue = make_core(tmp_path, exchange)
    cid = core.orders.submit("AAPL", Side.BUY, 300, price=PX).order.client_order_id
    wait_for(lambda: core.orders.get(cid).state is OrderState.ACKNOWLEDGED)
    exchange.bob_sells(100, PX)
    wait_for(lambda: core.orders.get(cid).filled_quantity == 100)
    venue.close()
    core.close()

    exchange.bob_sells(150, PX)  # while we are down
    time.sleep(0.3)

    again, venue2 = make_core(tmp_path, exchange)
    try:
        wait_for(lambda: again.orders.get(cid).filled_quantity == 250)
        time.sleep(0.3)  # anything else replayed would arrive now
        rec = again.orders.get(cid)
        assert rec.filled_quantity == 250 and rec.state is OrderState.PARTIALLY_FILLED
        assert again.orders.position("AAPL").quantity == 250
        assert not again.orders.anomalies
        # The restarted session still owns the order: it can cancel it.
        again.orders.cancel(cid)
        wait_for(lambda: again.orders.get(cid).state is OrderState.CANCELLED)
        # Our journaled position in the stream is exactly the exchange's.
        stream = exchange.venue.gateway.server.stream("alice")
        assert again.orders.next_venue_sequence == stream.next_sequence
    finally:
        venue2.close()
        again.close()


def test_orders_whose_journal_records_were_lost_are_recovered_from_the_replay(
    tmp_path: Path, exchange
) -> None:
    # Group commit (the default) acknowledges an order once its records are in the OS; a
    # power loss can then lose the tail of every journal while the orders are already at the
    # exchange. Simulated here by cutting the journals back to what they held before the
    # last two orders went out.
    core, venue = make_core(tmp_path, exchange, fsync=True)
    assert core.journal.group_commit and core.audit.group_commit
    kept = core.orders.submit("AAPL", Side.BUY, 100, price=PX - 300).order.client_order_id
    wait_for(lambda: core.orders.get(kept).state is OrderState.ACKNOWLEDGED)
    journals = [tmp_path / n for n in ("orders.jsonl", "audit.jsonl", "ouch_refs.jsonl")]
    synced = {path: path.stat().st_size for path in journals}
    buy = core.orders.submit("AAPL", Side.BUY, 300, price=PX).order.client_order_id
    sell = core.orders.submit("AAPL", Side.SELL, 200, price=PX + 500).order.client_order_id
    wait_for(lambda: core.orders.get(sell).state is OrderState.ACKNOWLEDGED)
    exchange.bob_sells(120, PX)
    wait_for(lambda: core.orders.get(buy).filled_quantity == 120)
    venue.close()
    core.close()
    exchange.bob_sells(80, PX)  # while we are down
    exchange.enter("bob", "B", 50, PX + 500, ouch.TIF_IOC)
    time.sleep(0.3)
    entered = exchange.venue.gateway.counters.orders_entered
    for path, size in synced.items():
        with open(path, "r+b") as fh:
            fh.truncate(size)

    again, venue2 = make_core(tmp_path, exchange, fsync=True)
    try:
        # connect() returned after the replay was applied: nothing to wait for.
        assert again.orders.anomalies == {"recovered_from_venue": 2}
        rec_buy, rec_sell = again.orders.get(buy), again.orders.get(sell)
        assert (rec_buy.order.side, rec_buy.order.quantity, rec_buy.order.price) == (
            Side.BUY, 300, PX,
        )  # fmt: skip
        assert (rec_buy.filled_quantity, rec_buy.state) == (200, OrderState.PARTIALLY_FILLED)
        assert (rec_sell.filled_quantity, rec_sell.state) == (50, OrderState.PARTIALLY_FILLED)
        assert again.orders.get(kept).state is OrderState.ACKNOWLEDGED
        assert again.orders.position("AAPL").quantity == 200 - 50
        stream = exchange.venue.gateway.server.stream("alice")
        assert again.orders.next_venue_sequence == stream.next_sequence
        counters = exchange.venue.gateway.counters
        assert counters.orders_entered == entered  # nothing was sent again
        # A new order takes an id and a UserRefNum past the recovered ones: the exchange
        # accepts it as a new order.
        new = again.orders.submit("AAPL", Side.BUY, 10, price=PX - 1000).order.client_order_id
        assert new not in (kept, buy, sell)
        wait_for(lambda: again.orders.get(new).state is OrderState.ACKNOWLEDGED)
        assert counters.duplicate_user_ref == 0 and counters.orders_entered == entered + 1
        # The recovered orders are ours to cancel.
        again.orders.cancel(buy)
        wait_for(lambda: again.orders.get(buy).state is OrderState.CANCELLED)
    finally:
        venue2.close()
        again.close()

    # The recovery was journaled: a third start rebuilds the same state with no new anomaly.
    third, venue3 = make_core(tmp_path, exchange, fsync=True)
    try:
        assert not third.orders.anomalies
        assert third.orders.get(buy).state is OrderState.CANCELLED
        assert third.orders.get(sell).filled_quantity == 50
        assert third.orders.position("AAPL").quantity == 150
    finally:
        venue3.close()
        third.close()


def test_unreachable_exchange_fails_clearly(tmp_path: Path) -> None:
    venue = OuchVenue("127.0.0.1", 1, "alice", "pw1", tmp_path / "refs.jsonl", connect_timeout=1)
    with pytest.raises(VenueUnavailable):
        TradingCore(tmp_path, [Instrument("AAPL", locate=1)], venue, fsync=False)


def test_kill_switch_cancels_at_the_exchange_and_nothing_new_is_entered(
    tmp_path: Path, exchange
) -> None:
    core, venue = make_core(tmp_path, exchange)
    try:
        cids = [
            core.orders.submit("AAPL", Side.BUY, 100, price=PX - i * 100).order.client_order_id
            for i in range(3)
        ]
        wait_for(lambda: all(core.orders.get(c).state is OrderState.ACKNOWLEDGED for c in cids))
        counters = exchange.venue.gateway.counters
        entered = counters.orders_entered
        core.kill("risk_officer", "drill")
        wait_for(lambda: all(core.orders.get(c).state is OrderState.CANCELLED for c in cids))
        for i in range(20):
            core.orders.submit("AAPL", Side.BUY, 100, price=PX - 1000 - i)
        time.sleep(0.3)
        assert counters.orders_entered == entered  # no order reached the exchange
        assert counters.cancels == 3
        assert exchange.venue.engine.resting_orders() == []
    finally:
        venue.close()
        core.close()


def test_session_reconnects_after_link_loss_and_recovers_missed_fills(
    tmp_path: Path, exchange
) -> None:
    core, venue = make_core(tmp_path, exchange)
    try:
        cid = core.orders.submit("AAPL", Side.BUY, 300, price=PX).order.client_order_id
        wait_for(lambda: core.orders.get(cid).state is OrderState.ACKNOWLEDGED)
        server = exchange.venue.gateway.server

        async def drop_link() -> None:
            server._writers["alice"].transport.abort()  # the TCP link dies under us

        exchange.run(drop_link())
        exchange.bob_sells(120, PX)  # executes while we may be away
        wait_for(lambda: venue.counters["reconnects"] == 1, timeout=20)
        wait_for(lambda: core.orders.get(cid).filled_quantity == 120)
        exchange.bob_sells(30, PX)
        wait_for(lambda: core.orders.get(cid).filled_quantity == 150)
        assert core.orders.position("AAPL").quantity == 150
        assert not core.orders.anomalies
        core.orders.cancel(cid)  # the session is usable again
        wait_for(lambda: core.orders.get(cid).state is OrderState.CANCELLED)
    finally:
        venue.close()
        core.close()


def test_our_bid_meeting_our_own_offer_fills_both_orders(tmp_path: Path, exchange) -> None:
    # Both sides of one match carry the same OUCH match number. Keyed by match number alone,
    # the second execution was dropped as a duplicate and its order stayed acknowledged at
    # our end while the exchange had it filled: every cancel of it was then rejected.
    core, venue = make_core(tmp_path, exchange)
    # The session must cope with a match of ours on both sides (two cores on one account, or
    # the risk control switched off), so the pre-trade self-trade check is off here.
    limits = core.risk.limits.model_copy(update={"self_trade_prevention": False})
    core.risk.set_limits(limits, actor="test")
    try:
        sell = core.orders.submit("AAPL", Side.SELL, 100, price=PX).order.client_order_id
        wait_for(lambda: core.orders.get(sell).state is OrderState.ACKNOWLEDGED)
        buy = core.orders.submit("AAPL", Side.BUY, 100, price=PX).order.client_order_id
        wait_for(lambda: core.orders.get(buy).state is OrderState.FILLED)
        wait_for(lambda: core.orders.get(sell).state is OrderState.FILLED)
        assert not core.orders.anomalies
        assert core.orders.position("AAPL").quantity == 0
        assert core.orders.open_records() == []
        assert exchange.venue.engine.resting_orders() == []
    finally:
        venue.close()
        core.close()
