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

PX = 99_0000


def make_core(tmp_path: Path, exchange: ExchangeRig) -> tuple[TradingCore, OuchVenue]:
    venue = OuchVenue(
        exchange.host, exchange.port, "alice", "pw1", tmp_path / "ouch_refs.jsonl", fsync=False
    )
    core = TradingCore(tmp_path, [Instrument("AAPL", locate=1)], venue, RiskLimits(), fsync=False)
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
