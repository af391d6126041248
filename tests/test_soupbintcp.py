"""SoupBinTCP 4.x: framing, login fields, and the asyncio server/client on 127.0.0.1."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.wire import soupbintcp as soup


def test_packets_are_length_type_payload():
    assert soup.sequenced_data(b"xyz") == b"\x00\x04Sxyz"
    assert soup.server_heartbeat() == b"\x00\x01H"
    assert soup.client_heartbeat() == b"\x00\x01R"
    assert soup.end_of_session() == b"\x00\x01Z"
    assert soup.logout_request() == b"\x00\x01O"
    assert soup.login_rejected("A") == b"\x00\x02JA"


def test_login_request_layout_and_parse():
    raw = soup.LoginRequest("bob", "pw", "SESS1", 42).encode()
    assert raw[:3] == b"\x00\x2fL"  # 47 = type + 6 + 10 + 10 + 20
    assert raw[3:9] == b"bob   "
    assert raw[9:19] == b"pw        "
    assert raw[19:29] == b"SESS1     "
    assert raw[29:49] == b"42".rjust(20)
    assert soup.LoginRequest.parse(raw[3:]) == soup.LoginRequest("bob", "pw", "SESS1", 42)
    # Some clients left-justify the number; the value is the same.
    left = raw[3:29] + b"42".ljust(20)
    assert soup.LoginRequest.parse(left).sequence == 42


def test_login_accepted_round_trip_and_bad_fields():
    raw = soup.LoginAccepted("S1", 7).encode()
    assert len(raw) == 2 + 31
    assert soup.LoginAccepted.parse(raw[3:]) == soup.LoginAccepted("S1", 7)
    with pytest.raises(soup.SoupError, match="must be 30 bytes"):
        soup.LoginAccepted.parse(raw[3:-1])
    with pytest.raises(soup.SoupError, match="not a decimal"):
        soup.LoginRequest.parse(b"u".ljust(26) + b"12x".rjust(20))
    with pytest.raises(soup.SoupError, match="longer than 6"):
        soup.LoginRequest("toolong", "pw").encode()
    with pytest.raises(soup.SoupError, match="reason"):
        soup.login_rejected("X")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(min_size=0, max_size=40), max_size=20),
    st.lists(st.integers(1, 50), min_size=1, max_size=30),
)
def test_decoder_reassembles_packets_split_anywhere(payloads, cuts):
    stream = b"".join(soup.sequenced_data(p) for p in payloads) + soup.server_heartbeat()
    decoder = soup.FrameDecoder(soup.SERVER_TYPES)
    got: list[soup.SoupPacket] = []
    i = 0
    k = 0
    while i < len(stream):
        step = cuts[k % len(cuts)]
        got += decoder.feed(stream[i : i + step])
        i += step
        k += 1
    assert [p.payload for p in got[:-1]] == payloads
    assert got[-1].type == soup.SERVER_HEARTBEAT
    assert decoder.buffered == 0


def test_decoder_rejects_zero_length_and_misdirected_types_and_counts_malformed():
    with pytest.raises(soup.SoupError, match="zero-length"):
        soup.FrameDecoder(soup.SERVER_TYPES).feed(b"\x00\x00")
    with pytest.raises(soup.SoupError, match="unknown or misdirected"):
        soup.FrameDecoder(soup.SERVER_TYPES).feed(soup.unsequenced_data(b"x"))
    decoder = soup.FrameDecoder(soup.SERVER_TYPES)
    assert decoder.feed(b"\x00\x02Hx" + soup.server_heartbeat()) == [
        soup.SoupPacket(soup.SERVER_HEARTBEAT, b"")
    ]
    assert decoder.malformed == 1


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


class _Echo:
    """Server application: answers each unsequenced message with a sequenced 'ack:' copy."""

    def __init__(self) -> None:
        self.server: soup.SoupServer | None = None
        self.received: list[tuple[str, bytes]] = []

    def __call__(self, user: str, payload: bytes) -> None:
        self.received.append((user, payload))
        assert self.server is not None
        self.server.send(user, b"ack:" + payload)


async def _start(**kwargs) -> tuple[soup.SoupServer, _Echo, int]:
    app = _Echo()
    server = soup.SoupServer("SESS1", {"alice": "pw1", "bob": "pw2"}, app, **kwargs)
    app.server = server
    _, port = await server.start("127.0.0.1", 0)
    return server, app, port


def test_login_unsequenced_and_sequenced_messages_flow_both_ways():
    async def main():
        server, app, port = await _start()
        client = await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1")
        assert client.session == "SESS1" and client.next_sequence == 1
        client.send_unsequenced(b"hello")
        client.send_unsequenced(b"world")
        assert await client.recv(5) == b"ack:hello"
        assert await client.recv(5) == b"ack:world"
        assert client.next_sequence == 3
        assert app.received == [("alice", b"hello"), ("alice", b"world")]
        await client.close()
        await server.close()

    _run(main())


def test_bad_credentials_and_unknown_session_are_rejected():
    async def main():
        server, _, port = await _start()
        with pytest.raises(soup.LoginRejectedError) as exc:
            await soup.SoupClient.connect("127.0.0.1", port, "alice", "wrong")
        assert exc.value.reason == "A"
        with pytest.raises(soup.LoginRejectedError) as exc:
            await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1", session="OTHER")
        assert exc.value.reason == "S"
        first = await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1")
        with pytest.raises(soup.LoginRejectedError):  # one connection per user
            await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1")
        assert server.counters.login_rejects == 3
        await first.close()
        await server.close()

    _run(main())


def test_relogin_replays_sequenced_messages_from_the_requested_number():
    async def main():
        server, _, port = await _start()
        for k in range(5):
            server.send("bob", b"m%d" % (k + 1))
        client = await soup.SoupClient.connect("127.0.0.1", port, "bob", "pw2", sequence=1)
        got = [await client.recv(5) for _ in range(5)]
        assert got == [b"m1", b"m2", b"m3", b"m4", b"m5"]
        await client.close()
        server.send("bob", b"m6")  # sent while bob is away
        again = await soup.SoupClient.connect(
            "127.0.0.1", port, "bob", "pw2", session="SESS1", sequence=4
        )
        assert [await again.recv(5) for _ in range(3)] == [b"m4", b"m5", b"m6"]
        assert again.next_sequence == 7
        await again.close()
        # Sequence 0: only what is sent from now on.
        live = await soup.SoupClient.connect("127.0.0.1", port, "bob", "pw2", sequence=0)
        assert live.next_sequence == 7
        server.send("bob", b"m7")
        assert await live.recv(5) == b"m7"
        await live.close()
        assert server.counters.replayed_messages == 8
        await server.close()

    _run(main())


def test_idle_link_carries_heartbeats_and_end_of_session_ends_the_client():
    async def main():
        server, _, port = await _start(heartbeat_interval=0.05)
        client = await soup.SoupClient.connect(
            "127.0.0.1", port, "alice", "pw1", heartbeat_interval=0.05
        )
        await asyncio.sleep(0.4)
        assert client.heartbeats_received >= 3
        assert server.is_connected("alice")  # client heartbeats kept the server happy
        await server.close()
        with pytest.raises(soup.SessionEnded):
            await client.recv(5)
        assert client.ended
        await client.close()

    _run(main())


def test_silent_client_is_dropped_after_the_timeout():
    async def main():
        server, _, port = await _start(timeout=0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(soup.LoginRequest("alice", "pw1").encode())
        await writer.drain()
        data = await reader.read(100)
        assert data[2:3] == soup.LOGIN_ACCEPTED
        # Send nothing: the server must give up on us (heartbeats arrive until then).
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest.replace(soup.server_heartbeat(), b"") == b""
        await asyncio.sleep(0.05)
        assert server.counters.timeouts == 1
        assert not server.is_connected("alice")
        writer.close()
        await server.close()

    _run(main())


def test_garbage_and_pre_login_data_close_the_connection_and_are_counted():
    async def main():
        server, app, port = await _start()
        for garbage in (b"\x00\x00", soup.unsequenced_data(b"early"), b"\x00\x02Qx"):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(garbage)
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
        await asyncio.sleep(0.05)
        assert server.counters.protocol_errors == 3
        assert app.received == []
        # A truncated login followed by a close just ends that connection.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(soup.LoginRequest("alice", "pw1").encode()[:20])
        writer.close()
        client = await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1")
        await client.close()
        await server.close()

    _run(main())


def test_pipelined_login_and_data_are_both_served():
    async def main():
        server, app, port = await _start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(soup.LoginRequest("bob", "pw2").encode() + soup.unsequenced_data(b"fast"))
        await writer.drain()
        data = b""
        while len(data) < 33 + 2 + 1 + 8:
            data += await asyncio.wait_for(reader.read(100), 5)
        assert data[2:3] == soup.LOGIN_ACCEPTED
        assert data[33:] == soup.sequenced_data(b"ack:fast")
        assert app.received == [("bob", b"fast")]
        writer.close()
        await server.close()

    _run(main())


def test_client_that_stops_reading_is_dropped_and_catches_up_after_relogin(monkeypatch):
    monkeypatch.setattr(soup, "MAX_WRITE_BUFFER", 100_000)

    async def main():
        server, _, port = await _start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(soup.LoginRequest("alice", "pw1").encode())
        await writer.drain()
        await asyncio.sleep(0.1)
        assert server.is_connected("alice")
        for k in range(400):  # ~24 MB the client never reads
            server.send("alice", bytes([k % 256]) * 60_000)
            if not server.is_connected("alice"):
                break
            await asyncio.sleep(0)
        await asyncio.sleep(0.1)
        assert server.counters.slow_consumer_drops == 1
        assert not server.is_connected("alice")
        writer.close()
        last = len(server.stream("alice").messages)
        client = await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1", sequence=last)
        assert await client.recv(5) == server.stream("alice").messages[-1]
        await client.close()
        await server.close()

    _run(main())


def test_application_error_drops_only_that_connection_and_is_counted():
    async def main():
        def broken(user: str, payload: bytes) -> None:
            raise RuntimeError("application bug")

        server = soup.SoupServer("S", {"alice": "pw1", "bob": "pw2"}, broken)
        _, port = await server.start("127.0.0.1", 0)
        alice = await soup.SoupClient.connect("127.0.0.1", port, "alice", "pw1")
        bob = await soup.SoupClient.connect("127.0.0.1", port, "bob", "pw2")
        alice.send_unsequenced(b"boom")
        with pytest.raises(soup.SessionEnded):
            await alice.recv(5)
        assert server.counters.application_errors == 1
        assert server.last_error == "RuntimeError: application bug"
        assert server.is_connected("bob")
        server.send("bob", b"still here")
        assert await bob.recv(5) == b"still here"
        await alice.close()
        await bob.close()
        await server.close()

    _run(main())
