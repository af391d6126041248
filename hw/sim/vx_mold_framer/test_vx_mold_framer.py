"""cocotb testbench of vx_mold_framer: MoldUDP64 datagrams / BinaryFILE bytes in, one message
beat per ITCH message out, compared with a Python model of the framing and sequencing rules."""

from __future__ import annotations

import itertools
import random
import struct
from collections import Counter
from dataclasses import dataclass

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource

from velocimex.hw_engine import FRAMER_STAT_NAMES
from velocimex.wire import itch
from velocimex.wire.moldudp64 import HEADER, HEADER_LEN

MSG_BYTES = 40
SESSION = b"SESSION001"
REALISTIC_LENGTHS = sorted({int(n) for n in itch.MESSAGE_LENGTHS if n})
# The framer's statistics: its two counters of the book contract, then the hardware model's
# framer statistics, in register order (defined once, in velocimex.hw_engine).
STAT_NAMES = ("seq_gaps", "seq_duplicates", *FRAMER_STAT_NAMES)


@dataclass(frozen=True)
class Beat:
    seq: int
    length: int
    gap: bool
    data: bytes  # the 40 bytes on the bus, zero beyond the message


def block(message: bytes) -> bytes:
    return struct.pack(">H", len(message)) + message


def datagram(seq: int, messages: list[bytes], session: bytes = SESSION, count=None) -> bytes:
    n = len(messages) if count is None else count
    return HEADER.pack(session, seq, n) + b"".join(block(m) for m in messages)


def random_message(rng: random.Random, lengths: list[int]) -> bytes:
    n = rng.choice(lengths)
    return bytes([rng.randrange(0x41, 0x7B)]) + bytes(rng.randrange(256) for _ in range(n - 1))


class FramerModel:
    """The framer's documented behaviour, message by message (docs/hardware.md)."""

    def __init__(self) -> None:
        self.session: bytes | None = None
        self.expected: int | None = None
        self.beats: list[Beat] = []
        self.stats: Counter[str] = Counter()
        self.file_seq = 1

    def _message(self, seq: int, message: bytes) -> None:
        gap = False
        if self.expected is not None and seq < self.expected:
            self.stats["seq_duplicates"] += 1
            return
        if self.expected is not None and seq > self.expected:
            gap = True
            self.stats["seq_gaps"] += seq - self.expected
        self.expected = seq + 1
        self.stats["messages"] += 1
        data = message[:MSG_BYTES].ljust(MSG_BYTES, b"\0")
        self.beats.append(Beat(seq, len(message), gap, data))

    def datagram(self, dg: bytes) -> None:
        if len(dg) < HEADER_LEN:
            self.stats["truncated"] += 1
            return
        session, seq, count = HEADER.unpack_from(dg, 0)
        if self.session is not None and session != self.session:
            self.stats["wrong_session"] += 1
            return
        self.session = session
        self.stats["packets"] += 1
        if count == 0:
            self.stats["heartbeats"] += 1
            return
        if count == 0xFFFF:
            self.stats["end_of_session"] += 1
            return
        i, left = HEADER_LEN, count
        while True:
            if i == len(dg):
                if left:
                    self.stats["count_mismatch"] += 1
                return
            if left == 0:
                self.stats["count_mismatch"] += 1
                return
            if i + 2 > len(dg):
                self.stats["truncated"] += 1
                return
            (length,) = struct.unpack_from(">H", dg, i)
            if length == 0:
                self.stats["zero_length"] += 1
                return
            if i + 2 + length > len(dg):
                self.stats["truncated"] += 1
                return
            self._message(seq, dg[i + 2 : i + 2 + length])
            seq += 1
            left -= 1
            i += 2 + length

    def file_bytes(self, data: bytes) -> None:
        """A whole BinaryFILE stream; a zero length prefix is skipped as an end-of-data mark."""
        i = 0
        while i + 2 <= len(data):
            (length,) = struct.unpack_from(">H", data, i)
            if length == 0:
                self.stats["zero_length"] += 1
                i += 2
                continue
            if i + 2 + length > len(data):
                return
            self._message(self.file_seq, data[i + 2 : i + 2 + length])
            self.file_seq += 1
            i += 2 + length


