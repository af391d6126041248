"""Classic libpcap files of Ethernet/IPv4/UDP frames: writer and streaming UDP reader.

Written files use the nanosecond-resolution magic (0xa1b23c4d), little-endian, version 2.4,
LINKTYPE_ETHERNET, with a correct IPv4 header checksum and a computed UDP checksum, so
Wireshark/tshark reads them without complaint. The reader accepts both the microsecond
(0xa1b2c3d4) and nanosecond magics in either byte order, plain or gzip (``.gz``).
"""

from __future__ import annotations

import functools
import ipaddress
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NamedTuple

import numba
import numpy as np

from velocimex.wire.binaryfile import open_maybe_gzip
from velocimex.wire.blocks import copy_bytes

MAGIC_US = 0xA1B2C3D4
MAGIC_NS = 0xA1B23C4D
VERSION = (2, 4)
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_8021Q = 0x8100
ETHERTYPE_8021AD = 0x88A8
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
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_UDP = struct.Struct(">HHHH")


class PcapError(ValueError):
    """A pcap file that is not classic libpcap, is truncated, or has an unsupported link."""


def _ones_complement_sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@functools.lru_cache(maxsize=256)
def _ipv4(address: str) -> bytes:
    return ipaddress.IPv4Address(address).packed


def internet_checksum(data: bytes) -> int:
    """RFC 1071 checksum (the value to put in the header field); a plain reference for checks,
    the writer computes it inside :func:`udp_records`."""
    return ~_ones_complement_sum(data) & 0xFFFF


def multicast_mac(dst: bytes) -> bytes:
    """Ethernet address of an IPv4 destination: the RFC 1112 mapping for multicast, a
    locally administered stand-in otherwise (the file records no ARP)."""
    if 224 <= dst[0] <= 239:
        return bytes((0x01, 0x00, 0x5E, dst[1] & 0x7F, dst[2], dst[3]))
    return b"\x02\x00" + dst


_MAX_TS_NS = (1 << 32) * 1_000_000_000
_FRAME_HEADERS = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN


@numba.njit(cache=True, nogil=True)
def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


