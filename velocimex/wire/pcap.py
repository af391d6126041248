"""Classic libpcap files of Ethernet/IPv4/UDP frames: writer and streaming UDP reader.

Written files use the nanosecond-resolution magic (0xa1b23c4d), little-endian, version 2.4,
LINKTYPE_ETHERNET, with a correct IPv4 header checksum and a computed UDP checksum, so
Wireshark/tshark reads them without complaint. The reader accepts both the microsecond
(0xa1b2c3d4) and nanosecond magics in either byte order, plain or gzip (``.gz``).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import NamedTuple

import numpy as np

from velocimex.wire.binaryfile import open_maybe_gzip

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
VERSION = (2, 4)
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_VLAN = (0x8100, 0x88A8)
IPPROTO_UDP = 17
ETH_HEADER_LEN = 14
IPV4_HEADER_LEN = 20
UDP_HEADER_LEN = 8
MAX_UDP_PAYLOAD = 65507

DEFAULT_SRC = "127.0.0.1"
DEFAULT_DST = "239.1.1.1"
DEFAULT_SPORT = 26400
DEFAULT_DPORT = 26400
# Locally administered unicast source MAC: it names no real vendor.
DEFAULT_SRC_MAC = bytes.fromhex("020000000001")
# Time to live of written datagrams: 1 keeps multicast link-local, as a feed on one LAN is.
DEFAULT_TTL = 1

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD_HEADER_LE = struct.Struct("<IIII")
_RECORD_HEADER_BE = struct.Struct(">IIII")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_UDP = struct.Struct(">HHHH")
_READ_SIZE = 1 << 20


class PcapError(ValueError):
    """A pcap file that is not classic libpcap, is truncated, or has an unsupported link."""


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = int(np.frombuffer(data, dtype=">u2").sum(dtype=np.uint64))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum (the value to put in the header field)."""
    return ~_ones_complement_sum(data) & 0xFFFF


def multicast_mac(dst: bytes) -> bytes:
    """Ethernet address of an IPv4 destination: the RFC 1112 mapping for multicast, a
    locally administered stand-in otherwise (the file records no ARP)."""
    if 224 <= dst[0] <= 239:
        return bytes((0x01, 0x00, 0x5E, dst[1] & 0x7F, dst[2], dst[3]))
    return b"\x02\x00" + dst


