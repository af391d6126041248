"""The measurements: one capture through the software engine (batch, per packet, per
message) and the hardware model (batch, with every record's cycle latency when the harness
offers it, and the cycle latency of single messages sent into an idle pipeline).

Every run produces the full record stream of the capture; `check_identical` compares them
byte for byte, so a latency figure never belongs to an engine that computed something else.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from velocimex import book_contract as bc
from velocimex.hwsw_bench.packets import Session
from velocimex.hwsw_bench.progress import Progress
from velocimex.wire import moldudp64

# The harness's drain stops after this many cycles without a record
# (DRAIN_IDLE_CYCLES in hw/model/vx_model_main.cpp); it is subtracted from each call's cycles.
HARNESS_DRAIN_IDLE_CYCLES = 64
AXIS_BYTES = 8  # vx_feed_top's input stream is 64 bits wide
HW_BATCH_MESSAGES = 50_000


class OutputMismatch(AssertionError):
    """Two engines (or two modes of one engine) produced different records."""


@dataclass
class EngineRun:
    name: str
    records: np.ndarray
    seconds: float  # wall time inside the engine calls
    messages: int
    latency_ns: np.ndarray = field(default_factory=lambda: np.zeros(0))
    latency_types: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    # Hardware runs: cycle latency per record (batch) or per sampled message (single-message
    # run, with the sampled messages' positions in the session).
    latency_cycles: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    sample_index: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    extra: dict[str, float | int] = field(default_factory=dict)

    @property
    def msgs_per_second(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bc.RECORD_DTYPE)


def _warm_software(session: Session) -> None:
    """Load the numba kernel before any timing (its compile cache is on disk)."""
    from velocimex.sw_fallback.engine import BookEngine

    BookEngine().process(session.block_bytes(0, 1), session.seqs[:1])


def sw_batch(session: Session, capacity: bc.Capacity) -> EngineRun:
    from velocimex.sw_fallback.engine import BookEngine

    _warm_software(session)
    engine = BookEngine(capacity)
    t0 = time.perf_counter()
    records = engine.process(session.data, session.seqs)
    seconds = time.perf_counter() - t0
    return EngineRun("software batch", records, seconds, session.messages)


def sw_per_packet(session: Session, capacity: bc.Capacity) -> EngineRun:
    """Each packet handed to the engine as it would arrive: bytes in -> records out."""
    from velocimex.sw_fallback.engine import BookEngine

    _warm_software(session)
    engine = BookEngine(capacity)
    clock = time.perf_counter_ns
    lat = np.empty(session.packets, np.int64)
    parts: list[np.ndarray] = []
    first = session.packet_first
    bar = Progress("software per packet", session.packets)
    for p in range(session.packets):
        a, b = int(first[p]), int(first[p + 1])
        buf, seqs = session.block_bytes(a, b), session.seqs[a:b]
        t0 = clock()
        out = engine.process_view(buf, seqs)
        lat[p] = clock() - t0
        if len(out):
            parts.append(out.copy())
        if p % 256 == 0:
            bar.advance(256)
    bar.close()
    run = EngineRun("software per packet", _concat(parts), lat.sum() / 1e9, session.messages)
    run.latency_ns = lat.astype(np.float64)
    run.extra["msgs_per_packet"] = session.messages / session.packets
    return run


def sw_per_message(session: Session, capacity: bc.Capacity) -> EngineRun:
    """Each message alone: the software engine's cost of one message, by type."""
    from velocimex.sw_fallback.engine import BookEngine

    _warm_software(session)
    engine = BookEngine(capacity)
    clock = time.perf_counter_ns
    n = session.messages
    lat = np.empty(n, np.int64)
    parts: list[np.ndarray] = []
    offsets, data, seqs = session.offsets, session.data, session.seqs
    bar = Progress("software per message", n)
    for i in range(n):
        buf, seq = data[offsets[i] : offsets[i + 1]], seqs[i : i + 1]
        t0 = clock()
        out = engine.process_view(buf, seq)
        lat[i] = clock() - t0
        if len(out):
            parts.append(out.copy())
        if i % 4096 == 0:
            bar.advance(4096)
    bar.close()
    run = EngineRun("software per message", _concat(parts), lat.sum() / 1e9, n)
    run.latency_ns = lat.astype(np.float64)
    run.latency_types = session.msg_types.copy()
    return run


