"""Classic pcap reading/writing and the format-independent capture API on top of it."""

from __future__ import annotations

import gzip
import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from velocimex.wire import itch
from velocimex.wire.binaryfile import BinaryFileError
from velocimex.wire.capture import (
    SESSION_MIDNIGHT_NS,
    CaptureReader,
    detect_format,
    iter_capture,
    write_capture,
)
from velocimex.wire.moldudp64 import MoldError, Packetizer, parse_packet
from velocimex.wire.pcap import (
    MAGIC_US,
    PcapError,
    PcapReader,
    PcapWriter,
    internet_checksum,
    iter_udp_payloads,
)


def _messages(n: int, t0: int = 34_200_000_000_000) -> list[bytes]:
    types = sorted(itch.SPECS)
    return [
        itch.encode(types[i % len(types)], stock_locate=i % 7, timestamp=t0 + 1000 * i)
        for i in range(n)
    ]


def _orders(n: int) -> list[bytes]:
    """Same-length (36-byte) messages, so packets of 20 + 3 * 38 bytes hold exactly three."""
    return [itch.encode("A", order_ref=i, timestamp=i) for i in range(n)]


def _blocks(msgs: list[bytes]) -> bytes:
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs)


def _records(path: Path) -> list[bytes]:
    """Raw frames of a little-endian pcap, read independently of PcapReader."""
    raw = path.read_bytes()
    out, i = [], 24
    while i < len(raw):
        _s, _f, incl, _orig = struct.unpack_from("<IIII", raw, i)
        out.append(raw[i + 16 : i + 16 + incl])
        i += 16 + incl
    return out


def _write_custom(path: Path, frames: list[tuple[int, int, bytes]], magic: int, order: str) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1))
        for sec, frac, frame in frames:
            f.write(struct.pack(order + "IIII", sec, frac, len(frame), len(frame)))
            f.write(frame)


@pytest.mark.parametrize("name", ["r.pcap", "r.pcap.gz"])
def test_udp_payloads_round_trip_with_timestamps(tmp_path: Path, name: str) -> None:
    payloads = [bytes([i]) * (i * 37 % 1400) for i in range(200)]
    path = tmp_path / name
    with PcapWriter(path) as w:
        for i, p in enumerate(payloads):
            w.write_udp(1_700_000_000_123_456_789 + i, p)
    got = list(iter_udp_payloads(path))
    assert [p for _, p in got] == payloads
    assert [t for t, _ in got] == [1_700_000_000_123_456_789 + i for i in range(200)]