class PcapWriter:
    """Writes UDP datagrams as Ethernet/IPv4/UDP frames into a nanosecond pcap."""

    def __init__(
        self, path: str | os.PathLike[str], udp_checksum: bool = True, compresslevel: int = 6
    ) -> None:
        self.path = Path(path)
        self.udp_checksum = udp_checksum
        self._file = open_maybe_gzip(path, "w", compresslevel)
        self._file.write(_FILE_HEADER.pack(MAGIC_NS, *VERSION, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        self._ip_id = 0
        self.records = 0

    def write_udp(
        self,
        ts_ns: int,
        payload: bytes | bytearray | memoryview,
        src: str = DEFAULT_SRC,
        dst: str = DEFAULT_DST,
        sport: int = DEFAULT_SPORT,
        dport: int = DEFAULT_DPORT,
    ) -> None:
        payload = bytes(payload)
        if len(payload) > MAX_UDP_PAYLOAD:
            raise PcapError(f"UDP payload of {len(payload)} bytes exceeds {MAX_UDP_PAYLOAD}")
        if ts_ns < 0:
            raise PcapError(f"negative timestamp {ts_ns}")
        for port in (sport, dport):
            if not 0 <= port <= 0xFFFF:
                raise PcapError(f"port {port} out of range")
        src_ip = ipaddress.IPv4Address(src).packed
        dst_ip = ipaddress.IPv4Address(dst).packed
        udp_len = UDP_HEADER_LEN + len(payload)
        total_len = IPV4_HEADER_LEN + udp_len
        ip_header = _IPV4.pack(
            0x45, 0, total_len, self._ip_id, 0, DEFAULT_TTL, IPPROTO_UDP, 0, src_ip, dst_ip
        )
        ip_header = (
            ip_header[:10] + struct.pack(">H", internet_checksum(ip_header)) + ip_header[12:]
        )
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        checksum = 0
        if self.udp_checksum:
            pseudo = src_ip + dst_ip + struct.pack(">BBH", 0, IPPROTO_UDP, udp_len)
            checksum = internet_checksum(pseudo + _UDP.pack(sport, dport, udp_len, 0) + payload)
            # RFC 768: a computed zero is sent as all ones (zero means "no checksum").
            checksum = checksum or 0xFFFF
        eth = multicast_mac(dst_ip) + DEFAULT_SRC_MAC + struct.pack(">H", ETHERTYPE_IPV4)
        frame_len = ETH_HEADER_LEN + total_len
        sec, nsec = divmod(ts_ns, 1_000_000_000)
        self._file.write(_RECORD_HEADER_LE.pack(sec, nsec, frame_len, frame_len))
        self._file.write(eth)
        self._file.write(ip_header)
        self._file.write(_UDP.pack(sport, dport, udp_len, checksum))
        self._file.write(payload)
        self.records += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> PcapWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class UdpDatagram(NamedTuple):
    ts_ns: int
    payload: bytes
    src: str
    dst: str
    sport: int
    dport: int


class PcapReader:
    """Streams the UDP datagrams of a classic pcap; other frames are skipped and counted.

    Counters: ``records`` (all), ``datagrams`` (yielded), ``skipped_non_udp`` (not IPv4/UDP),
    ``skipped_fragments`` (IPv4 fragments, which carry no whole datagram), and
    ``skipped_truncated`` (frames cut by the capture's snap length) and ``skipped_malformed``
    (headers whose lengths do not fit the frame).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.records = 0
        self.datagrams = 0
        self.skipped_non_udp = 0
        self.skipped_fragments = 0
        self.skipped_truncated = 0
        self.skipped_malformed = 0

    def __iter__(self) -> Iterator[UdpDatagram]:
        with open_maybe_gzip(self.path, "r") as f:
            header = f.read(_FILE_HEADER.size)
            if len(header) < _FILE_HEADER.size:
                raise PcapError(
                    f"{self.path}: {len(header)} bytes is shorter than the 24-byte pcap header"
                )
            (magic_le,) = struct.unpack_from("<I", header)
            (magic_be,) = struct.unpack_from(">I", header)
            if magic_le in (MAGIC_US, MAGIC_NS):
                order, magic = "<", magic_le
            elif magic_be in (MAGIC_US, MAGIC_NS):
                order, magic = ">", magic_be
            else:
                raise PcapError(
                    f"{self.path}: bad magic 0x{magic_le:08x}: not a classic libpcap file "
                    f"(pcapng is not supported; convert with editcap -F pcap)"
                )
            _m, _vmaj, _vmin, _tz, _sig, _snap, linktype = struct.unpack(order + "IHHiIII", header)
            if linktype != LINKTYPE_ETHERNET:
                raise PcapError(
                    f"{self.path}: link type {linktype} is not supported (only Ethernet, 1)"
                )
            tick = 1 if magic == MAGIC_NS else 1000
            rec = _RECORD_HEADER_LE if order == "<" else _RECORD_HEADER_BE
            yield from self._records(f, rec, tick)

    def _records(self, f: object, rec: struct.Struct, tick: int) -> Iterator[UdpDatagram]:
        read = f.read  # type: ignore[attr-defined]
        buf = b""
        pos = 0
        file_offset = _FILE_HEADER.size  # of buf[0]
        while True:
            if len(buf) - pos < rec.size:
                more = read(_READ_SIZE)
                buf = buf[pos:] + more
                file_offset += pos
                pos = 0
                if not more:
                    if buf:
                        raise PcapError(
                            f"{self.path}: truncated record header at byte offset {file_offset} "
                            f"({len(buf)} of {rec.size} bytes)"
                        )
                    return
                continue
            sec, frac, incl_len, orig_len = rec.unpack_from(buf, pos)
            if incl_len > max(SNAPLEN, orig_len, 1 << 18):
                raise PcapError(
                    f"{self.path}: record at byte offset {file_offset + pos} claims "
                    f"{incl_len} captured bytes: corrupt file"
                )
            start = pos + rec.size
            while len(buf) - start < incl_len:
                more = read(max(_READ_SIZE, incl_len))
                if not more:
                    raise PcapError(
                        f"{self.path}: truncated record at byte offset {file_offset + pos}: "
                        f"{incl_len} bytes announced, {len(buf) - start} present"
                    )
                buf = buf[pos:] + more
                file_offset += pos
                start -= pos
                pos = 0
            frame = memoryview(buf)[start : start + incl_len]
            pos = start + incl_len
            self.records += 1
            datagram = self._udp(frame, incl_len < orig_len)
            if datagram is not None:
                self.datagrams += 1
                src, dst, sport, dport, payload = datagram
                yield UdpDatagram(
                    sec * 1_000_000_000 + frac * tick, payload, src, dst, sport, dport
                )

    def _udp(self, frame: memoryview, cut: bool) -> tuple[str, str, int, int, bytes] | None:
        i = 12
        if len(frame) < ETH_HEADER_LEN:
            return self._skip_short(cut)
        (ethertype,) = struct.unpack_from(">H", frame, i)
        while ethertype in ETHERTYPE_VLAN:
            i += 4
            if len(frame) < i + 2:
                return self._skip_short(cut)
            (ethertype,) = struct.unpack_from(">H", frame, i)
        i += 2
        if ethertype != ETHERTYPE_IPV4:
            self.skipped_non_udp += 1
            return None
        if len(frame) < i + IPV4_HEADER_LEN:
            return self._skip_short(cut)
        ver_ihl, _tos, total_len, _id, frag, _ttl, proto, _ck, src, dst = _IPV4.unpack_from(
            frame, i
        )
        ihl = (ver_ihl & 0x0F) * 4
        if ver_ihl >> 4 != 4 or ihl < IPV4_HEADER_LEN or proto != IPPROTO_UDP:
            self.skipped_non_udp += 1
            return None
        if frag & 0x3FFF:  # more-fragments flag or a fragment offset
            self.skipped_fragments += 1
            return None
        u = i + ihl
        if len(frame) < u + UDP_HEADER_LEN:
            return self._skip_short(cut)
        sport, dport, udp_len, _ck = _UDP.unpack_from(frame, u)
        # The UDP length, not the frame length: short frames carry Ethernet padding.
        end = u + udp_len
        if udp_len < UDP_HEADER_LEN or end > i + total_len or end > len(frame):
            return self._skip_short(cut)
        return (
            socket.inet_ntoa(src),
            socket.inet_ntoa(dst),
            sport,
            dport,
            bytes(frame[u + UDP_HEADER_LEN : end]),
        )

    def _skip_short(self, cut: bool) -> None:
        if cut:
            self.skipped_truncated += 1
        else:
            self.skipped_malformed += 1
        return None


def iter_udp_payloads(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """``(ts_ns, payload)`` of every UDP datagram in a classic pcap, in file order."""
    for d in PcapReader(path):
        yield d.ts_ns, d.payload