@numba.njit(cache=True, nogil=True)
def udp_records(
    buf: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    ts_ns: np.ndarray,
    template: np.ndarray,
    ip_id: int,
    udp_checksum: bool,
) -> np.ndarray:
    """pcap records (little-endian header + Ethernet/IPv4/UDP frame) of many datagrams.

    ``template`` is the 42 bytes of Ethernet, IPv4 and UDP headers with the per-datagram
    fields (lengths, id, checksums) zero; they are filled here.
    """
    n = start.size
    total = 0
    for i in range(n):
        total += 16 + _FRAME_HEADERS + length[i]
    out = np.empty(total, dtype=np.uint8)
    o = 0
    ip = ETH_HEADER_LEN
    udp = ETH_HEADER_LEN + IPV4_HEADER_LEN
    for i in range(n):
        plen = length[i]
        frame_len = _FRAME_HEADERS + plen
        sec = ts_ns[i] // 1_000_000_000
        nsec = ts_ns[i] % 1_000_000_000
        for b in range(4):
            out[o + b] = (sec >> (8 * b)) & 0xFF
            out[o + 4 + b] = (nsec >> (8 * b)) & 0xFF
            out[o + 8 + b] = (frame_len >> (8 * b)) & 0xFF
            out[o + 12 + b] = (frame_len >> (8 * b)) & 0xFF
        f = o + 16
        out[f : f + _FRAME_HEADERS] = template
        ip_len = IPV4_HEADER_LEN + UDP_HEADER_LEN + plen
        udp_len = UDP_HEADER_LEN + plen
        ident = (ip_id + i) & 0xFFFF
        out[f + ip + 2] = ip_len >> 8
        out[f + ip + 3] = ip_len & 0xFF
        out[f + ip + 4] = ident >> 8
        out[f + ip + 5] = ident & 0xFF
        acc = 0
        for w in range(0, IPV4_HEADER_LEN, 2):
            acc += (np.int64(out[f + ip + w]) << 8) | np.int64(out[f + ip + w + 1])
        check = ~_fold(acc) & 0xFFFF
        out[f + ip + 10] = check >> 8
        out[f + ip + 11] = check & 0xFF
        out[f + udp + 4] = udp_len >> 8
        out[f + udp + 5] = udp_len & 0xFF
        p = f + _FRAME_HEADERS
        copy_bytes(out, p, buf, start[i], plen)
        if udp_checksum:
            # Pseudo-header (addresses, protocol, UDP length), then UDP header and payload.
            acc = IPPROTO_UDP + udp_len
            for w in range(12, 20, 2):
                acc += (np.int64(out[f + ip + w]) << 8) | np.int64(out[f + ip + w + 1])
            for w in range(0, UDP_HEADER_LEN + plen - 1, 2):
                acc += (np.int64(out[f + udp + w]) << 8) | np.int64(out[f + udp + w + 1])
            if udp_len % 2:
                acc += np.int64(out[f + udp + udp_len - 1]) << 8
            check = ~_fold(acc) & 0xFFFF
            # RFC 768: a computed zero is sent as all ones (zero means "no checksum").
            if check == 0:
                check = 0xFFFF
            out[f + udp + 6] = check >> 8
            out[f + udp + 7] = check & 0xFF
        o = f + frame_len
    return out


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
        """One datagram; the same framing as :meth:`write_udp_batch`."""
        buf = np.frombuffer(bytes(payload), dtype=np.uint8)
        self.write_udp_batch(
            np.array([ts_ns], dtype=np.int64),
            buf,
            np.zeros(1, dtype=np.int64),
            np.array([buf.size], dtype=np.int64),
            src,
            dst,
            sport,
            dport,
        )

    def write_udp_batch(
        self,
        ts_ns: np.ndarray,
        buf: np.ndarray | bytes,
        start: np.ndarray,
        length: np.ndarray,
        src: str = DEFAULT_SRC,
        dst: str = DEFAULT_DST,
        sport: int = DEFAULT_SPORT,
        dport: int = DEFAULT_DPORT,
    ) -> None:
        """Datagram ``i`` is ``buf[start[i] : start[i] + length[i]]`` stamped ``ts_ns[i]``;
        all frames of the batch are built by one numba call and written at once."""
        if not isinstance(buf, np.ndarray):
            buf = np.frombuffer(buf, dtype=np.uint8)
        buf = np.ascontiguousarray(buf, dtype=np.uint8).reshape(-1)
        if not len(ts_ns) == len(start) == len(length):
            raise PcapError(
                f"batch arrays differ in length: {len(ts_ns)} times, {len(start)} starts, "
                f"{len(length)} lengths"
            )
        # The numba framer trusts these bounds; check them here so it never reads outside buf.
        if len(start) and (
            int(start.min()) < 0 or int(length.min()) < 0 or int((start + length).max()) > buf.size
        ):
            raise PcapError(f"batch datagrams reach outside the {buf.size}-byte buffer")
        if len(length) and int(length.max()) > MAX_UDP_PAYLOAD:
            raise PcapError(f"UDP payload of {int(length.max())} bytes exceeds {MAX_UDP_PAYLOAD}")
        if len(ts_ns) and (int(ts_ns.min()) < 0 or int(ts_ns.max()) >= _MAX_TS_NS):
            raise PcapError(
                f"timestamps must be in [0, {_MAX_TS_NS}) ns (pcap seconds are uint32), got "
                f"{int(ts_ns.min())}..{int(ts_ns.max())}"
            )
        for port in (sport, dport):
            if not 0 <= port <= 0xFFFF:
                raise PcapError(f"port {port} out of range")
        src_ip = _ipv4(src)
        dst_ip = _ipv4(dst)
        template = np.frombuffer(
            multicast_mac(dst_ip)
            + DEFAULT_SRC_MAC
            + struct.pack(">H", ETHERTYPE_IPV4)
            + _IPV4.pack(0x45, 0, 0, 0, 0, DEFAULT_TTL, IPPROTO_UDP, 0, src_ip, dst_ip)
            + _UDP.pack(sport, dport, 0, 0),
            dtype=np.uint8,
        )
        out = udp_records(
            buf,
            start.astype(np.int64),
            length.astype(np.int64),
            ts_ns.astype(np.int64),
            template,
            self._ip_id,
            self.udp_checksum,
        )
        self._file.write(out.data)
        self._ip_id = (self._ip_id + len(length)) & 0xFFFF
        self.records += len(length)

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