def test_written_frames_have_valid_ip_and_udp_checksums_and_default_addresses(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.pcap"
    with PcapWriter(path) as w:
        w.write_udp(1, b"hello moldudp64")
        w.write_udp(2, b"odd")
    assert path.read_bytes()[:4] == struct.pack("<I", 0xA1B23C4D)
    for frame in _records(path):
        assert frame[:6] == bytes.fromhex("01005e010101")  # RFC 1112 mapping of 239.1.1.1
        ip = frame[14:34]
        assert internet_checksum(ip) == 0  # a correct header checksums to zero
        assert ip[12:16] == bytes([127, 0, 0, 1]) and ip[16:20] == bytes([239, 1, 1, 1])
        udp = frame[34:]
        sport, dport, length, checksum = struct.unpack_from(">HHHH", udp)
        assert (sport, dport, length) == (26400, 26400, len(udp))
        pseudo = ip[12:20] + struct.pack(">BBH", 0, 17, length)
        assert checksum != 0 and internet_checksum(pseudo + udp) == 0


def test_microsecond_and_big_endian_files_are_read(tmp_path: Path) -> None:
    src = tmp_path / "ns.pcap"
    with PcapWriter(src) as w:
        w.write_udp(5_000_000_000 + 7000, b"abc")
    frame = _records(src)[0]
    for order in "<>":
        path = tmp_path / f"us{order == '<'}.pcap"
        _write_custom(path, [(5, 7, frame)], MAGIC_US, order)
        assert list(iter_udp_payloads(path)) == [(5_000_007_000, b"abc")]


def test_non_udp_fragments_and_padding_are_handled(tmp_path: Path) -> None:
    src = tmp_path / "src.pcap"
    with PcapWriter(src) as w:
        w.write_udp(1, b"x")
    udp_frame = _records(src)[0]
    arp = bytes(12) + b"\x08\x06" + bytes(28)
    tcp = bytearray(udp_frame)
    tcp[23] = 6
    fragment = bytearray(udp_frame)
    fragment[20] = 0x20  # more fragments
    vlan = udp_frame[:12] + b"\x81\x00\x00\x05" + udp_frame[12:]
    padded = udp_frame + bytes(60 - len(udp_frame))  # Ethernet minimum frame
    path = tmp_path / "mixed.pcap"
    frames = [arp, bytes(tcp), bytes(fragment), vlan, padded, udp_frame[:20]]
    _write_custom(path, [(0, 0, f) for f in frames], 0xA1B23C4D, "<")
    reader = PcapReader(path)
    assert [d.payload for d in reader] == [b"x", b"x"]
    assert reader.records == 6
    assert reader.skipped_non_udp == 2
    assert reader.skipped_fragments == 1
    assert reader.skipped_malformed == 1


def test_bad_magic_and_short_header_raise_pcap_error(tmp_path: Path) -> None:
    (tmp_path / "bad.pcap").write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(20))
    with pytest.raises(PcapError, match="bad magic 0x0a0d0d0a"):
        list(iter_udp_payloads(tmp_path / "bad.pcap"))
    (tmp_path / "short.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
    with pytest.raises(PcapError, match="4 bytes is shorter than the 24-byte pcap header"):
        list(iter_udp_payloads(tmp_path / "short.pcap"))


def test_truncated_record_raises_pcap_error_with_offset(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as w:
        w.write_udp(1, b"first")
        w.write_udp(2, b"second" * 10)
    raw = path.read_bytes()
    second = 24 + 16 + len(_records(path)[0])
    (tmp_path / "cut.pcap").write_bytes(raw[:-4])
    with pytest.raises(PcapError, match=rf"truncated record at byte offset {second}"):
        list(iter_udp_payloads(tmp_path / "cut.pcap"))
    (tmp_path / "cut2.pcap").write_bytes(raw[: second + 9])
    with pytest.raises(PcapError, match=rf"truncated record header at byte offset {second}"):
        list(iter_udp_payloads(tmp_path / "cut2.pcap"))
    (tmp_path / "cut.pcap.gz").write_bytes(gzip.compress(raw[:-4]))
    with pytest.raises(PcapError, match="truncated record"):
        list(iter_udp_payloads(tmp_path / "cut.pcap.gz"))


# --- the capture API -------------------------------------------------------------------------


def _capture_messages(chunks: list) -> tuple[bytes, np.ndarray]:
    return b"".join(c.data for c in chunks), np.concatenate([c.seqs for c in chunks])


@pytest.mark.parametrize("gz", ["", ".gz"])
def test_iter_capture_is_identical_for_pcap_and_binaryfile(tmp_path: Path, gz: str) -> None:
    msgs = _messages(5000)
    data = _blocks(msgs)
    pieces = [_blocks(msgs[:1]), _blocks(msgs[1:2500]), _blocks(msgs[2500:])]
    stats_p = write_capture(tmp_path / f"s.pcap{gz}", pieces)
    stats_b = write_capture(tmp_path / f"s.itch{gz}", pieces)
    assert stats_p.messages == stats_b.messages == 5000
    assert stats_p.next_seq == 5001 and stats_p.format == "pcap"
    for chunk_bytes in (1000, 4 << 20):
        pdata, pseqs = _capture_messages(
            list(iter_capture(tmp_path / f"s.pcap{gz}", chunk_bytes=chunk_bytes))
        )
        bdata, bseqs = _capture_messages(
            list(iter_capture(tmp_path / f"s.itch{gz}", chunk_bytes=chunk_bytes))
        )
        assert pdata == bdata == data
        assert pseqs.dtype == bseqs.dtype == np.uint64
        assert pseqs.tolist() == bseqs.tolist() == list(range(1, 5001))


def test_pcap_capture_ends_with_end_of_session_and_stamps_itch_time(tmp_path: Path) -> None:
    msgs = _messages(300)
    write_capture(tmp_path / "s.pcap", [_blocks(msgs)])
    datagrams = list(iter_udp_payloads(tmp_path / "s.pcap"))
    packets = [parse_packet(p) for _, p in datagrams]
    assert packets[-1].is_end_of_session and packets[-1].seq == 301
    assert all(len(p) <= 1400 for _, p in datagrams)
    for (ts, _), packet in zip(datagrams[:-1], packets[:-1], strict=True):
        first = itch.decode(packet.messages[0])
        assert ts == SESSION_MIDNIGHT_NS + first["timestamp"]
    reader = CaptureReader(tmp_path / "s.pcap")
    assert sum(len(c.seqs) for c in reader) == 300
    assert reader.end_of_session == 1 and reader.packets == len(packets)


def test_pcap_duplicates_and_gaps_pass_through_in_arrival_order(tmp_path: Path) -> None:
    msgs = _orders(9)
    pz = Packetizer(b"S", max_payload=20 + 3 * 38)
    packets = list(pz.packetize(msgs))
    arrival = [packets[0], packets[2], packets[0], packets[1], pz.heartbeat()]
    with PcapWriter(tmp_path / "g.pcap") as w:
        for i, p in enumerate(arrival):
            w.write_udp(i, p)
    reader = CaptureReader(tmp_path / "g.pcap")
    data, seqs = _capture_messages(list(reader))
    assert seqs.tolist() == [1, 2, 3, 7, 8, 9, 1, 2, 3, 4, 5, 6]
    assert data == b"".join(p[20:] for p in arrival[:4])
    assert reader.heartbeats == 1


@pytest.mark.parametrize("where", ["count", "length"])
def test_corrupt_packet_in_capture_raises_or_is_dropped(tmp_path: Path, where: str) -> None:
    msgs = _orders(6)
    packets = list(Packetizer(b"S", max_payload=20 + 3 * 38).packetize(msgs))
    bad = bytearray(packets[0])
    if where == "count":
        bad[18:20] = struct.pack(">H", 4)
    else:
        bad[20:22] = struct.pack(">H", 200)
    with PcapWriter(tmp_path / "c.pcap") as w:
        w.write_udp(0, bytes(bad))
        w.write_udp(1, packets[1])
    with pytest.raises(MoldError, match=r"frame 1: packet seq 1"):
        list(iter_capture(tmp_path / "c.pcap"))
    reader = CaptureReader(tmp_path / "c.pcap", on_corrupt="drop")
    data, seqs = _capture_messages(list(reader))
    assert seqs.tolist() == [4, 5, 6] and data == packets[1][20:]
    assert reader.corrupt_packets == 1


def test_port_filter_skips_other_udp_traffic(tmp_path: Path) -> None:
    packet = next(Packetizer(b"S").packetize(_messages(2)))
    with PcapWriter(tmp_path / "p.pcap") as w:
        w.write_udp(0, b"dns-ish", dport=53)
        w.write_udp(1, packet)
    reader = CaptureReader(tmp_path / "p.pcap", port=26400)
    assert _capture_messages(list(reader))[1].tolist() == [1, 2]
    assert reader.skipped_other_port == 1
    with pytest.raises(MoldError, match="shorter than the 20-byte"):
        list(iter_capture(tmp_path / "p.pcap"))


def test_detect_format_by_suffix_then_by_content(tmp_path: Path) -> None:
    assert detect_format("x.pcap") == detect_format("X.PCAP.GZ") == "pcap"
    assert detect_format("x.itch") == detect_format("x.bin.gz") == "binaryfile"
    write_capture(tmp_path / "a.pcap", [_blocks(_messages(3))])
    (tmp_path / "a.pcap").rename(tmp_path / "noext")
    assert detect_format(tmp_path / "noext") == "pcap"
    (tmp_path / "day.NASDAQ_ITCH50").write_bytes(_blocks(_messages(3)))
    assert detect_format(tmp_path / "day.NASDAQ_ITCH50") == "binaryfile"
    with pytest.raises(ValueError, match="cannot tell the capture format"):
        detect_format(tmp_path / "missing.dat")
    with pytest.raises(ValueError, match="cannot tell the capture format"):
        write_capture(tmp_path / "out.dat", [])


# --- corrupted files: a clear exception or a counted drop, never a crash or wrong output ---


@pytest.fixture(scope="module")
def clean_captures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    base = tmp_path_factory.mktemp("clean")
    msgs = _messages(300)
    out = {}
    for name in ("c.pcap", "c.itch"):
        write_capture(base / name, [_blocks(msgs)], max_payload=300)
        out[name] = (base / name).read_bytes()
    return out


def _whole_blocks(data: bytes) -> int:
    count, i = 0, 0
    while i < len(data):
        (n,) = struct.unpack_from(">H", data, i)
        assert n > 0 and i + 2 + n <= len(data)
        i += 2 + n
        count += 1
    return count


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["c.pcap", "c.itch"]),
    flips=st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 1 << 20)),
    on_corrupt=st.sampled_from(["raise", "drop"]),
)
def test_corrupted_capture_raises_value_error_or_yields_consistent_chunks(
    clean_captures: dict[str, bytes],
    name: str,
    flips: list[tuple[int, int]],
    cut: int | None,
    on_corrupt: str,
) -> None:
    raw = bytearray(clean_captures[name])
    for pos, value in flips:
        raw[pos % len(raw)] = value
    if cut is not None:
        raw = raw[: cut % (len(raw) + 1)]
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        path.write_bytes(bytes(raw))
        reader = CaptureReader(path, chunk_bytes=512, on_corrupt=on_corrupt)  # type: ignore[arg-type]
        try:
            chunks = list(reader)
        except (PcapError, MoldError, BinaryFileError) as exc:
            assert str(exc)
            if on_corrupt == "drop":
                assert not isinstance(exc, MoldError)
            return
    for chunk in chunks:
        assert _whole_blocks(chunk.data) == len(chunk.seqs)
    assert reader.messages == sum(len(c.seqs) for c in chunks)


