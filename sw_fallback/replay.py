"""Batch replay: a capture through the software engine, chunk by chunk, memory flat."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from queue import Queue

import numpy as np
from velocimex.sw_fallback.csv_export import CsvWriter, format_csv_rows
from velocimex.sw_fallback.engine import BookEngine

from velocimex import book_contract as bc
from velocimex.wire.capture import CaptureReader, MessageChunk


@dataclass
class ReplayResult:
    messages: int = 0
    records: int = 0
    engine_seconds: float = 0.0  # capture decoding + book kernel + record assembly
    jit_seconds: float = 0.0  # numba compile (first run) or compiled-cache load
    csv_seconds: float = 0.0
    counters: dict[str, int] = field(default_factory=dict)
    reader: dict[str, int] = field(default_factory=dict)

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.engine_seconds if self.engine_seconds else 0.0


def replay_capture(
    path: str | os.PathLike[str],
    out_csv: str | os.PathLike[str] | None = None,
    capacity: bc.Capacity = bc.DEFAULT_CAPACITY,
    symbols: list[str] | None = None,
    records_out: list[np.ndarray] | None = None,
) -> ReplayResult:
    """Run `path` (pcap or BinaryFILE, plain or gzipped) through a fresh engine.

    Writes the comparison CSV to `out_csv` if given; appends each chunk's records to
    `records_out` if given.
    """
    engine = BookEngine(capacity, symbols)
    reader = CaptureReader(path)
    result = ReplayResult()
    t_jit = time.perf_counter()
    # Same argument types as the chunks (read-only bytes), so this compiles or loads exactly
    # the specialisation the replay uses and the throughput below is the engine's own.
    engine.process_view(b"", np.zeros(0, np.uint64))
    if out_csv is not None:
        format_csv_rows(np.zeros(1, bc.RECORD_DTYPE), engine.symbol_table())
    result.jit_seconds = time.perf_counter() - t_jit
    sink = open(out_csv, "wb") if out_csv is not None else None  # noqa: SIM115
    try:
        writer = CsvWriter(sink) if sink is not None else None
        t0 = time.perf_counter()
        for chunk in _prefetched(reader):
            records = engine.process_view(chunk.data, chunk.seqs)
            result.messages += len(chunk.seqs)
            result.records += len(records)
            if records_out is not None:
                records_out.append(records.copy())
            if writer is not None:
                t1 = time.perf_counter()
                writer.write(records, engine.symbol_table())
                result.csv_seconds += time.perf_counter() - t1
        result.engine_seconds = time.perf_counter() - t0 - result.csv_seconds
    finally:
        if sink is not None:
            sink.close()
    result.counters = engine.counters()
    result.reader = {
        k: getattr(reader, k)
        for k in ("messages", "packets", "heartbeats", "end_of_session", "corrupt_packets")
    }
    return result


def _prefetched(chunks: Iterable[MessageChunk], depth: int = 2) -> Iterator[MessageChunk]:
    """Read the next chunks on a thread while the kernel (which releases the GIL) works on
    this one: file reading and decompression overlap the book instead of adding to it."""
    queue: Queue = Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                queue.put(chunk)
        except BaseException as exc:  # re-raised in the consumer, with its traceback
            queue.put(exc)
        queue.put(done)

    thread = threading.Thread(target=produce, name="capture-reader", daemon=True)
    thread.start()
    while (item := queue.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item
    thread.join()
