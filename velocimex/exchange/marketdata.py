"""ITCH over MoldUDP64 on two multicast lines, plus the retransmission (re-request) server.

Both lines carry byte-identical packets (same session, same sequence numbers), so a feed
handler can arbitrate A/B by sequence number. Messages published within one event-loop turn
share packets (flushed with ``call_soon``); a heartbeat goes out after ``heartbeat_interval``
without data. The whole session is kept in memory so any range can be re-requested.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from array import array
from collections.abc import Callable
from dataclasses import dataclass

from velocimex.wire import moldudp64


@dataclass
class LineConfig:
    group: str
    port: int


@dataclass
class MarketDataCounters:
    packets_sent: int = 0
    heartbeats_sent: int = 0
    retrans_requests: int = 0
    retrans_packets: int = 0
    retrans_messages: int = 0
    bad_requests: int = 0
    send_errors: int = 0


class MessageStore:
    """Every message of the session, for retransmission: one growing byte buffer plus an
    offset table (a list of bytes objects would cost several times the payload in object
    headers over a full trading day). Indexing and slicing are by ``seq - 1``."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._offsets = array("Q", [0])

    def append(self, message: bytes) -> None:
        self._data += message
        self._offsets.append(len(self._data))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"message index {index} out of range [0, {len(self)})")
        return bytes(self._data[self._offsets[index] : self._offsets[index + 1]])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    @property
    def nbytes(self) -> int:
        return len(self._data)


def multicast_sender(interface: str = "127.0.0.1", ttl: int = 0) -> socket.socket:
    """UDP socket that sends multicast out of ``interface``; TTL 0 keeps it on this host."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    sock.setblocking(False)
    return sock


class MarketDataPublisher:
    def __init__(
        self,
        session: str,
        lines: list[LineConfig],
        interface: str = "127.0.0.1",
        ttl: int = 0,
        max_payload: int = moldudp64.DEFAULT_MAX_PAYLOAD,
        heartbeat_interval: float = 1.0,
    ) -> None:
        self.session = moldudp64.normalize_session(session)
        self.lines = lines
        self.max_payload = max_payload
        self.heartbeat_interval = heartbeat_interval
        self.packetizer = moldudp64.Packetizer(self.session, max_payload, first_seq=1)
        self.messages = MessageStore()
        self.counters = MarketDataCounters()
        self._sock = multicast_sender(interface, ttl)
        self._flush_scheduled = False
        self._last_send = 0.0
        self._heartbeat_task: asyncio.Task | None = None
        self._ended = False
        # Optional observer of every published message (the live monitor's tick stamps).
        self.publish_hook: Callable[[bytes], None] | None = None

    @property
    def next_seq(self) -> int:
        return len(self.messages) + 1

    def start(self) -> None:
        self._last_send = asyncio.get_running_loop().time()
        self._heartbeat_task = asyncio.create_task(self._heartbeats())

    def publish(self, message: bytes) -> None:
        """Queue one ITCH message; it goes out with the others of this event-loop turn."""
        if self._ended:
            raise moldudp64.MoldError("market data session has ended")
        self.messages.append(message)
        if self.publish_hook is not None:
            self.publish_hook(message)
        packet = self.packetizer.add(message)
        if packet is not None:
            self._send(packet)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        packet = self.packetizer.flush()
        if packet is not None:
            self._send(packet)

    def _send(self, packet: bytes) -> None:
        for line in self.lines:
            try:
                self._sock.sendto(packet, (line.group, line.port))
            except OSError:
                # A full socket buffer loses this copy; receivers recover it by re-request.
                self.counters.send_errors += 1
        self.counters.packets_sent += 1
        self._last_send = asyncio.get_running_loop().time()

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._ended:
            idle = loop.time() - self._last_send
            if idle >= self.heartbeat_interval:
                self.flush()
                self._send(self.packetizer.heartbeat())
                self.counters.heartbeats_sent += 1
                idle = 0.0
            await asyncio.sleep(self.heartbeat_interval - idle)

    def end_session(self, repeats: int = 3) -> None:
        """Flush and send End of Session (a few times: it is the last word, and UDP)."""
        if self._ended:
            return
        self.flush()
        packet = self.packetizer.end_of_session()
        self._ended = True
        for _ in range(repeats):
            self._send(packet)

    async def close(self) -> None:
        self._ended = True
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        self._sock.close()

    def retransmission(self, seq: int, count: int) -> bytes | None:
        """One response packet: the stored messages from ``seq``, at most ``count`` and as
        many as fit ``max_payload``; None if ``seq`` is not yet published."""
        if seq < 1 or seq > len(self.messages):
            return None
        packer = moldudp64.Packetizer(self.session, self.max_payload, first_seq=seq)
        end = min(len(self.messages), seq - 1 + count)
        for message in self.messages[seq - 1 : end]:
            packet = packer.add(message)
            if packet is not None:
                return packet
        return packer.flush()


class _RetransProtocol(asyncio.DatagramProtocol):
    def __init__(self, publisher: MarketDataPublisher) -> None:
        self.publisher = publisher
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        pub = self.publisher
        pub.counters.retrans_requests += 1
        try:
            request = moldudp64.decode_request(data)
        except moldudp64.MoldError:
            pub.counters.bad_requests += 1
            return
        if request.session != pub.session:
            pub.counters.bad_requests += 1
            return
        packet = pub.retransmission(request.seq, request.count)
        if packet is None:
            return
        assert self.transport is not None
        self.transport.sendto(packet, addr)
        pub.counters.retrans_packets += 1
        pub.counters.retrans_messages += moldudp64.parse_packet(packet).message_count


async def start_retransmission_server(
    publisher: MarketDataPublisher, host: str, port: int
) -> tuple[asyncio.DatagramTransport, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        lambda: _RetransProtocol(publisher), local_addr=(host, port)
    )
    addr = transport.get_extra_info("sockname")
    return transport, (addr[0], addr[1])
