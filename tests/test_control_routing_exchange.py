"""Smart order routing against two instances of the exchange simulator over loopback: one
OUCH 5.0 / SoupBinTCP session to each, each venue's own book as its top of book."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal
from velocimex.control.ouch_venue import OuchVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.routing import ParentState, RoutingVenue, SmartRouter
from velocimex.control.venue_set import VenueSet

from tests.exchange_rig import ExchangeRig, venue_config, wait_for
from tests.serve_process import admin_token, call, free_port, spawn_serve, stop_process
from velocimex.book_contract import RECORD_DTYPE
from velocimex.domain import BookTop, Instrument, OrderState, Side
from velocimex.feed.bus import topic
from velocimex.wire import ouch

PX = 99_0000
AAPL = Instrument("AAPL", locate=1)


class Exchange(ExchangeRig):
    """One simulator (no background flow) plus a seller 'bob'; its book read as a top."""

    def __init__(self) -> None:
        super().__init__(venue_config(network="239.193"))
        self.seq = 0

    def bob_rests_sell(self, quantity: int, price: int) -> None:
        self.bob_sells(quantity, price, ouch.TIF_DAY)

    def bob_sells_ioc(self, quantity: int, price: int) -> None:
        self.bob_sells(quantity, price, ouch.TIF_IOC)

    def top(self) -> BookTop:
        """This venue's displayed best bid and offer, read on its own loop."""
        engine = self.venue.engine
        best = self.on_loop(lambda: engine.best(engine.locate("AAPL")))
        bid_px, bid_qty, ask_px, ask_qty = best  # type: ignore[misc]
        self.seq += 1
        return BookTop(AAPL.locate, self.seq, self.seq, 0, bid_px, bid_qty, ask_px, ask_qty)


@pytest.fixture
def exchanges():  # type: ignore[no-untyped-def]
    pair = Exchange(), Exchange()
    yield pair
    for ex in pair:
        ex.stop()


def make_router(
    tmp_path: Path, x: Exchange, y: Exchange, *, durable: bool = False
) -> tuple[TradingCore, SmartRouter, VenueSet]:
    """``durable``: the journals a user gets by default (group commit, routing.jsonl too)."""
    sessions = {
        name: OuchVenue(
            ex.host, ex.port, "alice", "pw1", tmp_path / f"refs_{name}.jsonl", fsync=durable
        )
        for name, ex in (("X", x), ("Y", y))
    }
    venues = VenueSet(sessions, tmp_path / "venue_seq.jsonl", fsync=durable)
    core = TradingCore(tmp_path, [AAPL], venues, RiskLimits(), fsync=durable)
    router = SmartRouter(
        core,
        [RoutingVenue("X"), RoutingVenue("Y")],
        venues.on_venue_book_top,
        session_problem=venues.session_problem,
        journal=Journal(tmp_path / "routing.jsonl", group_commit=True) if durable else None,
    )
    return core, router, venues


def wait_for_offer(ex: Exchange, qty: int) -> None:
    wait_for(lambda: ex.top().ask_qty == qty)


def rest_two_offers(x: Exchange, y: Exchange) -> None:
    """Bob offers 200 at PX + 100 on x and 300 at PX on y; returns once both books show them."""
    x.bob_rests_sell(200, PX + 100)
    y.bob_rests_sell(300, PX)
    wait_for_offer(x, 200)
    wait_for_offer(y, 300)


def test_parent_is_split_over_two_exchanges_by_price_and_fills_aggregate(
    tmp_path: Path, exchanges
) -> None:
    x, y = exchanges
    rest_two_offers(x, y)
    core, router, venues = make_router(tmp_path, x, y)
    try:
        router.on_venue_book_top("X", x.top())
        router.on_venue_book_top("Y", y.top())
        parent = router.submit("AAPL", Side.BUY, 400, PX + 100, time_in_force="ioc")
        wait_for(lambda: router.snapshot(parent.parent_id).state is ParentState.FILLED)
        children = [core.orders.get(c) for c in router.snapshot(parent.parent_id).children]
        assert [(r.order.venue, r.order.quantity, r.order.price) for r in children] == [
            ("Y", 300, PX),
            ("X", 100, PX + 100),
        ]
        assert [r.filled_quantity for r in children] == [300, 100]
        position = core.orders.position("AAPL")
        assert position.quantity == 400
        assert x.venue.gateway.counters.orders_entered == 2  # bob's and ours
        assert y.venue.gateway.counters.orders_entered == 2
        assert x.top().ask_qty == 100 and y.top().ask_qty == 0  # what we left on each book
        assert not core.orders.anomalies
    finally:
        venues.close()
        core.close()


