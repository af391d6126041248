"""The venue's order entry against an independent client: PyPI ``nasdaq-protocols``' SoupBinTCP
session carrying OUCH 5.0, plus OUCH behaviour seen through our own SoupBinTCP client."""

from __future__ import annotations

import asyncio
import random

import pytest
from nasdaq_protocols import soup as np_soup

from velocimex.exchange.marketdata import LineConfig
from velocimex.exchange.server import Venue, VenueConfig
from velocimex.wire import itch, ouch
from velocimex.wire.soupbintcp import SoupClient


def _config(**overrides) -> VenueConfig:
    # Unique group/ports per test so parallel runs and a live exchange never collide.
    base = random.randint(30000, 60000)
    kwargs = dict(
        symbols=("AAPL", "MSFT"),
        rate=0.0,
        lines=(
            LineConfig(f"239.192.{random.randint(100, 250)}.1", base),
            LineConfig(f"239.192.{random.randint(100, 250)}.2", base + 1),
        ),
        retrans_port=0,
        ouch_port=0,
        credentials={"alice": "pw1", "bob": "pw2"},
        heartbeat_interval=0.2,
    )
    kwargs.update(overrides)
    return VenueConfig(**kwargs)


def _enter(user_ref: int, side: str, quantity: int, price: int, symbol="AAPL", tif="0", **kw):
    fields = dict(
        user_ref_num=user_ref,
        side=side,
        quantity=quantity,
        symbol=symbol,
        price=price,
        time_in_force=tif,
        display="Y",
        capacity="A",
        intermarket_sweep_eligibility="N",
        cross_type="N",
        cl_ord_id=f"CL{user_ref}",
    )
    fields.update(kw)
    return ouch.encode(ouch.INBOUND, "O", **fields)


async def _np_next(session) -> dict:
    """Next OUCH message through nasdaq_protocols, skipping its heartbeat objects."""
    while True:
        msg = await asyncio.wait_for(session.receive_msg(), 5)
        if isinstance(msg, np_soup.SequencedData):
            return ouch.decode(ouch.OUTBOUND, msg.data)


def test_nasdaq_protocols_client_enters_order_and_sees_accept_and_execution():
    async def main():
        venue = Venue(_config())
        await venue.start()
        host, port = venue.ouch_address
        alice = await np_soup.connect_async((host, port), "alice", "pw1", "", sequence=1)
        bob = await np_soup.connect_async((host, port), "bob", "pw2", venue.session, sequence=1)
        try:
            assert (await _np_next(alice))["type"] == "S"  # start-of-day system event
            assert (await _np_next(bob))["type"] == "S"
            alice.send_unseq_data(_enter(1, "B", 300, 100_0000))
            accepted = await _np_next(alice)
            assert accepted["type"] == "A"
            assert accepted["user_ref_num"] == 1 and accepted["quantity"] == 300
            assert accepted["symbol"] == "AAPL    " and accepted["price"] == 100_0000
            assert accepted["order_state"] == ouch.ORDER_STATE_LIVE
            order_ref = accepted["order_reference_number"]
            # Bob sells through Alice's bid: the execution is at the resting price.
            bob.send_unseq_data(_enter(1, "S", 100, 99_0000))
            bob_accepted = await _np_next(bob)
            bob_exec = await _np_next(bob)
            alice_exec = await _np_next(alice)
            assert bob_accepted["type"] == "A"
            for msg, flag in ((bob_exec, "R"), (alice_exec, "A")):
                assert msg["type"] == "E" and msg["quantity"] == 100
                assert msg["price"] == 100_0000 and msg["liquidity_flag"] == flag
            assert bob_exec["match_number"] == alice_exec["match_number"]
            # The public feed shows the same story: Alice's add, then its execution.
            published = [itch.decode(m) for m in venue.market_data.messages]
            add = next(m for m in published if m["type"] == "A")
            execution = next(m for m in published if m["type"] == "E")
            assert add["order_ref"] == order_ref and add["shares"] == 300
            assert execution["order_ref"] == order_ref and execution["executed_shares"] == 100
            assert execution["match_number"] == alice_exec["match_number"]
            assert venue.engine.best(venue.engine.locate("AAPL")) == (100_0000, 200, 0, 0)
        finally:
            alice.logout()
            bob.logout()
            await asyncio.sleep(0.05)
            await venue.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


async def _next(client: SoupClient) -> dict:
    return ouch.decode(ouch.OUTBOUND, await client.recv(5))