class TB:
    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 4, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.beats: list[Beat] = []
        self.stalled_input_cycles = 0
        self.sink_pause: itertools.cycle | None = None
        dut.m_axis_tready.value = 1
        dut.cfg_enable.value = 1
        dut.cfg_file_mode.value = 0
        cocotb.start_soon(self._monitor())

    async def reset(self, file_mode: bool = False) -> None:
        self.dut.cfg_file_mode.value = int(file_mode)
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def pause_sink(self, seed: int, probability: float = 0.3) -> None:
        rng = random.Random(seed)
        self.sink_pause = itertools.cycle([rng.random() < probability for _ in range(101)])

    async def _monitor(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                data = int(dut.m_axis_tdata.value).to_bytes(MSG_BYTES, "little")
                keep = int(dut.m_axis_tkeep.value)
                user = int(dut.m_axis_tuser.value)
                length = (user >> 64) & 0xFFFF
                assert keep == (1 << min(length, MSG_BYTES)) - 1, f"tkeep {keep:#x} len {length}"
                assert int(dut.m_axis_tlast.value) == 1
                self.beats.append(Beat(user & (2**64 - 1), length, bool(user >> 80), data))
            if dut.s_axis_tvalid.value and not dut.s_axis_tready.value:
                self.stalled_input_cycles += 1
            if self.sink_pause is not None:
                dut.m_axis_tready.value = int(not next(self.sink_pause))

    async def send(self, datagrams: list[bytes]) -> None:
        await self.send_only(datagrams)
        await self.drain()

    async def send_only(self, datagrams: list[bytes]) -> None:
        for dg in datagrams:
            await self.source.send(AxiStreamFrame(dg))
        await self.source.wait()

    async def drain(self) -> None:
        idle = 0
        last = len(self.beats)
        while idle < 30:
            await RisingEdge(self.dut.clk)
            idle = idle + 1 if len(self.beats) == last else 0
            last = len(self.beats)

    def stats(self) -> dict[str, int]:
        return {name: int(getattr(self.dut, f"stat_{name}").value) for name in STAT_NAMES}

    def check_against(self, model: FramerModel) -> None:
        assert len(self.beats) == len(model.beats), (len(self.beats), len(model.beats))
        for k, (got, want) in enumerate(zip(self.beats, model.beats, strict=True)):
            assert got == want, f"beat {k}: got {got}, want {want}"
        want_stats = {name: model.stats.get(name, 0) for name in STAT_NAMES}
        assert self.stats() == want_stats


async def run_datagrams(tb: TB, datagrams: list[bytes]) -> FramerModel:
    model = FramerModel()
    for dg in datagrams:
        model.datagram(dg)
    await tb.send(datagrams)
    tb.check_against(model)
    return model


@cocotb.test()
async def messages_of_one_packet_come_out_in_order_with_their_seqs(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    messages = [itch.encode("S", event_code="O"), b"A" + bytes(range(1, 36)), b"D" + bytes(20)]
    await run_datagrams(tb, [datagram(1000, messages)])
    assert [b.seq for b in tb.beats] == [1000, 1001, 1002]
    assert [b.length for b in tb.beats] == [12, 36, 21]
    assert tb.beats[0].data == messages[0] + bytes(28)
    assert not any(b.gap for b in tb.beats)


@cocotb.test()
async def messages_straddling_every_word_alignment_are_reassembled(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(2)
    # Lengths 12..20 shift each block's start through all eight byte lanes.
    messages = [random_message(rng, [n]) for n in range(12, 21) for _ in range(3)]
    await run_datagrams(tb, [datagram(1, messages[:13]), datagram(14, messages[13:])])
    assert len(tb.beats) == len(messages)


@cocotb.test()
async def long_message_is_truncated_to_40_bytes_with_full_length(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    long_msg = b"Q" + bytes(range(1, 200))
    await run_datagrams(tb, [datagram(5, [long_msg, b"S" + bytes(11)])])
    assert tb.beats[0].length == 200
    assert tb.beats[0].data == long_msg[:40]
    assert tb.beats[1].seq == 6


@cocotb.test()
async def heartbeat_and_end_of_session_carry_no_messages(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    m = b"S" + bytes(11)
    dgs = [
        datagram(1, [m]),
        datagram(2, [], count=0),
        datagram(2, [m]),
        datagram(3, [], count=0xFFFF),
    ]
    await run_datagrams(tb, dgs)
    stats = tb.stats()
    assert (stats["heartbeats"], stats["end_of_session"], stats["packets"]) == (1, 1, 4)
    assert [b.seq for b in tb.beats] == [1, 2]


@cocotb.test()
async def duplicate_messages_are_dropped_and_gaps_flagged(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(3)
    ms = [random_message(rng, REALISTIC_LENGTHS) for _ in range(10)]
    dgs = [
        datagram(1, ms[0:3]),
        datagram(1, ms[0:3]),  # A/B line copy: all three are duplicates
        datagram(3, ms[2:5]),  # one duplicate, two new
        datagram(9, ms[5:7]),  # 6, 7, 8 missing
    ]
    await run_datagrams(tb, dgs)
    assert [b.seq for b in tb.beats] == [1, 2, 3, 4, 5, 9, 10]
    assert [b.gap for b in tb.beats] == [False] * 5 + [True, False]
    stats = tb.stats()
    assert stats["seq_duplicates"] == 4
    assert stats["seq_gaps"] == 3


@cocotb.test()
async def truncated_datagrams_keep_earlier_messages_and_do_not_wedge(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(4)
    ms = [random_message(rng, REALISTIC_LENGTHS) for _ in range(4)]
    full = datagram(1, ms[:3])
    dgs = [
        full[:-5],  # last block runs past the end of the datagram
        datagram(4, ms[:1])[:13],  # ends inside the header
        datagram(4, ms[:1])[: HEADER_LEN + 1],  # ends inside a length prefix
        datagram(4, [ms[3]]),
    ]
    await run_datagrams(tb, dgs)
    assert [b.seq for b in tb.beats] == [1, 2, 4]
    assert tb.beats[2].gap
    assert tb.stats()["truncated"] == 3


@cocotb.test()
async def count_mismatch_and_corrupt_blocks_are_counted_and_dropped(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    m = b"S" + bytes(11)
    dgs = [
        datagram(1, [m, m], count=3),  # fewer blocks than announced
        datagram(4, [m, m], count=1),  # a block after the announced count
        datagram(5, [m]) + b"\x00",  # a stray byte after the last block
        HEADER.pack(SESSION, 6, 2) + block(m) + b"\x00\x00" + block(m),  # zero length block
        datagram(8, [m], session=b"OTHERSESS1"),  # another session
        datagram(8, [m]),
    ]
    await run_datagrams(tb, dgs)
    stats = tb.stats()
    assert stats["count_mismatch"] == 3
    assert stats["zero_length"] == 1
    assert stats["wrong_session"] == 1
    assert [b.seq for b in tb.beats] == [1, 2, 4, 5, 6, 8]


@cocotb.test()
async def short_malformed_blocks_are_all_delivered(dut) -> None:
    """Blocks under 8 bytes can end twice in one input word: the framer holds the word for
    an extra cycle instead of losing one (the book counts their bad length)."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(5)
    ms = [random_message(rng, [1, 2, 3, 4, 5, 13]) for _ in range(60)]
    await run_datagrams(tb, [datagram(1, ms[:30]), datagram(31, ms[30:])])
    assert len(tb.beats) == 60


@cocotb.test()
async def a_long_output_stall_on_the_densest_traffic_holds_the_input_and_loses_nothing(dut) -> None:
    """One-byte messages (three block ends in some words, the most a word can hold) sent
    while the sink takes nothing for 300 cycles: the output queue fills to its room mark, the
    input is held, and every message comes out in order once the sink returns."""
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(8)
    ms = [bytes([rng.randrange(256)]) for _ in range(200)]
    dgs = [datagram(1 + 50 * k, ms[50 * k : 50 * (k + 1)]) for k in range(4)]
    model = FramerModel()
    for dg in dgs:
        model.datagram(dg)
    dut.m_axis_tready.value = 0
    sending = cocotb.start_soon(tb.send_only(dgs))
    await ClockCycles(dut.clk, 300)
    assert tb.beats == []
    assert tb.stalled_input_cycles > 200
    dut.m_axis_tready.value = 1
    await sending
    await tb.drain()
    tb.check_against(model)
    assert len(tb.beats) == 200


@cocotb.test()
async def realistic_back_to_back_packets_never_stall_the_input(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    rng = random.Random(6)
    dgs = []
    seq = 1
    for _ in range(40):
        ms = [random_message(rng, REALISTIC_LENGTHS) for _ in range(rng.randrange(1, 30))]
        dgs.append(datagram(seq, ms))
        seq += len(ms)
    await run_datagrams(tb, dgs)
    assert tb.stalled_input_cycles == 0
    assert len(tb.beats) == seq - 1


def random_corrupted_datagrams(rng: random.Random, count: int) -> list[bytes]:
    """Datagrams of realistic and odd lengths with overlaps, losses, truncations, count errors
    and heartbeats mixed in."""
    lengths = REALISTIC_LENGTHS + [1, 3, 5, 7, 60, 300]
    dgs = []
    seq = 1
    for _ in range(count):
        ms = [random_message(rng, lengths) for _ in range(rng.randrange(1, 12))]
        start = seq
        r = rng.random()
        if r < 0.1:
            start = max(1, seq - rng.randrange(1, 8))  # retransmitted overlap
        elif r < 0.2:
            start = seq + rng.randrange(1, 5)  # lost packets
        dg = datagram(start, ms)
        r = rng.random()
        if r < 0.08:
            dg = dg[: rng.randrange(1, len(dg))]
        elif r < 0.12:
            dg = datagram(start, ms, count=len(ms) + rng.choice([-1, 1]))
        elif r < 0.14:
            dg = datagram(start, [], count=rng.choice([0, 0xFFFF]))
        dgs.append(dg)
        seq = max(seq, start + len(ms))
    return dgs


@cocotb.test()
async def random_corrupted_traffic_matches_model_under_backpressure(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    tb.pause_sink(seed=7)
    await run_datagrams(tb, random_corrupted_datagrams(random.Random(7), 120))


@cocotb.test()
async def random_traffic_with_input_gaps_matches_model(dut) -> None:
    # Idle input cycles between beats, so words reach the parser with gaps in every state,
    # also next to a held word's replay (the other tests send back to back).
    tb = TB(dut)
    await tb.reset()
    tb.pause_sink(seed=11, probability=0.15)
    rng = random.Random(11)
    tb.source.set_pause_generator(itertools.cycle([rng.random() < 0.3 for _ in range(97)]))
    await run_datagrams(tb, random_corrupted_datagrams(rng, 120))


@cocotb.test()
async def binaryfile_mode_numbers_messages_by_position_across_chunks(dut) -> None:
    tb = TB(dut)
    await tb.reset(file_mode=True)
    tb.pause_sink(seed=8, probability=0.2)
    rng = random.Random(8)
    lengths = REALISTIC_LENGTHS + [2, 4]
    stream = b"".join(block(random_message(rng, lengths)) for _ in range(150))
    stream += b"\x00\x00" + block(b"S" + bytes(11))  # end-of-data mark, then more data
    model = FramerModel()
    model.file_bytes(stream)
    # Chunk boundaries (tlast) fall anywhere, including inside length prefixes.
    cuts = sorted(rng.sample(range(1, len(stream)), 40))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    await tb.send(chunks)
    tb.check_against(model)
    assert [b.seq for b in tb.beats] == list(range(1, 152))


@cocotb.test()
async def disabled_framer_drops_whole_datagrams(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    m = b"S" + bytes(11)
    dut.cfg_enable.value = 0
    await tb.send([datagram(1, [m])])
    dut.cfg_enable.value = 1
    await tb.send([datagram(2, [m])])
    assert [b.seq for b in tb.beats] == [2]


def test_vx_mold_framer_frames_messages_like_the_model() -> None:
    from velocimex.hwtools import rtl_sources, run_cocotb

    run_cocotb("vx_mold_framer", "vx_mold_framer", rtl_sources("vx_mold_framer", "vx_book_fifo"))


def test_vx_mold_framer_lints_clean() -> None:
    from velocimex.hwtools import lint, rtl_sources

    lint(rtl_sources("vx_mold_framer", "vx_book_fifo"), "vx_mold_framer")