def test_day_remainder_rests_on_one_exchange_and_parent_cancel_clears_both(
    tmp_path: Path, exchanges
) -> None:
    x, y = exchanges
    x.bob_rests_sell(100, PX)
    wait_for_offer(x, 100)
    core, router, venues = make_router(tmp_path, x, y)
    try:
        router.on_venue_book_top("X", x.top())
        router.on_venue_book_top("Y", y.top())  # Y's book is empty
        parent = router.submit("AAPL", Side.BUY, 300, PX)
        wait_for(lambda: router.snapshot(parent.parent_id).filled == 100)
        snap = router.snapshot(parent.parent_id)
        assert snap.state is ParentState.WORKING and snap.working == 200
        resting = [core.orders.get(c) for c in snap.children if core.orders.get(c).state.is_open]
        assert [(r.order.venue, r.order.quantity) for r in resting] == [("X", 200)]
        wait_for(lambda: len(x.venue.engine.resting_orders()) == 1)
        router.cancel(parent.parent_id)
        wait_for(lambda: router.snapshot(parent.parent_id).state is ParentState.CANCELLED)
        assert x.venue.engine.resting_orders() == [] and y.venue.engine.resting_orders() == []
        assert core.orders.position("AAPL").quantity == 100
    finally:
        venues.close()
        core.close()


def test_fills_racing_a_reroute_cancel_never_overfill_the_parent(tmp_path: Path, exchanges) -> None:
    """Our parent rests on X. An offer appears on Y, so the router cancels the rest on X, while
    a seller on X hits it at the same moment: whichever the exchange sees first, the children
    together fill exactly the parent, and what X did not fill goes to Y."""
    x, y = exchanges
    x.bob_rests_sell(100, PX + 5000)  # an offer above our limit: X ranks first for the rest
    wait_for_offer(x, 100)
    core, router, venues = make_router(tmp_path, x, y)
    try:
        router.on_venue_book_top("X", x.top())
        router.on_venue_book_top("Y", y.top())
        expected = 0
        # Parent sizes differ per round: an identical child inside the risk manager's duplicate
        # window would (rightly) be held back until the next top.
        for round_no, (size, bob_x) in enumerate(((400, 150), (401, 401), (402, 250), (403, 402))):
            parent = router.submit("AAPL", Side.BUY, size, PX)
            wait_for(lambda: len(x.venue.engine.resting_orders()) == 2)  # bob's and our rest
            y.bob_rests_sell(500, PX)
            wait_for_offer(y, 500)
            top_y = y.top()
            if round_no % 2:  # the re-route cancel leaves first, the seller right behind it
                router.on_venue_book_top("Y", top_y)
                x.bob_sells_ioc(bob_x, PX)
            else:  # the seller first, the cancel right behind it
                x.bob_sells_ioc(bob_x, PX)
                router.on_venue_book_top("Y", top_y)
            pid = parent.parent_id
            wait_for(lambda p=pid: router.snapshot(p).is_done, timeout=15)
            snap = router.snapshot(pid)
            assert (snap.state, snap.filled) == (ParentState.FILLED, size), (round_no, snap)
            children = [core.orders.get(c) for c in snap.children]
            assert sum(r.filled_quantity for r in children) == size
            assert len(children) <= 2  # the rest on X, and at most one child to Y
            expected += size
            # clear what is left of Y's offer for the next round
            y_left = y.top().ask_qty
            if y_left:
                ioc = router.submit(
                    "AAPL", Side.BUY, y_left, PX, time_in_force="ioc", strategy_id="sweep"
                )
                wait_for(lambda p=ioc.parent_id: router.snapshot(p).is_done)
                expected += router.snapshot(ioc.parent_id).filled
            router.on_venue_book_top("X", x.top())
            router.on_venue_book_top("Y", y.top())
        assert not core.orders.anomalies, core.orders.last_anomaly
        assert router.counters["child_refused_by_risk"] == 0
        assert core.orders.position("AAPL").quantity == expected
    finally:
        venues.close()
        core.close()


