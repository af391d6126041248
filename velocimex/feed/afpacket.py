"""Linux AF_PACKET TPACKET_V3 ring reader: the kernel-bypass-ready receive path.

The kernel writes frames into a memory-mapped ring of blocks shared with this process; the
reader walks each block the kernel has handed over (``block_status & TP_STATUS_USER``),
takes the IPv4/UDP datagrams addressed to a line's group and port, and gives the block back.
No system call per packet, and the same walk fits a DPDK/AF_XDP ring later. The UDP filter
is done here in Python (a BPF filter would do it in the kernel; not needed at these rates).

Needs CAP_NET_RAW (root); :class:`SourceUnavailable` says so otherwise. Packets the host
itself sends (``PACKET_OUTGOING``) are skipped, so on loopback each datagram is seen once.
"""

from __future__ import annotations

import mmap
import socket
import struct

from velocimex.feed.sources import Datagram, LineAddress, SourceUnavailable, join_multicast

SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
TPACKET_V3 = 2
ETH_P_IP = 0x0800
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
PACKET_OUTGOING = 4
IPPROTO_UDP = 17

_REQ3 = struct.Struct("=7I")  # struct tpacket_req3
# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1.
_BLOCK_STATUS = 8
_BLOCK_NUM_PKTS = 12
_BLOCK_FIRST = 16
# struct tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac, net.
_PKT_HDR = struct.Struct("=IIIIIIHH")
_SLL_PKTTYPE = 48 + 10  # sockaddr_ll after the 48-byte tpacket3_hdr; sll_pkttype at +10
_U32 = struct.Struct("=I")
_STATS3 = struct.Struct("=III")  # struct tpacket_stats_v3: packets, drops, freeze_q_cnt


class AfPacketSource:
    def __init__(
        self,
        lines: list[LineAddress],
        ifname: str | None = "lo",
        interface: str = "127.0.0.1",
        block_size: int = 1 << 16,
        block_nr: int = 512,
        frame_size: int = 2048,
        retire_ms: int = 4,
    ) -> None:
        self.lines = tuple(ln.name for ln in lines)
        self.exhausted = False
        self._by_dst = {(socket.inet_aton(ln.group), ln.port): ln.name for ln in lines}
        self.frames = 0
        self.other_frames = 0
        self.truncated_frames = 0
        # Frames the kernel could not put in the ring because every block was still ours.
        self.ring_drops = 0
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        except PermissionError as exc:
            raise SourceUnavailable(
                "AF_PACKET needs CAP_NET_RAW (run as root or grant the capability)"
            ) from exc
        except (AttributeError, OSError) as exc:
            raise SourceUnavailable(f"AF_PACKET sockets are not available here: {exc}") from exc
        self._sock = sock
        try:
            sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            req = _REQ3.pack(
                block_size,
                block_nr,
                frame_size,
                block_size // frame_size * block_nr,
                retire_ms,
                0,
                0,
            )
            sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
            if ifname not in (None, "", "any"):
                # Unbound, the ring sees every interface (lines arriving on two ports).
                sock.bind((ifname, ETH_P_IP))
            self._ring = mmap.mmap(
                sock.fileno(),
                block_size * block_nr,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
            # The ring sees frames whatever the IP layer wants, but the interface only
            # passes multicast it has joined: hold an ordinary membership per line.
            self._members = [
                join_multicast(ln, ln.interface or interface, rcvbuf=1 << 16) for ln in lines
            ]
        except OSError as exc:
            sock.close()
            raise SourceUnavailable(f"AF_PACKET TPACKET_V3 ring on {ifname!r}: {exc}") from exc
        self._block_size = block_size
        self._block_nr = block_nr
        self._block = 0

    def fds(self) -> list[int]:
        return [self._sock.fileno()]

    def next_deadline(self) -> int | None:
        return None

    def read(self, now_ns: int) -> list[Datagram]:
        out: list[Datagram] = []
        ring = self._ring
        for _ in range(self._block_nr):
            base = self._block * self._block_size
            (status,) = _U32.unpack_from(ring, base + _BLOCK_STATUS)
            if not status & TP_STATUS_USER:
                break
            (count,) = _U32.unpack_from(ring, base + _BLOCK_NUM_PKTS)
            (first,) = _U32.unpack_from(ring, base + _BLOCK_FIRST)
            off = base + first
            for _k in range(count):
                nxt, sec, nsec, snaplen, _len, _st, _mac, net = _PKT_HDR.unpack_from(ring, off)
                self.frames += 1
                if ring[off + _SLL_PKTTYPE] != PACKET_OUTGOING:
                    d = self._datagram(ring, off + net, snaplen - (net - _mac), sec, nsec)
                    if d is not None:
                        out.append(d)
                off += nxt
            # Hand the block back to the kernel.
            _U32.pack_into(ring, base + _BLOCK_STATUS, TP_STATUS_KERNEL)
            self._block = (self._block + 1) % self._block_nr
        return out

    def _datagram(self, ring: mmap.mmap, ip: int, caplen: int, sec: int, nsec: int):
        if caplen < 20 or ring[ip] >> 4 != 4 or ring[ip + 9] != IPPROTO_UDP:
            self.other_frames += 1
            return None
        ihl = (ring[ip] & 0x0F) * 4
        (frag,) = struct.unpack_from(">H", ring, ip + 6)
        if frag & 0x3FFF or caplen < ihl + 8:
            self.other_frames += 1
            return None
        udp = ip + ihl
        dport, ulen = struct.unpack_from(">HH", ring, udp + 2)
        line = self._by_dst.get((ring[ip + 16 : ip + 20], dport))
        if line is None:
            self.other_frames += 1
            return None
        if ulen < 8 or caplen < ihl + ulen:
            self.truncated_frames += 1
            return None
        # Kernel receive time of the frame (CLOCK_REALTIME), kept for latency figures.
        return Datagram(sec * 1_000_000_000 + nsec, ring[udp + 8 : udp + ulen], line)

    def counters(self) -> dict[str, int]:
        try:
            # Reading the statistics resets them in the kernel: accumulate here.
            raw = self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, _STATS3.size)
            self.ring_drops += _STATS3.unpack(raw)[1]
        except OSError:
            pass
        return {
            "frames": self.frames,
            "other_frames": self.other_frames,
            "truncated_frames": self.truncated_frames,
            "ring_drops": self.ring_drops,
        }

    def close(self) -> None:
        self.exhausted = True
        for s in getattr(self, "_members", []):
            s.close()
        if getattr(self, "_ring", None) is not None:
            self._ring.close()
            self._ring = None
        self._sock.close()
