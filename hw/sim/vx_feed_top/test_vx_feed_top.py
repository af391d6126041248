"""cocotb testbench of vx_feed_top: a generated trading session through framer + book core,
every record compared byte for byte with the software BookEngine, counters read over
AXI-Lite, and the input-to-record latency in cycles written to results/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame, AxiStreamSource
from velocimex.sw_fallback.engine import BookEngine

from velocimex import book_contract as bc
from velocimex.generate import generate_session
from velocimex.hw_engine import BOOK_STAT_NAMES, FRAMER_STAT_NAMES
from velocimex.wire import blocks
from velocimex.wire.moldudp64 import HEADER_LEN, Packetizer

CAPACITY = bc.SYNTH_CAPACITY
SESSION_SYMBOLS = 8
SESSION_MESSAGES = int(os.environ.get("VX_TOP_MESSAGES", "4000"))
RESULTS_DIR = Path(
    os.environ.get("VX_RESULTS_DIR", Path(__file__).resolve().parents[3] / "results")
)

REG_CTRL = 0x010
REG_SUB_COUNT = 0x018
REG_SUB_ADDR = 0x020
REG_SUB_SYM_LO = 0x024
REG_SUB_SYM_HI = 0x028
REG_RECORDS_LO = 0x030
REG_RECORDS_HI = 0x034
REG_COUNTER_BASE = 0x100
REG_CAP1 = 0x00C
REG_FRAMER_BASE = 0x200
CTRL_ENABLE, CTRL_FILE_MODE, CTRL_SOFT_RESET = 1, 2, 4


def session_blocks(messages: int, seed: int) -> bytes:
    return b"".join(generate_session(SESSION_SYMBOLS, messages, seed))


def block_ends(data: bytes) -> np.ndarray:
    """Offset just past each message block of back-to-back block data."""
    offsets, end, _ = blocks.block_offsets(blocks.as_u8(data))
    return np.append(offsets[1:], end)


class TB:
    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 4, unit="ns").start())
        self.source = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.records: list[bytes] = []
        self.record_cycles: list[int] = []
        self.beat_cycles: list[int] = []
        # Cycles the book core holds a message beat back (tready low) once it has taken the
        # first one (before that its clear sweep holds it); the framer's own split-beat
        # holds are not counted.
        self.book_stalls = 0
        self.book_started = False
        self.cycle = 0
        dut.m_axis_tready.value = 1
        cocotb.start_soon(self._monitor())

    async def _monitor(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            self.cycle += 1
            if dut.s_axis_tvalid.value and dut.s_axis_tready.value:
                self.beat_cycles.append(self.cycle)
            book = dut.book_inst
            if book.s_axis_tvalid.value:
                if book.s_axis_tready.value:
                    self.book_started = True
                elif self.book_started:
                    self.book_stalls += 1
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                self.records.append(int(dut.m_axis_tdata.value).to_bytes(bc.RECORD_BYTES, "little"))
                self.record_cycles.append(self.cycle)

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def configure(self, file_mode: bool, symbols: list[str] | None = None) -> None:
        ctrl = CTRL_ENABLE | (CTRL_FILE_MODE if file_mode else 0)
        for addr, sym in enumerate(symbols or []):
            raw = sym.encode("ascii").ljust(8)
            await self.axil.write_dword(REG_SUB_ADDR, addr)
            await self.axil.write_dword(REG_SUB_SYM_LO, int.from_bytes(raw[:4], "little"))
            await self.axil.write_dword(REG_SUB_SYM_HI, int.from_bytes(raw[4:], "little"))
        await self.axil.write_dword(REG_SUB_COUNT, len(symbols or []))
        await self.axil.write_dword(REG_CTRL, ctrl | CTRL_SOFT_RESET)

    async def send(self, frames: list[bytes]) -> None:
        for frame in frames:
            await self.source.send(AxiStreamFrame(frame))
        await self.source.wait()
        # The book core queues up to 17 messages; quiet for long enough to drain them.
        idle = 0
        last = len(self.records)
        while idle < 300:
            await RisingEdge(self.dut.clk)
            idle = idle + 1 if len(self.records) == last else 0
            last = len(self.records)

    async def read64(self, lo_addr: int) -> int:
        lo = await self.axil.read_dword(lo_addr)
        hi = await self.axil.read_dword(lo_addr + 4)
        return hi << 32 | lo

    async def book_stats(self) -> dict[str, int]:
        """The book core's HW-only statistics, from the FRAMER_STAT slots after the framer's."""
        cap1 = await self.axil.read_dword(REG_CAP1)
        n = len(FRAMER_STAT_NAMES)
        assert (cap1 >> 16) & 0xFF == n + len(BOOK_STAT_NAMES)
        return {
            name: await self.axil.read_dword(REG_FRAMER_BASE + 4 * (n + k))
            for k, name in enumerate(BOOK_STAT_NAMES)
        }

    async def counters(self) -> dict[str, int]:
        return {
            name: await self.read64(REG_COUNTER_BASE + 8 * i)
            for i, name in enumerate(bc.COUNTER_NAMES)
        }

    async def check_against_software(
        self, data: bytes, seqs: np.ndarray, symbols: list[str] | None
    ) -> np.ndarray:
        engine = BookEngine(CAPACITY, symbols)
        want = engine.process(data, seqs)
        got = np.frombuffer(b"".join(self.records), dtype=bc.RECORD_DTYPE)
        hw_counters = await self.counters()
        for k in range(min(len(got), len(want))):
            if got[k].tobytes() != want[k].tobytes():
                self.dut._log.error("first differing record %d: %s != %s", k, got[k], want[k])
                break
        if hw_counters != engine.counters():
            self.dut._log.error("counters: rtl %s, software %s", hw_counters, engine.counters())
        assert len(got) == len(want), f"{len(got)} records from RTL, {len(want)} from software"
        for k in range(len(want)):
            assert got[k].tobytes() == want[k].tobytes(), f"record {k}: {got[k]} != {want[k]}"
        assert await self.counters() == engine.counters()
        assert await self.read64(REG_RECORDS_LO) == len(want)
        return want


def latency_report(
    tb: TB, want: np.ndarray, msg_seqs: np.ndarray, msg_last_beat: np.ndarray
) -> dict[str, float]:
    """Cycles from the input beat carrying a message's last byte to its record's valid beat."""
    beat_of_seq = dict(zip(msg_seqs.tolist(), msg_last_beat.tolist(), strict=True))
    cycles = np.array(
        [
            tb.record_cycles[k] - tb.beat_cycles[beat_of_seq[int(want["seq"][k])]]
            for k in range(len(want))
        ]
    )
    return {
        "records": int(len(cycles)),
        "p50_cycles": float(np.percentile(cycles, 50)),
        "p99_cycles": float(np.percentile(cycles, 99)),
        "max_cycles": int(cycles.max()),
        "min_cycles": int(cycles.min()),
    }


@cocotb.test()
async def input_is_held_while_the_book_clears_its_tables(dut) -> None:
    """After a (soft) reset the top takes no input until the book's clear sweep is over: the
    framer's output queue would otherwise absorb messages the book cannot take yet, and tready
    would not say when the feed handler is ready."""
    tb = TB(dut)
    await tb.reset()
    await tb.configure(file_mode=True)
    dut.s_axis_tvalid.value = 1
    dut.s_axis_tdata.value = 0
    dut.s_axis_tkeep.value = 0xFF
    dut.s_axis_tlast.value = 0
    held = 0
    after_sweep = 0
    while not dut.s_axis_tready.value:
        if not dut.book_inst.busy.value:
            after_sweep += 1
            # tready follows the sweep's end through one register
            assert after_sweep <= 2, "tready still low after the sweep"
        await RisingEdge(dut.clk)
        held += 1
    dut.s_axis_tvalid.value = 0
    assert not dut.book_inst.busy.value
    # The sweep covers every order set (2**10 at SYNTH_CAPACITY) and level slot.
    assert held >= 1 << bc.SYNTH_CAPACITY.order_set_bits


@cocotb.test()
async def generated_session_as_binaryfile_matches_software_engine(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    await tb.configure(file_mode=True)
    data = session_blocks(SESSION_MESSAGES, seed=11)
    n = len(block_ends(data))
    # Chunks of a size unrelated to the blocks, so blocks straddle chunk boundaries.
    chunk = 4093
    await tb.send([data[i : i + chunk] for i in range(0, len(data), chunk)])
    # The generator's traffic at line rate never backs up into the framer.
    assert tb.book_stalls == 0, f"book core held {tb.book_stalls} message beats"
    # The core's own count of that back-pressure, over AXI-Lite, agrees.
    assert (await tb.book_stats())["input_stalls"] == 0
    await tb.check_against_software(data, np.arange(1, n + 1, dtype=np.uint64), None)


@cocotb.test()
async def generated_session_as_moldudp64_matches_software_engine(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    data = session_blocks(SESSION_MESSAGES, seed=12)
    packets = Packetizer("VXTEST", max_payload=1400).add_blocks(data)
    # Pick the subscribed symbols from the session's own stock directory.
    probe = BookEngine(CAPACITY)
    probe.process(data, np.arange(1, len(block_ends(data)) + 1, dtype=np.uint64))
    names = [s for s in (probe.symbol(loc) for loc in range(CAPACITY.locates)) if s]
    symbols = names[1:4]
    await tb.configure(file_mode=False, symbols=symbols)

    # A duplicated packet (A/B line copy) and a lost one exercise the sequencing path.
    sent = packets[:3] + [packets[1]] + packets[3:5] + packets[6:]
    sw_data = bytearray()
    sw_seqs: list[int] = []
    msg_last_beat: list[int] = []
    beat_base = 0
    for dg in sent:
        seq = int.from_bytes(dg[10:18], "big")
        body = dg[HEADER_LEN:]
        ends = block_ends(body)
        sw_data += body
        sw_seqs += list(range(seq, seq + len(ends)))
        msg_last_beat += [beat_base + (HEADER_LEN + int(e) - 1) // 8 for e in ends]
        beat_base += (len(dg) + 7) // 8
    await tb.send(sent)
    # The generator's traffic at line rate never backs up into the framer.
    assert tb.book_stalls == 0, f"book core held {tb.book_stalls} message beats"
    # The core's own count of that back-pressure, over AXI-Lite, agrees.
    assert (await tb.book_stats())["input_stalls"] == 0
    seqs = np.array(sw_seqs, dtype=np.uint64)
    want = await tb.check_against_software(bytes(sw_data), seqs, symbols)
    assert want["flags"][-1] & bc.FLAG_SEQ_GAP

    # Latency over the first copy of each sequence number (duplicates emit nothing).
    first = {}
    for s, b in zip(sw_seqs, msg_last_beat, strict=True):
        first.setdefault(s, b)
    report = latency_report(
        tb, want, np.array(list(first), dtype=np.uint64), np.array(list(first.values()))
    )
    report.update(
        messages=len(sw_seqs),
        capacity=CAPACITY.as_dict(),
        command="python -m pytest hw/sim/vx_feed_top -q",
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "feed_top_latency.json").write_text(json.dumps(report, indent=2) + "\n")
    dut._log.info("latency: %s", report)


def test_vx_feed_top_replays_sessions_like_the_software_engine() -> None:
    from velocimex.hwtools import feed_top_sources, run_cocotb

    c = CAPACITY
    run_cocotb(
        "vx_feed_top",
        "vx_feed_top",
        feed_top_sources(),
        parameters={
            "LOCATE_BITS": c.locate_bits,
            "LEVELS": c.levels,
            "ORDER_SET_BITS": c.order_set_bits,
            "ORDER_WAYS": c.order_ways,
            "SUB_SYMBOLS": c.sub_symbols,
        },
    )


def test_vx_feed_top_lints_clean() -> None:
    from velocimex.hwtools import feed_top_sources, lint

    lint(feed_top_sources(), "vx_feed_top")