def test_restart_replays_both_exchanges_streams_exactly_once(tmp_path: Path, exchanges) -> None:
    x, y = exchanges

    def ours(ex: Exchange) -> list:
        return [o for o in ex.venue.engine.resting_orders() if o.owner[0] == "alice"]

    for ex in (x, y):
        ex.bob_rests_sell(100, PX + 5000)  # a market to collar against
        wait_for_offer(ex, 100)
    core, router, venues = make_router(tmp_path, x, y)
    router.on_venue_book_top("X", x.top())
    router.on_venue_book_top("Y", y.top())
    cid_x = core.orders.submit("AAPL", Side.BUY, 300, price=PX, venue="X").order.client_order_id
    cid_y = core.orders.submit("AAPL", Side.BUY, 300, price=PX, venue="Y").order.client_order_id
    wait_for(lambda: len(ours(x)) == 1 and len(ours(y)) == 1)
    x.bob_sells_ioc(100, PX)
    y.bob_sells_ioc(40, PX)
    wait_for(lambda: core.orders.position("AAPL").quantity == 140)
    venues.close()
    core.close()

    x.bob_sells_ioc(50, PX)  # while we are down, on both exchanges
    y.bob_sells_ioc(70, PX)
    y.bob_sells_ioc(10, PX)
    wait_for(lambda: ours(x)[0].shares == 150 and ours(y)[0].shares == 180)

    again, _, venues2 = make_router(tmp_path, x, y)
    try:
        wait_for(lambda: again.orders.position("AAPL").quantity == 270)
        time.sleep(0.3)  # anything replayed twice would arrive now
        assert again.orders.get(cid_x).filled_quantity == 150
        assert again.orders.get(cid_y).filled_quantity == 120
        assert again.orders.position("AAPL").quantity == 270
        assert not again.orders.anomalies
        assert venues2.counters["X_duplicate_sequence"] == 0
        for name, ex in (("X", x), ("Y", y)):
            stream = ex.venue.gateway.server.stream("alice")
            assert venues2.next_sequence(name) == stream.next_sequence
        again.orders.cancel(cid_y)  # the restarted session still owns its orders
        wait_for(lambda: ours(y) == [])
    finally:
        venues2.close()
        again.close()


def test_children_whose_journal_records_were_lost_are_recovered_from_both_replays(
    tmp_path: Path, exchanges
) -> None:
    # Group commit and a power loss right after a routed parent traded on both exchanges:
    # the group-committed journals lose everything written since the snapshot below
    # (venue_seq.jsonl fsyncs each record and keeps its mappings).
    x, y = exchanges
    rest_two_offers(x, y)
    core, router, venues = make_router(tmp_path, x, y, durable=True)
    assert core.journal.group_commit and router.journal is not None
    assert router.journal.group_commit
    names = ["orders.jsonl", "audit.jsonl", "refs_X.jsonl", "refs_Y.jsonl", "routing.jsonl"]
    snapshot = {n: (tmp_path / n).stat().st_size for n in names if (tmp_path / n).exists()}
    router.on_venue_book_top("X", x.top())
    router.on_venue_book_top("Y", y.top())
    parent = router.submit("AAPL", Side.BUY, 400, PX + 100, time_in_force="ioc")
    wait_for(lambda: router.snapshot(parent.parent_id).state is ParentState.FILLED)
    children = sorted(router.snapshot(parent.parent_id).children.items(), key=lambda c: c[1])
    venues.close()
    core.close()
    for name in names:
        path = tmp_path / name
        with open(path, "r+b") as fh:
            fh.truncate(snapshot.get(name, 0))
    entered = (x.venue.gateway.counters.orders_entered, y.venue.gateway.counters.orders_entered)

    again, router2, venues2 = make_router(tmp_path, x, y, durable=True)
    try:
        assert again.orders.anomalies == {"recovered_from_venue": 2}
        got = [(cid, again.orders.get(cid)) for cid, _ in children]
        assert [
            (r.order.venue, r.order.quantity, r.order.price, r.filled_quantity) for _, r in got
        ] == [("X", 100, PX + 100, 100), ("Y", 300, PX, 300)]
        assert again.orders.position("AAPL").quantity == 400
        counters = (
            x.venue.gateway.counters.orders_entered,
            y.venue.gateway.counters.orders_entered,
        )
        assert counters == entered  # nothing was sent again
        assert router2.parents == {}  # the parent's record was lost: not resumed
        # New orders take fresh ids and UserRefNums on both sessions.
        router2.on_venue_book_top("X", x.top())
        router2.on_venue_book_top("Y", y.top())
        for venue_name in ("X", "Y"):
            rec = again.orders.submit("AAPL", Side.BUY, 10, price=PX - 1000, venue=venue_name)
            assert rec.reason == "" and rec.order.client_order_id not in dict(children)
            cid = rec.order.client_order_id
            wait_for(lambda c=cid: again.orders.get(c).state is OrderState.ACKNOWLEDGED)
        assert x.venue.gateway.counters.duplicate_user_ref == 0
        assert y.venue.gateway.counters.duplicate_user_ref == 0
    finally:
        venues2.close()
        again.close()


