"""A venue session speaking OUCH 5.0 over SoupBinTCP 4.x (``velocimex.wire``).

The session runs its own asyncio loop on a thread, so the order manager stays synchronous.
OUCH names orders by a per-account UserRefNum that must strictly increase, and executions
carry only that number, so the session journals ``UserRefNum -> order`` (written to the OS;
fsync per record or group-committed, as the order journal) before each Enter Order goes out:
after a restart the exchange's replay of the sequenced stream still maps to our client order
ids.

Every sequenced message's number is passed on as ``venue_seq``; messages that are not about an
order (system events) are counted and otherwise ignored.

Recovery when our journals lost their tail (group commit and a power loss: docs/control-plane.md,
"Journal and restart recovery"): the session always logs in from sequence 1 and reads the whole
stream, passing on only what comes from the order manager's ``next_venue_sequence``. Every
Order Accepted echoes the order and our token (the client order id's first 14 characters), so
the ``UserRefNum -> order`` map is rebuilt from the stream whatever the refs journal lost, and
new UserRefNums continue past every one the exchange has seen. An accepted order the order
manager does not know (its journal record was lost but the order reached the exchange) is
reported as an ``OrderSubmitted`` recovered from the venue, ahead of its Accepted, so its
fills land on a known order. ``connect`` returns once the replay has been applied (the first
server heartbeat after it, which the exchange sends only when it has nothing more to send),
so no new order is numbered before every recovered one is known.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import Counter
from pathlib import Path

from velocimex.control.journal import Journal
from velocimex.control.venue import VenueSessionBase

from velocimex.domain import (
    Fill,
    Order,
    OrderAccepted,
    OrderCancelled,
    OrderCancelRejected,
    OrderEvent,
    OrderFillReported,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    Side,
)
from velocimex.wire import ouch
from velocimex.wire.soupbintcp import SessionEnded, SoupClient, SoupError

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0


class VenueUnavailable(ConnectionError):
    pass


class OuchVenue(VenueSessionBase):
    name = "ouch"

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        refs_path: str | Path,
        *,
        session: str = "",
        fsync: bool = True,
        group_commit: bool = True,
        connect_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        self.host, self.port = host, port
        self.username, self.password, self.session = username, password, session
        self.connect_timeout = connect_timeout
        self.counters: Counter[str] = Counter()
        self.last_system_event = ""
        self.error = ""
        self._refs = Journal(refs_path, fsync=fsync, group_commit=group_commit)
        self._enter_order = ouch.EnterOrderPacker()
        self._orders: dict[int, Order] = {}
        self._ref_of: dict[str, int] = {}
        for record in self._refs.records():
            order = Order(
                client_order_id=record["cid"],
                symbol=record["symbol"],
                side=Side(record["side"]),
                quantity=record["quantity"],
                order_type=OrderType(record["order_type"]),
                price=record["price"],
            )
            self._orders[record["ref"]] = order
            self._ref_of[order.client_order_id] = record["ref"]
        self._next_ref = max(self._orders, default=0) + 1
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: SoupClient | None = None
        self._reader: asyncio.Task | None = None
        self._sequence = 0
        self._report_from = 1  # sequenced messages before this are only read, never reported
        self._closing = False

    @property
    def connected(self) -> bool:
        return self._client is not None and not self._client.ended and not self.error

    # ------------------------------------------------------------------ session
    def connect(self, next_sequence: int) -> None:
        """Log in, have the exchange replay the whole sequenced stream, and report every message
        from ``next_sequence`` on; returns once the replay has been applied (or after
        ``connect_timeout``, counted as ``replay_wait_timeout``)."""
        self._report_from = next_sequence
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="ouch", daemon=True)
        self._thread.start()
        # From 1, not next_sequence: the earlier Accepted messages rebuild the UserRefNum map
        # if the refs journal lost records the order journal kept.
        future = asyncio.run_coroutine_threadsafe(self._login(1), self._loop)
        try:
            future.result(self.connect_timeout)
        except Exception as exc:
            future.cancel()
            self.error = f"login failed: {exc!r}"
            self._stop_loop()
            raise VenueUnavailable(self.error) from exc
        replayed = asyncio.run_coroutine_threadsafe(self._replay_applied(), self._loop)
        if not replayed.result(self.connect_timeout + 1):
            self.counters["replay_wait_timeout"] += 1

    async def _replay_applied(self) -> bool:
        """True once a server heartbeat followed the login and every message queued before it
        was read. The reader only suspends in ``recv``, so an empty queue seen from this loop
        means every message taken from it has been reported."""
        client = self._client
        assert client is not None
        deadline = time.monotonic() + self.connect_timeout
        heartbeats = client.heartbeats_received
        while time.monotonic() < deadline:
            if client.heartbeats_received > heartbeats and client._queue.empty():
                return True
            if client.ended or client.error:
                return False
            await asyncio.sleep(0.005)
        return False

    async def _login(self, next_sequence: int) -> None:
        await self._open(next_sequence)
        self._reader = asyncio.create_task(self._read())

    async def _open(self, next_sequence: int) -> None:
        self._client = await SoupClient.connect(
            self.host,
            self.port,
            self.username,
            self.password,
            self.session,
            sequence=next_sequence,
        )
        self.session = self._client.session
        # SoupClient counts next_sequence past messages that arrived with the login answer
        # and are already queued; our first recv() is the one before those.
        queued = self._client._queue.qsize()
        self._sequence = self._client.next_sequence - queued

    async def _read(self) -> None:
        while True:
            client = self._client
            assert client is not None
            try:
                payload = await client.recv()
            except SessionEnded as exc:
                self.error = str(exc)
                if client.ended or self._closing:
                    return  # End of Session, or we are closing: nothing to come back to
                await self._reconnect(client)
                if self._closing:
                    return
                continue
            seq, self._sequence = self._sequence, self._sequence + 1
            try:
                if seq < self._report_from:
                    self._learn(payload)
                    continue
                event = self._translate(payload, seq)
            except ouch.OuchError:
                self.counters["malformed"] += 1
                continue
            if event is not None:
                self._report(event)

    async def _reconnect(self, lost: SoupClient) -> None:
        """Log in again from the next sequence number we expect, until it works or we close.
        Until then orders and cancels are refused (the order manager records why)."""
        with contextlib.suppress(Exception):
            await lost.close(logout=False)
        delay = RECONNECT_MIN_S
        while not self._closing:
            try:
                await self._open(self._sequence)
            except (OSError, ConnectionError, SoupError, TimeoutError) as exc:
                self.error = f"reconnecting: {exc!r}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX_S)
                continue
            self.error = ""
            self.counters["reconnects"] += 1
            return

    def close(self) -> None:
        self._closing = True
        if self._loop is None:
            return
        if self._client is not None:
            client = self._client
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(client.close(), self._loop).result(5)
        self._stop_loop()
        self._refs.close()

    def _stop_loop(self) -> None:
        loop, self._loop = self._loop, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        loop.close()

    # ------------------------------------------------------------------ outbound
    def _send(self, message: bytes) -> None:
        if self._loop is None or self._client is None or not self.connected:
            raise VenueUnavailable(self.error or "OUCH session is not connected")
        self._loop.call_soon_threadsafe(self._client.send_unsequenced, message)

    def _transmit_order(self, order: Order) -> None:
        if order.price is None:
            raise ValueError("an order reaches the wire priced (risk prices market orders)")
        if order.quantity > ouch.MAX_QUANTITY or order.price > ouch.MAX_LIMIT_PRICE:
            raise ValueError("order outside OUCH quantity/price range")
        if not self.connected:
            raise VenueUnavailable(self.error or "OUCH session is not connected")
        ref = self._next_ref
        self._next_ref += 1
        # Its group fsync starts once the order has been handed on (below).
        self._remember(ref, order, wake=False)
        ioc = order.order_type in (OrderType.IOC, OrderType.MARKET)
        try:
            self._send(
                self._enter_order.pack(
                    ref,
                    order.side,
                    order.quantity,
                    order.symbol,
                    order.price,
                    ouch.TIF_IOC if ioc else ouch.TIF_DAY,
                    order.client_order_id[:14],
                )
            )
        finally:
            self._refs.wake()

    def _transmit_cancel(self, order: Order) -> None:
        ref = self._ref_of.get(order.client_order_id)
        if ref is None:
            raise ValueError(f"order {order.client_order_id} was never sent on this session")
        # Quantity 0 cancels whatever is left.
        self._send(ouch.encode(ouch.INBOUND, "X", user_ref_num=ref, quantity=0))

    # ------------------------------------------------------------------ inbound
    def _learn(self, payload: bytes) -> dict | None:
        """Take what a sequenced message tells about our UserRefNums: each one the exchange
        has seen is used up, and an Order Accepted maps its number to the order it echoes.
        Returns the decoded message."""
        msg = ouch.decode(ouch.OUTBOUND, payload)
        ref = msg.get("user_ref_num")
        if ref is None:
            return msg
        if ref >= self._next_ref:
            self._next_ref = ref + 1
        if msg["type"] == "A" and ref not in self._orders:
            order = Order(
                client_order_id=msg["cl_ord_id"].rstrip(),
                symbol=msg["symbol"].rstrip(),
                side=Side(msg["side"]),
                quantity=msg["quantity"],
                order_type=(
                    OrderType.IOC if msg["time_in_force"] == ouch.TIF_IOC else OrderType.LIMIT
                ),
                price=msg["price"],
                strategy_id="recovered",
                created_ns=msg["timestamp"],
            )
            self._remember(ref, order, durable=False)
            self.counters["refs_recovered"] += 1
        return msg

    def _remember(self, ref: int, order: Order, *, durable: bool = True, wake: bool = True) -> None:
        """Journal the UserRefNum -> order record (``durable``, ``wake``: Journal.append's)."""
        self._refs.append(
            {
                "ref": ref,
                "cid": order.client_order_id,
                "symbol": order.symbol,
                "side": str(order.side),
                "quantity": order.quantity,
                "order_type": str(order.order_type),
                "price": order.price,
            },
            durable=durable,
            wake=wake,
        )
        self._orders[ref] = order
        self._ref_of[order.client_order_id] = ref

    def _translate(self, payload: bytes, seq: int) -> OrderEvent | None:
        recovered = self.counters["refs_recovered"]
        msg = self._learn(payload)
        assert msg is not None
        kind = msg["type"]
        if kind == "S":
            self.last_system_event = msg["event_code"]
            self.counters["system_events"] += 1
            return None
        order = self._orders.get(msg.get("user_ref_num", -1))
        if order is None:
            self.counters["unknown_user_ref"] += 1
            return None
        cid, ts = order.client_order_id, msg["timestamp"]
        if kind == "A" and self.counters["refs_recovered"] > recovered:
            # An order we hold no record of reached the exchange: the order manager adopts it
            # (it drops this if its own journal kept the order) before its Accepted.
            self._report(OrderSubmitted(cid, ts, order=order))
        if kind == "A":
            return OrderAccepted(
                cid, ts, venue_order_id=str(msg["order_reference_number"]), venue_seq=seq
            )
        if kind == "E":
            # Both sides of one match carry the same match number, and both are ours when
            # our bid meets our own offer: the side keeps the two executions apart (a bare
            # match number made the second look like a duplicate, and it was dropped).
            fill = Fill(
                cid,
                f"{self.session.strip()}-{order.side}-{msg['match_number']}",
                order.symbol,
                order.side,
                msg["quantity"],
                msg["price"],
                venue=self.name,
                ts_ns=ts,
                liquidity=msg["liquidity_flag"],
            )
            return OrderFillReported(cid, ts, fill=fill, venue_seq=seq)
        if kind == "C":
            return OrderCancelled(
                cid, ts, cancelled_quantity=msg["quantity"], reason=msg["reason"], venue_seq=seq
            )
        if kind == "J":
            return OrderRejected(
                cid, ts, reason=f"venue reject {msg['reason']:#06x}", venue_seq=seq
            )
        if kind == "I":
            return OrderCancelRejected(cid, ts, reason="venue cancel reject", venue_seq=seq)
        self.counters[f"unhandled_{kind}"] += 1
        return None