def test_ouch_cancel_replace_ioc_and_rejects():
    async def main():
        venue = Venue(_config())
        await venue.start()
        host, port = venue.ouch_address
        alice = await SoupClient.connect(host, port, "alice", "pw1")
        try:
            assert (await _next(alice))["type"] == "S"
            alice.send_unsequenced(_enter(10, "S", 500, 101_0000))
            assert (await _next(alice))["type"] == "A"
            # Partial cancel: leave 200 of 500.
            alice.send_unsequenced(ouch.encode(ouch.INBOUND, "X", user_ref_num=10, quantity=200))
            canceled = await _next(alice)
            assert canceled["type"] == "C" and canceled["quantity"] == 300
            assert canceled["reason"] == ouch.CANCEL_REASON_USER
            # Replace to a new price under a new UserRefNum.
            alice.send_unsequenced(
                ouch.encode(
                    ouch.INBOUND,
                    "U",
                    orig_user_ref_num=10,
                    user_ref_num=11,
                    quantity=200,
                    price=102_0000,
                    time_in_force="0",
                    display="Y",
                    intermarket_sweep_eligibility="N",
                    cl_ord_id="R11",
                )
            )
            replaced = await _next(alice)
            assert replaced["type"] == "U" and replaced["orig_user_ref_num"] == 10
            assert replaced["user_ref_num"] == 11 and replaced["price"] == 102_0000
            assert replaced["side"] == "S" and replaced["symbol"] == "AAPL    "
            locate = venue.engine.locate("AAPL")
            assert venue.engine.best(locate) == (0, 0, 102_0000, 200)
            # The old UserRefNum is gone: cancelling it is rejected.
            alice.send_unsequenced(ouch.encode(ouch.INBOUND, "X", user_ref_num=10, quantity=0))
            assert (await _next(alice))["type"] == "I"
            # A market IOC buy takes the 200 and the rest is cancelled 'I'.
            alice.send_unsequenced(_enter(12, "B", 300, ouch.MARKET_PRICE, tif="3"))
            kinds = [await _next(alice) for _ in range(4)]
            assert [k["type"] for k in kinds] == ["A", "E", "E", "C"]
            assert {k["liquidity_flag"] for k in kinds[1:3]} == {"A", "R"}
            assert kinds[3]["quantity"] == 100 and kinds[3]["reason"] == "I"
            # Invalid values are rejected with the specification's reason codes.
            alice.send_unsequenced(_enter(13, "B", 100, 100_0000, symbol="NOPE"))
            alice.send_unsequenced(_enter(14, "B", 0, 100_0000))
            alice.send_unsequenced(_enter(15, "B", 100, 0))
            reasons = [(await _next(alice))["reason"] for _ in range(3)]
            assert reasons == [
                ouch.REJECT_INVALID_SYMBOL,
                ouch.REJECT_INVALID_QUANTITY,
                ouch.REJECT_INVALID_PRICE,
            ]
            # A reused UserRefNum and a malformed message are dropped and counted.
            alice.send_unsequenced(_enter(15, "B", 100, 100_0000))
            alice.send_unsequenced(b"O\x00\x01")
            alice.send_unsequenced(_enter(16, "B", 100, 100_0000))
            nxt = await _next(alice)
            assert nxt["type"] == "A" and nxt["user_ref_num"] == 16
            assert venue.gateway.counters.duplicate_user_ref == 1
            assert venue.gateway.counters.malformed == 1
        finally:
            await alice.close()
            await venue.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_relogin_replays_missed_ouch_messages_and_session_end_reaches_clients():
    async def main():
        venue = Venue(_config())
        await venue.start()
        host, port = venue.ouch_address
        bob = await SoupClient.connect(host, port, "bob", "pw2")
        assert (await _next(bob))["type"] == "S"
        bob.send_unsequenced(_enter(1, "B", 100, 99_0000))
        assert (await _next(bob))["type"] == "A"
        resume_at = bob.next_sequence
        await bob.close()
        # While bob is away his resting bid is hit by another account.
        alice = await SoupClient.connect(host, port, "alice", "pw1")
        alice.send_unsequenced(_enter(1, "S", 100, 99_0000))
        await asyncio.sleep(0.1)
        bob = await SoupClient.connect(host, port, "bob", "pw2", sequence=resume_at)
        missed = await _next(bob)
        assert missed["type"] == "E" and missed["user_ref_num"] == 1
        await venue.stop()
        end = await _next(bob)
        assert end["type"] == "S" and end["event_code"] == "E"
        with pytest.raises(ConnectionError):
            await bob.recv(5)
        await bob.close()
        await alice.close()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_port_in_use_fails_start_with_a_clear_error_and_no_leftovers():
    async def main():
        first = Venue(_config())
        await first.start()
        clash = Venue(_config(ouch_port=first.ouch_address[1]))
        with pytest.raises(OSError):
            await clash.start()
        assert clash.market_data._heartbeat_task.done()
        await clash.stop()  # stopping a venue that never started is a no-op
        await first.stop()

    asyncio.run(asyncio.wait_for(main(), 30))


def test_orders_arriving_while_the_market_closes_are_counted_not_executed():
    async def main():
        venue = Venue(_config())
        await venue.start()
        host, port = venue.ouch_address
        alice = await SoupClient.connect(host, port, "alice", "pw1")
        assert (await _next(alice))["type"] == "S"
        published = len(venue.market_data.messages)
        venue.gateway.close()
        alice.send_unsequenced(_enter(1, "B", 100, 100_0000))
        await asyncio.sleep(0.2)
        assert venue.gateway.counters.after_close == 1
        assert len(venue.market_data.messages) == published
        await alice.close()
        await venue.stop()

    asyncio.run(asyncio.wait_for(main(), 30))