def test_packet_whose_first_message_has_no_timestamp_keeps_the_previous_time(
    tmp_path: Path,
) -> None:
    first = itch.encode("S", timestamp=5_000)
    short = b"\x00" * 4  # not ITCH: too short to carry a timestamp
    # Room for 19 block bytes: the 14-byte S block and the 6-byte short one go in two packets.
    write_capture(tmp_path / "t.pcap", [_blocks([first, short])], max_payload=20 + 19)
    times = [ts for ts, _ in iter_udp_payloads(tmp_path / "t.pcap")]
    assert times == [SESSION_MIDNIGHT_NS + 5_000] * 3  # S packet, short packet, end of session


def test_write_udp_batch_rejects_datagrams_outside_the_buffer(tmp_path: Path) -> None:
    with PcapWriter(tmp_path / "b.pcap") as w:
        with pytest.raises(PcapError, match="outside the 10-byte buffer"):
            w.write_udp_batch(np.zeros(1, np.int64), bytes(10), np.array([5]), np.array([6]))
        with pytest.raises(PcapError, match="batch arrays differ"):
            w.write_udp_batch(np.zeros(2, np.int64), bytes(10), np.array([0]), np.array([1]))
        with pytest.raises(PcapError, match="timestamps must be in"):
            w.write_udp(-1, b"x")
    assert (tmp_path / "b.pcap").stat().st_size == 24