class UdpBatch(NamedTuple):
    """The UDP datagrams found in one read of the file, as arrays over a shared buffer:
    datagram ``i`` is ``buf[start[i] : start[i] + length[i]]``. ``frame`` is the 1-based record
    number (Wireshark's frame number)."""

    buf: bytes
    ts_ns: np.ndarray
    start: np.ndarray
    length: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    frame: np.ndarray


# Frame classes of classify_frames.
FRAME_UDP, FRAME_NON_UDP, FRAME_FRAGMENT, FRAME_TRUNCATED, FRAME_MALFORMED = range(5)


@numba.njit(cache=True, nogil=True)
def _u16(buf: np.ndarray, i: int) -> int:
    return (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])


@numba.njit(cache=True, nogil=True)
def _u32(buf: np.ndarray, i: int, big: bool) -> int:
    if big:
        return (
            (np.int64(buf[i]) << 24)
            | (np.int64(buf[i + 1]) << 16)
            | (np.int64(buf[i + 2]) << 8)
            | np.int64(buf[i + 3])
        )
    return (
        (np.int64(buf[i + 3]) << 24)
        | (np.int64(buf[i + 2]) << 16)
        | (np.int64(buf[i + 1]) << 8)
        | np.int64(buf[i])
    )


@numba.njit(cache=True, nogil=True)
def scan_records(
    buf: np.ndarray, big: bool, tick: int, max_incl: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Walk the complete records in ``buf`` (which starts on a record header).

    Returns ``(ts_ns, frame_start, frame_len, cut, end, bad)``: per record its timestamp,
    where its captured bytes are, whether the snap length cut it; ``end`` the offset after
    the last complete record; ``bad`` the offset of a header claiming more than ``max_incl``
    captured bytes (a corrupt file), else -1.
    """
    n = buf.size
    cap = n // 16 + 1
    ts = np.empty(cap, dtype=np.int64)
    start = np.empty(cap, dtype=np.int64)
    length = np.empty(cap, dtype=np.int64)
    cut = np.empty(cap, dtype=np.bool_)
    k = 0
    pos = 0
    bad = -1
    while pos + 16 <= n:
        incl = _u32(buf, pos + 8, big)
        if incl > max_incl:
            bad = pos
            break
        if pos + 16 + incl > n:
            break
        ts[k] = _u32(buf, pos, big) * np.int64(1_000_000_000) + _u32(buf, pos + 4, big) * tick
        start[k] = pos + 16
        length[k] = incl
        cut[k] = incl < _u32(buf, pos + 12, big)
        k += 1
        pos += 16 + incl
    return ts[:k], start[:k], length[:k], cut[:k], pos, bad


@numba.njit(cache=True, nogil=True)
def classify_frames(
    buf: np.ndarray, frame_start: np.ndarray, frame_len: np.ndarray, cut: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ethernet (802.1Q/802.1ad tags skipped) / IPv4 / UDP parse of each frame.

    Returns ``(kind, payload_start, payload_len, src, dst, sport, dport)``, ``kind`` one of
    the FRAME_* classes. The UDP length, not the frame length, bounds the payload: frames
    shorter than Ethernet's 60-byte minimum arrive padded.
    """
    n = frame_start.size
    kind = np.full(n, FRAME_MALFORMED, dtype=np.int8)
    pstart = np.zeros(n, dtype=np.int64)
    plen = np.zeros(n, dtype=np.int64)
    src = np.zeros(n, dtype=np.uint32)
    dst = np.zeros(n, dtype=np.uint32)
    sport = np.zeros(n, dtype=np.uint16)
    dport = np.zeros(n, dtype=np.uint16)
    for r in range(n):
        f = frame_start[r]
        end = f + frame_len[r]
        short = FRAME_TRUNCATED if cut[r] else FRAME_MALFORMED
        if end - f < 14:
            kind[r] = short
            continue
        i = f + 12
        ethertype = _u16(buf, i)
        while ethertype == ETHERTYPE_8021Q or ethertype == ETHERTYPE_8021AD:
            i += 4
            if i + 2 > end:
                break
            ethertype = _u16(buf, i)
        if i + 2 > end:
            kind[r] = short
            continue
        i += 2
        if ethertype != ETHERTYPE_IPV4:
            kind[r] = FRAME_NON_UDP
            continue
        if i + IPV4_HEADER_LEN > end:
            kind[r] = short
            continue
        ver_ihl = buf[i]
        ihl = (ver_ihl & 0x0F) * 4
        if ver_ihl >> 4 != 4 or ihl < IPV4_HEADER_LEN or buf[i + 9] != IPPROTO_UDP:
            kind[r] = FRAME_NON_UDP
            continue
        if _u16(buf, i + 6) & 0x3FFF:  # more-fragments flag or a fragment offset
            kind[r] = FRAME_FRAGMENT
            continue
        total_len = _u16(buf, i + 2)
        u = i + ihl
        if u + UDP_HEADER_LEN > end:
            kind[r] = short
            continue
        udp_len = _u16(buf, u + 4)
        if udp_len < UDP_HEADER_LEN or udp_len > total_len - ihl:
            kind[r] = FRAME_MALFORMED
            continue
        if u + udp_len > end:
            kind[r] = short
            continue
        kind[r] = FRAME_UDP
        pstart[r] = u + UDP_HEADER_LEN
        plen[r] = udp_len - UDP_HEADER_LEN
        src[r] = _u32(buf, i + 12, True)
        dst[r] = _u32(buf, i + 16, True)
        sport[r] = _u16(buf, u)
        dport[r] = _u16(buf, u + 2)
    return kind, pstart, plen, src, dst, sport, dport


class PcapReader:
    """Streams the UDP datagrams of a classic pcap; other frames are skipped and counted.

    Counters: ``records`` (all), ``datagrams`` (yielded), ``skipped_non_udp`` (not IPv4/UDP),
    ``skipped_fragments`` (IPv4 fragments, which carry no whole datagram),
    ``skipped_truncated`` (frames cut by the capture's snap length) and ``skipped_malformed``
    (headers whose lengths do not fit the frame).

    Records are walked by numba over reads of ``read_size`` bytes; :meth:`batches` hands the
    datagrams over as arrays (no Python work per packet), iteration as :class:`UdpDatagram`.
    """

    def __init__(self, path: str | os.PathLike[str], read_size: int = 4 << 20) -> None:
        self.path = Path(path)
        self.read_size = read_size
        self.records = 0
        self.datagrams = 0
        self.skipped_non_udp = 0
        self.skipped_fragments = 0
        self.skipped_truncated = 0
        self.skipped_malformed = 0

    def _open_header(self, f: BinaryIO) -> tuple[bool, int, int]:
        header = f.read(_FILE_HEADER.size)
        if len(header) < _FILE_HEADER.size:
            raise PcapError(
                f"{self.path}: {len(header)} bytes is shorter than the 24-byte pcap header"
            )
        (magic_le,) = struct.unpack_from("<I", header)
        (magic_be,) = struct.unpack_from(">I", header)
        if magic_le in (MAGIC_US, MAGIC_NS):
            big, magic = False, magic_le
        elif magic_be in (MAGIC_US, MAGIC_NS):
            big, magic = True, magic_be
        else:
            raise PcapError(
                f"{self.path}: bad magic 0x{magic_le:08x}: not a classic libpcap file "
                f"(pcapng is not supported; convert with editcap -F pcap)"
            )
        _m, _vmaj, _vmin, _tz, _sig, snaplen, linktype = struct.unpack(
            (">" if big else "<") + "IHHiIII", header
        )
        if linktype != LINKTYPE_ETHERNET:
            raise PcapError(
                f"{self.path}: link type {linktype} is not supported (only Ethernet, 1)"
            )
        return big, 1 if magic == MAGIC_NS else 1000, max(snaplen, SNAPLEN)

    def batches(self) -> Iterator[UdpBatch]:
        with open_maybe_gzip(self.path, "r") as f:
            big, tick, max_incl = self._open_header(f)
            carry = b""
            file_offset = _FILE_HEADER.size  # of carry[0]
            while True:
                more = f.read(self.read_size)
                if not more:
                    break
                buf = carry + more if carry else more
                arr = np.frombuffer(buf, dtype=np.uint8)
                ts, fstart, flen, cut, end, bad = scan_records(arr, big, tick, max_incl)
                if bad >= 0:
                    raise PcapError(
                        f"{self.path}: record at byte offset {file_offset + bad} claims "
                        f"{struct.unpack_from('>I' if big else '<I', buf, bad + 8)[0]} "
                        f"captured bytes, more than the snap length {max_incl}: corrupt file"
                    )
                first_frame = self.records + 1
                self.records += len(ts)
                if len(ts):
                    yield self._batch(buf, arr, ts, fstart, flen, cut, first_frame)
                carry = buf[end:]
                file_offset += end
            if carry:
                if len(carry) < 16:
                    raise PcapError(
                        f"{self.path}: truncated record header at byte offset {file_offset} "
                        f"({len(carry)} of 16 bytes)"
                    )
                (incl,) = struct.unpack_from(">I" if big else "<I", carry, 8)
                raise PcapError(
                    f"{self.path}: truncated record at byte offset {file_offset}: {incl} bytes "
                    f"announced, {len(carry) - 16} present"
                )

    def _batch(
        self,
        buf: bytes,
        arr: np.ndarray,
        ts: np.ndarray,
        fstart: np.ndarray,
        flen: np.ndarray,
        cut: np.ndarray,
        first_frame: int,
    ) -> UdpBatch:
        kind, pstart, plen, src, dst, sport, dport = classify_frames(arr, fstart, flen, cut)
        counts = np.bincount(kind, minlength=5)
        self.skipped_non_udp += int(counts[FRAME_NON_UDP])
        self.skipped_fragments += int(counts[FRAME_FRAGMENT])
        self.skipped_truncated += int(counts[FRAME_TRUNCATED])
        self.skipped_malformed += int(counts[FRAME_MALFORMED])
        ok = np.flatnonzero(kind == FRAME_UDP)
        self.datagrams += len(ok)
        frame = ok.astype(np.int64) + first_frame
        return UdpBatch(
            buf, ts[ok], pstart[ok], plen[ok], src[ok], dst[ok], sport[ok], dport[ok], frame
        )

    def __iter__(self) -> Iterator[UdpDatagram]:
        for b in self.batches():
            for i in range(len(b.ts_ns)):
                a = int(b.start[i])
                yield UdpDatagram(
                    int(b.ts_ns[i]),
                    b.buf[a : a + int(b.length[i])],
                    socket.inet_ntoa(int(b.src[i]).to_bytes(4, "big")),
                    socket.inet_ntoa(int(b.dst[i]).to_bytes(4, "big")),
                    int(b.sport[i]),
                    int(b.dport[i]),
                )


def iter_udp_payloads(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """``(ts_ns, payload)`` of every UDP datagram in a classic pcap, in file order."""
    for d in PcapReader(path):
        yield d.ts_ns, d.payload
