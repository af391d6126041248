"""The Verilator model of vx_feed_top against the software engine: identical record bytes and
counters on generated sessions, at the default capacity and at a tiny one where every
capacity limit is hit."""

from __future__ import annotations

import numpy as np
import pytest
from velocimex.sw_fallback.engine import BookEngine
from velocimex.sw_fallback.replay import replay_capture

from velocimex import book_contract as bc
from velocimex.generate import generate_session, write_session
from velocimex.hw_engine import HwBookEngine, HwInputError, run_hw_replay
from velocimex.wire import blocks

# Small enough that a generated session overflows order sets and level arrays.
TINY = bc.Capacity(locate_bits=4, levels=4, order_set_bits=6, order_ways=2, sub_symbols=4)


def session(symbols: int, messages: int, seed: int) -> tuple[bytes, np.ndarray]:
    data = b"".join(generate_session(symbols, messages, seed))
    n = len(blocks.block_offsets(blocks.as_u8(data))[0])
    return data, np.arange(1, n + 1, dtype=np.uint64)


def assert_same_records(got: np.ndarray, want: np.ndarray) -> None:
    assert len(got) == len(want)
    if got.tobytes() != want.tobytes():
        k = next(i for i in range(len(want)) if got[i].tobytes() != want[i].tobytes())
        raise AssertionError(f"record {k} differs: hw {got[k]} sw {want[k]}")


def test_hw_model_equals_software_engine_on_300k_generated_messages() -> None:
    data, seqs = session(symbols=40, messages=300_000, seed=21)
    sw = BookEngine(bc.DEFAULT_CAPACITY)
    want = sw.process(data, seqs)
    with HwBookEngine(bc.DEFAULT_CAPACITY) as hw:
        got = hw.process(data, seqs)
        assert_same_records(got, want)
        assert hw.counters() == sw.counters()
        assert hw.framer_stats()["messages"] == len(seqs)
    assert len(want) > 10_000


def test_hw_model_equals_software_engine_when_capacity_is_exceeded() -> None:
    data, seqs = session(symbols=20, messages=60_000, seed=22)
    sw = BookEngine(TINY)
    want = sw.process(data, seqs)
    with HwBookEngine(TINY) as hw:
        got = hw.process(data, seqs)
        assert_same_records(got, want)
        counters = hw.counters()
    assert counters == sw.counters()
    # The point of this test: the limits really were hit, and flagged.
    assert counters["orders_lost"] > 0
    assert counters["level_evictions"] > 0
    assert counters["locate_out_of_range"] > 0
    assert np.any(got["flags"] & bc.FLAG_ORDERS_LOST)
    assert np.any(got["flags"] & bc.FLAG_DEPTH_TRUNCATED)


def test_hw_model_keeps_its_book_across_calls_and_sequences_gaps_and_duplicates() -> None:
    data, seqs = session(symbols=8, messages=20_000, seed=23)
    offsets = blocks.block_offsets(blocks.as_u8(data))[0]
    # Renumber: a jump (gap) at message 5000 and a replay of 100 messages at 12000.
    seqs = seqs.copy()
    seqs[5000:] += 7
    cut, dup = int(offsets[12_000]), int(offsets[11_900])
    data2 = data[dup:cut] + data[cut:]
    seqs2 = np.concatenate([seqs[11_900:12_000], seqs[12_000:]])
    symbols = None
    sw = BookEngine(bc.SYNTH_CAPACITY, symbols)
    with HwBookEngine(bc.SYNTH_CAPACITY, symbols) as hw:
        for part, part_seqs in ((data[:cut], seqs[:12_000]), (data2, seqs2)):
            assert_same_records(hw.process(part, part_seqs), sw.process(part, part_seqs))
        counters = hw.counters()
    assert counters == sw.counters()
    assert counters["seq_gaps"] == 7
    assert counters["seq_duplicates"] == 100


def test_hw_model_subscription_tracks_only_named_symbols() -> None:
    data, seqs = session(symbols=8, messages=20_000, seed=24)
    probe = BookEngine(bc.SYNTH_CAPACITY)
    probe.process(data, seqs)
    names = [s for s in (probe.symbol(i) for i in range(bc.SYNTH_CAPACITY.locates)) if s]
    symbols = names[2:5]
    sw = BookEngine(bc.SYNTH_CAPACITY, symbols)
    want = sw.process(data, seqs)
    with HwBookEngine(bc.SYNTH_CAPACITY, symbols) as hw:
        assert_same_records(hw.process(data, seqs), want)
        assert hw.counters() == sw.counters()
    assert len(set(want["locate"].tolist())) == len(symbols)


def test_hw_replay_of_a_pcap_equals_software_replay(tmp_path) -> None:
    capture = tmp_path / "session.pcap"
    write_session(capture, symbols=8, messages=30_000, seed=25)
    out = tmp_path / "hw.records"
    counters = run_hw_replay(capture, out, bc.SYNTH_CAPACITY)
    chunks: list[np.ndarray] = []
    result = replay_capture(capture, None, bc.SYNTH_CAPACITY, records_out=chunks)
    want = np.concatenate(chunks)
    assert out.read_bytes() == want.tobytes()
    assert counters == result.counters


def test_hw_model_rejects_truncated_blocks_and_seq_count_mismatch() -> None:
    data, seqs = session(symbols=4, messages=500, seed=26)
    with HwBookEngine(bc.SYNTH_CAPACITY) as hw:
        with pytest.raises(HwInputError, match="truncated"):
            hw.process(data[:-3], seqs)
        with pytest.raises(HwInputError, match="sequence numbers"):
            hw.process(data, seqs[:-1])
        # The engine is still usable after refusing bad input.
        assert len(hw.process(data, seqs)) == len(BookEngine(bc.SYNTH_CAPACITY).process(data, seqs))
