"""cocotb testbench of vx_book_fifo: order, count and fall-through against a model, and
nothing out before the first reset."""

from __future__ import annotations

import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

ADDR_WIDTH = 3


@cocotb.test()
async def emits_nothing_before_its_first_reset(dut) -> None:
    """Registers start at zero on an FPGA and in Verilator: zero must mean empty, or a consumer
    listening before reset takes a word that was never pushed."""
    dut.in_valid.value = 0
    dut.out_pop.value = 0
    dut.rst.value = 0
    cocotb.start_soon(Clock(dut.clk, 4, unit="ns").start())
    for _ in range(8):
        await RisingEdge(dut.clk)
        await ReadOnly()
        assert not dut.out_valid.value
        assert int(dut.count.value) == 0


@cocotb.test()
async def random_pushes_and_pops_keep_order_and_count(dut) -> None:
    """Pushes whenever the caller's rule allows (count below the memory's size), pops at
    random: every word comes out once, in order; out_valid is set exactly when a word is
    held; count is the words behind the output register."""
    cocotb.start_soon(Clock(dut.clk, 4, unit="ns").start())
    dut.in_valid.value = 0
    dut.out_pop.value = 0
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    rng = random.Random(11)
    pushed: list[int] = []
    popped: list[int] = []
    for cycle in range(4000):
        # bursts of pushes and of pops, so the FIFO goes full and empty many times
        phase = (cycle // 40) % 3
        await FallingEdge(dut.clk)
        count = int(dut.count.value)
        valid = bool(dut.out_valid.value)
        push = count < (1 << ADDR_WIDTH) and rng.random() < (0.8, 0.5, 0.2)[phase]
        pop = valid and rng.random() < (0.2, 0.5, 0.9)[phase]
        word = rng.getrandbits(16)
        dut.in_valid.value = int(push)
        dut.in_data.value = word
        dut.out_pop.value = int(pop)
        if pop:
            popped.append(int(dut.out_data.value))
        if push:
            pushed.append(word)
        await RisingEdge(dut.clk)
        await ReadOnly()
        held = len(pushed) - len(popped)
        assert bool(dut.out_valid.value) == (held > 0), cycle
        assert int(dut.count.value) == held - int(held > 0), cycle
    assert popped == pushed[: len(popped)]
    assert len(popped) > 1000


@pytest.mark.parametrize("addr_width", [ADDR_WIDTH])
def test_vx_book_fifo_keeps_order_and_starts_empty(addr_width: int) -> None:
    from velocimex.hwtools import rtl_sources, run_cocotb

    run_cocotb(
        "vx_book_fifo",
        "vx_book_fifo",
        rtl_sources("vx_book_fifo"),
        parameters={"WIDTH": 16, "ADDR_WIDTH": addr_width},
        build_tag=f"a{addr_width}",
    )


def test_vx_book_fifo_lints_clean() -> None:
    from velocimex.hwtools import lint, rtl_sources

    lint(rtl_sources("vx_book_fifo"), "vx_book_fifo")
