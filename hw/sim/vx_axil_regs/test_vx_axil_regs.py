"""cocotb testbench of vx_axil_regs: the register map of docs/hardware.md through an AXI-Lite
master."""

from __future__ import annotations

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster

from velocimex import book_contract as bc
from velocimex.hw_engine import BOOK_STAT_NAMES, FRAMER_STAT_NAMES

REG_ID = 0x000
REG_VERSION = 0x004
REG_CAP0 = 0x008
REG_CAP1 = 0x00C
REG_CTRL = 0x010
REG_SUB_COUNT = 0x018
REG_SUB_ADDR = 0x020
REG_SUB_SYM_LO = 0x024
REG_SUB_SYM_HI = 0x028
REG_RECORDS_LO = 0x030
REG_RECORDS_HI = 0x034
REG_COUNTER_BASE = 0x100
REG_FRAMER_BASE = 0x200
# The framer's statistics then the book core's, as vx_feed_top wires them.
NUM_FRAMER_STATS = len(FRAMER_STAT_NAMES) + len(BOOK_STAT_NAMES)

CAPACITY = bc.SYNTH_CAPACITY


class TB:
    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 4, unit="ns").start())
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.sub_writes: list[tuple[int, bytes]] = []
        self.soft_resets = 0
        dut.stat_counters.value = 0
        dut.stat_framer.value = 0
        dut.stat_records_out.value = 0
        cocotb.start_soon(self._watch_pulses())

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    async def _watch_pulses(self) -> None:
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            if dut.cfg_sub_wr_en.value:
                symbol = int(dut.cfg_sub_wr_symbol.value).to_bytes(8, "little")
                self.sub_writes.append((int(dut.cfg_sub_wr_addr.value), symbol))
            if dut.cfg_soft_reset.value:
                self.soft_resets += 1

    async def read(self, addr: int) -> int:
        return await self.axil.read_dword(addr)

    async def write(self, addr: int, value: int) -> None:
        await self.axil.write_dword(addr, value)


@cocotb.test()
async def identification_and_capacities_read_back(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    assert await tb.read(REG_ID) == 0x56584D58
    assert await tb.read(REG_VERSION) == 0x00010000
    cap0 = await tb.read(REG_CAP0)
    assert cap0 == (
        CAPACITY.locate_bits
        | CAPACITY.levels << 8
        | CAPACITY.order_set_bits << 16
        | CAPACITY.order_ways << 24
    )
    cap1 = await tb.read(REG_CAP1)
    assert cap1 == CAPACITY.sub_symbols | bc.NUM_COUNTERS << 8 | NUM_FRAMER_STATS << 16


@cocotb.test()
async def control_bits_reset_to_enabled_mold_mode_and_are_writable(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    assert await tb.read(REG_CTRL) == 0b01
    assert (int(dut.cfg_enable.value), int(dut.cfg_file_mode.value)) == (1, 0)
    await tb.write(REG_CTRL, 0b10)
    assert await tb.read(REG_CTRL) == 0b10
    assert (int(dut.cfg_enable.value), int(dut.cfg_file_mode.value)) == (0, 1)
    assert tb.soft_resets == 0
    await tb.write(REG_CTRL, 0b111)
    await ClockCycles(dut.clk, 2)
    assert tb.soft_resets == 1, "soft reset is a single-cycle pulse"
    assert await tb.read(REG_CTRL) == 0b11


@cocotb.test()
async def subscription_symbol_is_written_once_when_its_high_half_lands(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    symbols = [b"AAPL    ", b"MSFT    ", b"ZVZZT   "]
    for addr, sym in enumerate(symbols):
        await tb.write(REG_SUB_ADDR, addr)
        await tb.write(REG_SUB_SYM_LO, int.from_bytes(sym[:4], "little"))
        await tb.write(REG_SUB_SYM_HI, int.from_bytes(sym[4:], "little"))
    await tb.write(REG_SUB_COUNT, len(symbols))
    await ClockCycles(dut.clk, 2)
    assert tb.sub_writes == list(enumerate(symbols))
    assert int(dut.cfg_sub_count.value) == 3
    assert await tb.read(REG_SUB_COUNT) == 3
    await tb.write(REG_SUB_COUNT, 1000)  # clamped to the table size
    assert await tb.read(REG_SUB_COUNT) == CAPACITY.sub_symbols


@cocotb.test()
async def counters_read_as_two_words_without_tearing(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    values = [(0x1111_0000_0000_0000 * (i + 1) + 0xFFFF_FFF0 + i) % 2**64 for i in range(17)]
    dut.stat_counters.value = sum(v << (64 * i) for i, v in enumerate(values))
    framer = [1000 + i for i in range(NUM_FRAMER_STATS)]
    dut.stat_framer.value = sum(v << (32 * i) for i, v in enumerate(framer))
    dut.stat_records_out.value = 0x0000_0002_FFFF_FFFF
    await RisingEdge(dut.clk)
    for i, v in enumerate(values):
        lo = await tb.read(REG_COUNTER_BASE + 8 * i)
        hi = await tb.read(REG_COUNTER_BASE + 8 * i + 4)
        assert hi << 32 | lo == v, bc.COUNTER_NAMES[i]
    for i, v in enumerate(framer):
        assert await tb.read(REG_FRAMER_BASE + 4 * i) == v
    assert await tb.read(REG_FRAMER_BASE + 4 * NUM_FRAMER_STATS) == 0
    # The counter carries between the two reads: the high word is the latched one.
    lo = await tb.read(REG_RECORDS_LO)
    dut.stat_records_out.value = 0x0000_0003_0000_0000
    await RisingEdge(dut.clk)
    hi = await tb.read(REG_RECORDS_HI)
    assert (hi, lo) == (2, 0xFFFF_FFFF)


@cocotb.test()
async def unmapped_addresses_read_zero_and_ignore_writes(dut) -> None:
    tb = TB(dut)
    await tb.reset()
    await tb.write(0x7F0, 0xDEADBEEF)
    assert await tb.read(0x7F0) == 0
    assert await tb.read(REG_CTRL) == 0b01
    assert tb.sub_writes == []


def test_vx_axil_regs_register_map() -> None:
    from velocimex.hwtools import rtl_sources, run_cocotb

    c = CAPACITY
    run_cocotb(
        "vx_axil_regs",
        "vx_axil_regs",
        rtl_sources("vx_axil_regs"),
        parameters={
            "LOCATE_BITS": c.locate_bits,
            "LEVELS": c.levels,
            "ORDER_SET_BITS": c.order_set_bits,
            "ORDER_WAYS": c.order_ways,
            "SUB_SYMBOLS": c.sub_symbols,
            "NUM_COUNTERS": bc.NUM_COUNTERS,
            "NUM_FRAMER_STATS": NUM_FRAMER_STATS,
        },
    )


def test_vx_axil_regs_lints_clean() -> None:
    from velocimex.hwtools import lint, rtl_sources

    lint(rtl_sources("vx_axil_regs"), "vx_axil_regs")