def hw_batch(session: Session, capacity: bc.Capacity) -> EngineRun:
    """The whole capture through the model in large calls; the cycle count gives the
    hardware's throughput at a clock, the wall time the model's (simulation) speed."""
    from velocimex.hw_engine import HwBookEngine, build_model

    build_model(capacity)  # compiling is not part of any figure
    parts: list[np.ndarray] = []
    latencies: list[np.ndarray] = []
    # The harness's opt-in latency mode stamps every record under back-to-back load; a
    # model without it still gives throughput, and the single-message run gives latency.
    stamped = hasattr(HwBookEngine, "record_latencies")
    bar = Progress("hardware model batch", session.messages)
    engine = HwBookEngine(capacity, latency=True) if stamped else HwBookEngine(capacity)
    with engine:
        start_cycles = engine.framer_stats()["cycles"]
        # The counter read above costs cycles of its own; the one below is the same read.
        read_cycles = engine.framer_stats()["cycles"] - start_cycles
        start_cycles += read_cycles
        seconds = 0.0
        for a in range(0, session.messages, HW_BATCH_MESSAGES):
            b = min(a + HW_BATCH_MESSAGES, session.messages)
            t0 = time.perf_counter()
            parts.append(engine.process(session.block_bytes(a, b), session.seqs[a:b]))
            seconds += time.perf_counter() - t0
            if stamped:
                latencies.append(engine.record_latencies())
            bar.advance(b - a)
        cycles = engine.framer_stats()["cycles"] - start_cycles - read_cycles
    bar.close()
    run = EngineRun("hardware model batch", _concat(parts), seconds, session.messages)
    run.extra["cycles"] = int(cycles)
    if stamped:
        run.latency_cycles = np.concatenate(latencies).astype(np.int64)
        if len(run.latency_cycles) != len(run.records):
            raise OutputMismatch(
                f"latency mode stamped {len(run.latency_cycles)} of {len(run.records)} records"
            )
        run.latency_types = run.records["msg_type"].copy()
    return run


def _single_message_beats(block_len: int) -> int:
    return -(-(moldudp64.HEADER_LEN + block_len) // AXIS_BYTES)


def hw_latency(session: Session, capacity: bc.Capacity, samples: int) -> EngineRun:
    """Cycle latency of `samples` record-producing messages spread over the session.

    The session runs through the model in order (so the book is the real one); each sampled
    message goes alone in its own datagram into an idle pipeline, with the cycle counter read
    before and after. Cycles of that call = input beats + latency (last input beat -> record
    valid) + the harness's drain tail + the counter read itself (measured at the start), so
    the latency is what remains. Messages between samples go in large calls.
    """
    from velocimex.hw_engine import HwBookEngine, build_model

    build_model(capacity)
    first = _record_message_index(session, capacity)
    pick = first[np.linspace(0, len(first) - 1, min(samples, len(first))).astype(np.int64)]
    pick = np.unique(pick)
    lat = np.empty(len(pick), np.int64)
    parts: list[np.ndarray] = []
    bar = Progress("hardware model latency", len(pick))
    with HwBookEngine(capacity) as engine:
        c0 = engine.framer_stats()["cycles"]
        read_cycles = engine.framer_stats()["cycles"] - c0
        done = 0
        for k, i in enumerate(pick.tolist()):
            if i > done:
                parts.append(engine.process(session.block_bytes(done, i), session.seqs[done:i]))
            before = engine.framer_stats()["cycles"]
            out = engine.process(session.block_bytes(i, i + 1), session.seqs[i : i + 1])
            after = engine.framer_stats()["cycles"]
            if len(out) != 1:
                raise OutputMismatch(f"message seq {session.seqs[i]} gave {len(out)} records")
            parts.append(out)
            block_len = int(session.offsets[i + 1] - session.offsets[i])
            lat[k] = (
                after
                - before
                - read_cycles
                - HARNESS_DRAIN_IDLE_CYCLES
                - _single_message_beats(block_len)
            )
            done = i + 1
            bar.advance()
        if done < session.messages:
            parts.append(
                engine.process(session.block_bytes(done, session.messages), session.seqs[done:])
            )
    bar.close()
    run = EngineRun("hardware model latency", _concat(parts), 0.0, session.messages)
    run.latency_cycles = lat
    run.latency_types = session.msg_types[pick]
    run.sample_index = pick
    return run


def _record_message_index(session: Session, capacity: bc.Capacity) -> np.ndarray:
    """Index of every message that emits a record (from the software engine)."""
    from velocimex.sw_fallback.engine import BookEngine

    records = BookEngine(capacity).process(session.data, session.seqs)
    # Sequence numbers may repeat in a capture with duplicates; positions are found by
    # walking both streams in order.
    idx = np.empty(len(records), np.int64)
    j = 0
    seqs = session.seqs
    for r, seq in enumerate(records["seq"].tolist()):
        while seqs[j] != seq:
            j += 1
        idx[r] = j
        j += 1
    return idx


def check_identical(reference: EngineRun, others: list[EngineRun]) -> None:
    """Raise OutputMismatch naming the first differing record of any run."""
    want = reference.records.tobytes()
    for run in others:
        got = run.records.tobytes()
        if got == want:
            continue
        n = min(len(run.records), len(reference.records))
        rows_a = run.records[:n].view(np.uint8).reshape(n, bc.RECORD_BYTES)
        rows_b = reference.records[:n].view(np.uint8).reshape(n, bc.RECORD_BYTES)
        differ = np.flatnonzero((rows_a != rows_b).any(axis=1))
        at = int(differ[0]) if len(differ) else n
        raise OutputMismatch(
            f"{run.name} differs from {reference.name}: {len(run.records)} vs "
            f"{len(reference.records)} records, first difference at record {at}"
        )