def test_serve_routes_over_two_exchanges_with_a_feed_per_venue(tmp_path: Path, exchanges) -> None:
    """`velocimex serve --venue X=HOST:PORT,feed=... --venue Y=...` as a user runs it: one OUCH
    session and one market-data bus subscription per venue."""
    x, y = exchanges
    rest_two_offers(x, y)
    context = zmq.Context.instance()
    buses = {}
    for name in ("X", "Y"):
        pub = context.socket(zmq.PUB)
        pub.setsockopt(zmq.LINGER, 0)
        buses[name] = (pub, f"tcp://127.0.0.1:{pub.bind_to_random_port('tcp://127.0.0.1')}")
    port = free_port()
    proc = spawn_serve(
        port, "serve-test-password", "--data-dir", str(tmp_path), "--instruments", "AAPL:7",
        "--log-level", "warning",
        "--venue", f"X={x.host}:{x.port},feed={buses['X'][1]}",
        "--venue", f"Y={y.host}:{y.port},feed={buses['Y'][1]},fee=5",
        "--ouch-user", "alice", "--ouch-password", "pw1",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        token = admin_token(proc, base, "serve-test-password")

        def usable_quotes() -> int:
            for name, ex in (("X", x), ("Y", y)):
                top = ex.top()  # the exchange's own book, with its own locate
                record = np.zeros(1, dtype=RECORD_DTYPE)
                for fld in ("seq", "timestamp", "bid_px", "bid_qty", "ask_px", "ask_qty"):
                    record[fld] = getattr(top, fld)
                record["locate"] = x.venue.engine.locate("AAPL")
                buses[name][0].send_multipart([topic("AAPL"), record.tobytes()])
            venues = call(f"{base}/routing", token=token)["venues"]
            return sum(1 for v in venues for q in v["quotes"] if q["problem"] is None)

        wait_for(lambda: usable_quotes() == 2, timeout=20)
        body = {"symbol": "AAPL", "side": "B", "quantity": 400, "limit_price": PX + 100,
                "time_in_force": "ioc"}  # fmt: skip
        pid = call(f"{base}/routing/orders", body, token)["parent_id"]
        wait_for(lambda: call(f"{base}/routing/orders/{pid}", token=token)["state"] == "filled")
        parent = call(f"{base}/routing/orders/{pid}", token=token)
        assert [(c["venue"], c["filled_quantity"]) for c in parent["children"]] == [
            ("Y", 300),
            ("X", 100),
        ]
        assert call(f"{base}/positions", token=token)[0]["quantity"] == 400
        assert (tmp_path / "ouch_refs_X.jsonl").exists() and (tmp_path / "venue_seq.jsonl").exists()
    finally:
        stop_process(proc)
        for pub, _ in buses.values():
            pub.close()
    assert proc.returncode == 0
