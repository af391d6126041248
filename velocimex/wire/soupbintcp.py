"""SoupBinTCP 4.x: framing, message builders/parsers, and asyncio server and client sessions.

Every packet is a uint16 BE length (counting the type byte and the payload, not itself),
one type byte, and the payload. Alpha fields are left-justified and space-padded; numeric
fields in the login messages are ASCII decimal, right-justified and space-padded (parsers
accept either justification, since clients in the wild left-justify).

Server -> client: '+' debug, 'A' login accepted, 'J' login rejected, 'S' sequenced data,
'H' server heartbeat, 'Z' end of session. Client -> server: '+' debug, 'L' login request,
'U' unsequenced data, 'R' client heartbeat, 'O' logout request.

Each side sends a heartbeat after 1 s of sending nothing, and drops the link after 15 s of
receiving nothing (the values in the specification).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

HEADER = struct.Struct(">Hc")
HEARTBEAT_INTERVAL = 1.0
TIMEOUT = 15.0
# A client that lets this much unread data pile up is disconnected; it can log in again and
# have the rest replayed, which costs the server nothing extra (the stream is kept anyway).
MAX_WRITE_BUFFER = 16 << 20
MAX_PACKET_LENGTH = 0xFFFF

USERNAME_LEN = 6
PASSWORD_LEN = 10
SESSION_LEN = 10
SEQUENCE_LEN = 20
LOGIN_REQUEST_LEN = USERNAME_LEN + PASSWORD_LEN + SESSION_LEN + SEQUENCE_LEN
LOGIN_ACCEPTED_LEN = SESSION_LEN + SEQUENCE_LEN

DEBUG = b"+"
LOGIN_ACCEPTED = b"A"
LOGIN_REJECTED = b"J"
SEQUENCED_DATA = b"S"
SERVER_HEARTBEAT = b"H"
END_OF_SESSION = b"Z"
LOGIN_REQUEST = b"L"
UNSEQUENCED_DATA = b"U"
CLIENT_HEARTBEAT = b"R"
LOGOUT_REQUEST = b"O"

SERVER_TYPES = frozenset(
    {DEBUG, LOGIN_ACCEPTED, LOGIN_REJECTED, SEQUENCED_DATA, SERVER_HEARTBEAT, END_OF_SESSION}
)
CLIENT_TYPES = frozenset({DEBUG, LOGIN_REQUEST, UNSEQUENCED_DATA, CLIENT_HEARTBEAT, LOGOUT_REQUEST})

REJECT_NOT_AUTHORIZED = "A"
REJECT_SESSION_NOT_AVAILABLE = "S"


class SoupError(ValueError):
    """A SoupBinTCP packet that is truncated, malformed, or not allowed at this point."""


class SoupPacket(NamedTuple):
    type: bytes
    payload: bytes


def encode_packet(packet_type: bytes, payload: bytes = b"") -> bytes:
    if len(packet_type) != 1:
        raise SoupError(f"packet type must be one byte, got {packet_type!r}")
    if len(payload) + 1 > MAX_PACKET_LENGTH:
        raise SoupError(f"payload of {len(payload)} bytes does not fit a SoupBinTCP packet")
    return HEADER.pack(len(payload) + 1, packet_type) + bytes(payload)


def _alpha(value: str, size: int, name: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) > size:
        raise SoupError(f"{name} {value!r} is longer than {size} bytes")
    return raw.ljust(size, b" ")


def _numeric(value: int, size: int, name: str) -> bytes:
    if value < 0:
        raise SoupError(f"{name} {value} is negative")
    raw = str(value).encode("ascii")
    if len(raw) > size:
        raise SoupError(f"{name} {value} has more than {size} digits")
    return raw.rjust(size, b" ")


def _parse_numeric(raw: bytes, name: str) -> int:
    text = raw.strip(b" \x00")
    if not text:
        return 0
    if not text.isdigit():
        raise SoupError(f"{name} {raw!r} is not a decimal number")
    return int(text)


def _parse_alpha(raw: bytes) -> str:
    return raw.decode("latin-1").strip(" \x00")


@dataclass(frozen=True)
class LoginRequest:
    username: str
    password: str
    session: str = ""
    sequence: int = 0

    def encode(self) -> bytes:
        return encode_packet(
            LOGIN_REQUEST,
            _alpha(self.username, USERNAME_LEN, "username")
            + _alpha(self.password, PASSWORD_LEN, "password")
            + _alpha(self.session, SESSION_LEN, "requested session")
            + _numeric(self.sequence, SEQUENCE_LEN, "requested sequence number"),
        )

    @classmethod
    def parse(cls, payload: bytes) -> LoginRequest:
        if len(payload) != LOGIN_REQUEST_LEN:
            raise SoupError(
                f"login request payload must be {LOGIN_REQUEST_LEN} bytes, got {len(payload)}"
            )
        u = USERNAME_LEN
        p = u + PASSWORD_LEN
        s = p + SESSION_LEN
        return cls(
            _parse_alpha(payload[:u]),
            _parse_alpha(payload[u:p]),
            _parse_alpha(payload[p:s]),
            _parse_numeric(payload[s:], "requested sequence number"),
        )


@dataclass(frozen=True)
class LoginAccepted:
    session: str
    sequence: int

    def encode(self) -> bytes:
        return encode_packet(
            LOGIN_ACCEPTED,
            _alpha(self.session, SESSION_LEN, "session")
            + _numeric(self.sequence, SEQUENCE_LEN, "sequence number"),
        )

    @classmethod
    def parse(cls, payload: bytes) -> LoginAccepted:
        if len(payload) != LOGIN_ACCEPTED_LEN:
            raise SoupError(
                f"login accepted payload must be {LOGIN_ACCEPTED_LEN} bytes, got {len(payload)}"
            )
        return cls(
            _parse_alpha(payload[:SESSION_LEN]),
            _parse_numeric(payload[SESSION_LEN:], "sequence number"),
        )


def login_rejected(reason: str) -> bytes:
    if reason not in (REJECT_NOT_AUTHORIZED, REJECT_SESSION_NOT_AVAILABLE):
        raise SoupError(f"login reject reason must be 'A' or 'S', got {reason!r}")
    return encode_packet(LOGIN_REJECTED, reason.encode("ascii"))


def parse_login_rejected(payload: bytes) -> str:
    if len(payload) != 1:
        raise SoupError(f"login rejected payload must be 1 byte, got {len(payload)}")
    return payload.decode("latin-1")


def sequenced_data(message: bytes) -> bytes:
    return encode_packet(SEQUENCED_DATA, message)


def unsequenced_data(message: bytes) -> bytes:
    return encode_packet(UNSEQUENCED_DATA, message)


def server_heartbeat() -> bytes:
    return encode_packet(SERVER_HEARTBEAT)


def client_heartbeat() -> bytes:
    return encode_packet(CLIENT_HEARTBEAT)


def end_of_session() -> bytes:
    return encode_packet(END_OF_SESSION)


def logout_request() -> bytes:
    return encode_packet(LOGOUT_REQUEST)


def debug(text: str) -> bytes:
    return encode_packet(DEBUG, text.encode("ascii"))


_EMPTY_TYPES = {SERVER_HEARTBEAT, END_OF_SESSION, CLIENT_HEARTBEAT, LOGOUT_REQUEST}


class FrameDecoder:
    """Incremental packet splitter for one direction of a TCP stream.

    ``allowed`` is the set of type bytes this direction may carry. A zero length prefix or a
    type outside ``allowed`` raises SoupError (the stream cannot be trusted after it); control
    packets that carry a payload they must not are counted in ``malformed`` and dropped.
    """

    def __init__(self, allowed: frozenset[bytes]) -> None:
        self.allowed = allowed
        self._buf = bytearray()
        self.packets = 0
        self.malformed = 0

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete packet held for the next feed."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[SoupPacket]:
        self._buf += data
        out: list[SoupPacket] = []
        i = 0
        buf = self._buf
        while len(buf) - i >= 2:
            (length,) = struct.unpack_from(">H", buf, i)
            if length == 0:
                raise SoupError(f"zero-length SoupBinTCP packet at stream offset +{i}")
            if len(buf) - i - 2 < length:
                break
            ptype = bytes(buf[i + 2 : i + 3])
            payload = bytes(buf[i + 3 : i + 2 + length])
            i += 2 + length
            if ptype not in self.allowed:
                raise SoupError(
                    f"unknown or misdirected SoupBinTCP packet type {ptype!r} (length {length})"
                )
            if ptype in _EMPTY_TYPES and payload:
                self.malformed += 1
                continue
            self.packets += 1
            out.append(SoupPacket(ptype, payload))
        del buf[:i]
        return out


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(Exception):
        writer.close()
        await writer.wait_closed()


# --------------------------------------------------------------------------- server


@dataclass
class SessionStream:
    """The sequenced messages one user has been sent in this session (for replay)."""

    messages: list[bytes] = field(default_factory=list)

    @property
    def next_sequence(self) -> int:
        return len(self.messages) + 1


UnsequencedHandler = Callable[[str, bytes], None]


@dataclass
class ServerCounters:
    connections: int = 0
    logins: int = 0
    login_rejects: int = 0
    protocol_errors: int = 0
    malformed_packets: int = 0
    timeouts: int = 0
    slow_consumer_drops: int = 0
    replayed_messages: int = 0
    unsequenced_messages: int = 0
    application_errors: int = 0


class SoupServer:
    """Accepts SoupBinTCP logins and carries one sequenced stream per user.

    ``credentials`` maps username -> password. ``on_unsequenced(username, payload)`` is called
    for each Unsequenced Data packet of a logged-in user; the application answers by calling
    ``send(username, message)``, which appends to that user's stream (kept for the whole
    session, so a re-login replays from any sequence number) and sends it if connected.
    One connection per user: a second login for a user already connected is rejected 'S'.
    """

    def __init__(
        self,
        session: str,
        credentials: dict[str, str],
        on_unsequenced: UnsequencedHandler,
        on_logout: Callable[[str], None] | None = None,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        timeout: float = TIMEOUT,
    ) -> None:
        _alpha(session, SESSION_LEN, "session")
        self.session = session
        self.credentials = dict(credentials)
        self.on_unsequenced = on_unsequenced
        self.on_logout = on_logout
        self.heartbeat_interval = heartbeat_interval
        self.timeout = timeout
        self.streams: dict[str, SessionStream] = {}
        self.counters = ServerCounters()
        self.last_error: str | None = None
        self._writers: dict[str, asyncio.StreamWriter] = {}
        self._logging_in: set[str] = set()
        self._last_sent: dict[str, float] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task] = set()
        self._ended = False

    def stream(self, username: str) -> SessionStream:
        return self.streams.setdefault(username, SessionStream())

    def is_connected(self, username: str) -> bool:
        return username in self._writers

    async def start(self, host: str, port: int) -> tuple[str, int]:
        self._server = await asyncio.start_server(self._handle, host, port)
        sock = self._server.sockets[0]
        addr = sock.getsockname()
        return addr[0], addr[1]

    def send(self, username: str, message: bytes) -> int:
        """Append one sequenced message to the user's stream; returns its sequence number."""
        stream = self.stream(username)
        stream.messages.append(bytes(message))
        writer = self._writers.get(username)
        if writer is not None:
            self._write(username, writer, sequenced_data(message))
        return len(stream.messages)

    def _write(self, username: str, writer: asyncio.StreamWriter, packet: bytes) -> None:
        if writer.is_closing():
            return
        writer.write(packet)
        self._last_sent[username] = asyncio.get_running_loop().time()
        if writer.transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            self.counters.slow_consumer_drops += 1
            writer.transport.abort()

    async def close(self) -> None:
        """End the session: End of Session to every connected client, then close."""
        self._ended = True
        for writer in list(self._writers.values()):
            with contextlib.suppress(Exception):
                writer.write(end_of_session())
                await writer.drain()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            await _close_writer(writer)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.counters.connections += 1
        username: str | None = None
        decoder = FrameDecoder(CLIENT_TYPES)
        try:
            login = await self._login(reader, writer, decoder)
            if login is None:
                return
            username, pipelined = login
            await self._serve(username, reader, writer, decoder, pipelined)
        except (SoupError, ConnectionError, asyncio.IncompleteReadError):
            self.counters.protocol_errors += 1
        except asyncio.CancelledError:
            # close() tears connections down; ending normally keeps asyncio's stream
            # callback from logging the cancellation as an error.
            pass
        except Exception as exc:  # noqa: BLE001 - an application bug drops one link, not all
            self.counters.application_errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
        finally:
            if username is not None and self._writers.get(username) is writer:
                del self._writers[username]
                if self.on_logout is not None:
                    self.on_logout(username)
            await _close_writer(writer)
            self._tasks.discard(task)

    async def _login(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, decoder: FrameDecoder
    ) -> tuple[str, list[SoupPacket]] | None:
        # One deadline for the whole login, so a client dribbling bytes cannot hold it open.
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            try:
                remaining = deadline - asyncio.get_running_loop().time()
                data = await asyncio.wait_for(reader.read(4096), max(remaining, 0.0))
            except TimeoutError:
                self.counters.timeouts += 1
                return None
            if not data:
                return None
            packets = decoder.feed(data)
            if not packets:
                continue
            first = packets[0]
            if first.type != LOGIN_REQUEST:
                raise SoupError(f"first packet must be a login request, got {first.type!r}")
            break
        request = LoginRequest.parse(first.payload)
        reason = None
        if self._ended:
            reason = REJECT_SESSION_NOT_AVAILABLE
        elif self.credentials.get(request.username) != request.password:
            reason = REJECT_NOT_AUTHORIZED
        elif request.session not in ("", self.session):
            reason = REJECT_SESSION_NOT_AVAILABLE
        elif request.username in self._writers or request.username in self._logging_in:
            reason = REJECT_SESSION_NOT_AVAILABLE
        if reason is not None:
            self.counters.login_rejects += 1
            writer.write(login_rejected(reason))
            await writer.drain()
            return None
        username = request.username
        stream = self.stream(username)
        # Sequence 0 asks for new messages only; past the end it also means "what comes next".
        first_seq = request.sequence
        if first_seq == 0 or first_seq > stream.next_sequence:
            first_seq = stream.next_sequence
        self.counters.logins += 1
        self._logging_in.add(username)
        try:
            self._write(username, writer, LoginAccepted(self.session, first_seq).encode())
            # Replay in batches with backpressure; messages the application sends meanwhile
            # land in the stream and are picked up by the same loop, so order is kept.
            index = first_seq - 1
            while index < len(stream.messages):
                batch = stream.messages[index : index + 1024]
                writer.write(b"".join(sequenced_data(m) for m in batch))
                index += len(batch)
                self.counters.replayed_messages += len(batch)
                await writer.drain()
            # No await between the last length check and this: live sends start here.
            self._writers[username] = writer
        finally:
            self._logging_in.discard(username)
        # Packets a client pipelined behind its login are served once it is accepted.
        return username, packets[1:]

    async def _serve(
        self,
        username: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        decoder: FrameDecoder,
        pending: list[SoupPacket],
    ) -> None:
        heartbeat = asyncio.create_task(self._heartbeats(username, writer))
        try:
            while True:
                malformed = decoder.malformed
                if not pending:
                    try:
                        data = await asyncio.wait_for(reader.read(65536), self.timeout)
                    except TimeoutError:
                        self.counters.timeouts += 1
                        return
                    if not data:
                        return
                    pending = decoder.feed(data)
                packets, pending = pending, []
                for packet in packets:
                    if packet.type == UNSEQUENCED_DATA:
                        self.counters.unsequenced_messages += 1
                        self.on_unsequenced(username, packet.payload)
                    elif packet.type == LOGOUT_REQUEST:
                        return
                    elif packet.type == LOGIN_REQUEST:
                        raise SoupError("login request on a logged-in session")
                    # Client heartbeats and debug packets only prove the link is alive.
                self.counters.malformed_packets += decoder.malformed - malformed
                await writer.drain()
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeats(self, username: str, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_sent.get(username, 0.0)
            if idle >= self.heartbeat_interval:
                self._write(username, writer, server_heartbeat())
                idle = 0.0
            await asyncio.sleep(self.heartbeat_interval - idle)


# --------------------------------------------------------------------------- client


class LoginRejectedError(ConnectionError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"SoupBinTCP login rejected: reason {reason!r}")
        self.reason = reason


class SessionEnded(ConnectionError):
    """The server sent End of Session, or the link closed or timed out."""


class SoupClient:
    """One logged-in client session. ``recv()`` returns sequenced messages in order.

    ``next_sequence`` is the sequence number of the next message the client expects, the
    value to log in with again after a disconnect so the server replays what was missed.
    """

    def __init__(self, heartbeat_interval: float = HEARTBEAT_INTERVAL, timeout: float = TIMEOUT):
        self.heartbeat_interval = heartbeat_interval
        self.timeout = timeout
        self.session = ""
        self.next_sequence = 1
        self.ended = False
        self.heartbeats_received = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = FrameDecoder(SERVER_TYPES)
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._last_sent = 0.0
        self._last_received = 0.0
        self.error: str | None = None

    @classmethod
    async def connect(
        cls,
        host: str,
        port: int,
        username: str,
        password: str,
        session: str = "",
        sequence: int = 1,
        heartbeat_interval: float = HEARTBEAT_INTERVAL,
        timeout: float = TIMEOUT,
    ) -> SoupClient:
        client = cls(heartbeat_interval, timeout)
        await client._login(host, port, LoginRequest(username, password, session, sequence))
        return client

    async def _login(self, host: str, port: int, request: LoginRequest) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), self.timeout
        )
        self._writer.write(request.encode())
        await self._writer.drain()
        loop = asyncio.get_running_loop()
        self._last_sent = self._last_received = loop.time()
        while True:
            data = await asyncio.wait_for(self._reader.read(65536), self.timeout)
            if not data:
                await _close_writer(self._writer)
                raise SessionEnded("connection closed before the login was answered")
            packets = self._decoder.feed(data)
            if packets:
                break
        first, rest = packets[0], packets[1:]
        if first.type == LOGIN_REJECTED:
            await _close_writer(self._writer)
            raise LoginRejectedError(parse_login_rejected(first.payload))
        if first.type != LOGIN_ACCEPTED:
            await _close_writer(self._writer)
            raise SoupError(f"expected login accepted or rejected, got {first.type!r}")
        accepted = LoginAccepted.parse(first.payload)
        self.session = accepted.session
        self.next_sequence = accepted.sequence
        self._dispatch(rest)
        self._tasks = [
            asyncio.create_task(self._read_loop()),
            asyncio.create_task(self._heartbeat_loop()),
        ]

    def _dispatch(self, packets: list[SoupPacket]) -> None:
        self._last_received = asyncio.get_running_loop().time()
        for packet in packets:
            if packet.type == SEQUENCED_DATA:
                self.next_sequence += 1
                self._queue.put_nowait(packet.payload)
            elif packet.type == SERVER_HEARTBEAT:
                self.heartbeats_received += 1
            elif packet.type == END_OF_SESSION:
                self.ended = True
                self._queue.put_nowait(None)

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while not self.ended:
                data = await asyncio.wait_for(self._reader.read(65536), self.timeout)
                if not data:
                    self.error = "connection closed by the server"
                    break
                self._dispatch(self._decoder.feed(data))
        except TimeoutError:
            self.error = f"no data from the server for {self.timeout} s"
        except (SoupError, ConnectionError) as exc:
            self.error = str(exc)
        finally:
            self._queue.put_nowait(None)

    async def _heartbeat_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            idle = loop.time() - self._last_sent
            if idle >= self.heartbeat_interval:
                try:
                    self._send(client_heartbeat())
                except SessionEnded:
                    return  # the read loop reports why the link ended
                idle = 0.0
            await asyncio.sleep(self.heartbeat_interval - idle)

    def _send(self, packet: bytes) -> None:
        if self._writer is None or self._writer.is_closing():
            raise SessionEnded("session is closed")
        self._writer.write(packet)
        self._last_sent = asyncio.get_running_loop().time()

    def send_unsequenced(self, message: bytes) -> None:
        self._send(unsequenced_data(message))

    async def recv(self, timeout: float | None = None) -> bytes:
        """Next sequenced message; raises SessionEnded after End of Session or link loss."""
        item = await asyncio.wait_for(self._queue.get(), timeout)
        if item is None:
            self._queue.put_nowait(None)
            raise SessionEnded(self.error or "end of session")
        return item

    async def close(self, logout: bool = True) -> None:
        if logout and self._writer is not None and not self._writer.is_closing():
            with contextlib.suppress(Exception):
                self._send(logout_request())
                await self._writer.drain()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._writer is not None:
            await _close_writer(self._writer)


__all__ = [
    "FrameDecoder",
    "LoginAccepted",
    "LoginRejectedError",
    "LoginRequest",
    "SessionEnded",
    "SoupClient",
    "SoupError",
    "SoupPacket",
    "SoupServer",
    "encode_packet",
]
