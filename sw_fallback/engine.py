"""The software book engine: the numba kernel behind a small stateful API.

`BookEngine.process_packet` is the streaming entry (one MoldUDP64 payload per call);
`BookEngine.process` / `process_view` take back-to-back blocks with their sequence numbers, and
the batch replay in `velocimex.sw_fallback.replay` calls them on multi-megabyte chunks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numba.core import types
from velocimex.sw_fallback import kernel
from velocimex.sw_fallback.kernel import BookState, symbol_text

from velocimex import book_contract as bc
from velocimex.wire import moldudp64


@functools.cache
def _packet_entry() -> Callable[[bytes, np.ndarray], int]:
    """`kernel.run_packet`'s compiled entry point for (bytes, arena). Calling it skips the
    dispatcher's per-call typing of the arguments, a fixed cost on every packet; compiled or
    loaded on the first packet, so batch-only users never pay for it."""
    kernel.run_packet(b"", np.zeros(0, np.uint8))  # an empty payload is rejected at once
    signature = next(sig for sig in kernel.run_packet.signatures if isinstance(sig[0], types.Bytes))
    return kernel.run_packet.overloads[signature].entry_point


class EngineInputError(ValueError):
    """Input the engine cannot frame: a block running past the end of its buffer."""


class BookEngine:
    """Top-of-book engine with the RTL's capacities; records per docs/book-engine.md."""

    def __init__(
        self, capacity: bc.Capacity = bc.DEFAULT_CAPACITY, symbols: list[str] | None = None
    ) -> None:
        self.capacity = capacity
        self.state = BookState(capacity, symbols)
        self._out_words = np.empty(0, np.uint64)
        self._out = self._out_words.view(bc.RECORD_DTYPE)
        self._packet_records = self.state.packet_records
        self._run_packet: Callable[[bytes, np.ndarray], int] | None = None
        # Side output of the last `process`: one (message index << 32 | price) word per E
        # applied to a live order, for the feed's trade tap (`executions`).
        self._ex = np.empty(0, np.uint64)
        self._n_ex = 0

    def process(self, data: bytes | np.ndarray, seqs: np.ndarray) -> np.ndarray:
        """Apply message blocks; return the records they produced (RECORD_DTYPE)."""
        return self.process_view(data, seqs).copy()

    def process_view(self, data: bytes | np.ndarray, seqs: np.ndarray) -> np.ndarray:
        """`process` without the copy: the records are a view of a buffer the next call
        reuses. For hot paths that serialise the records before calling again."""
        if not isinstance(data, bytes):
            # One kernel specialisation for every buffer kind (bytearray, memoryview, arrays).
            data = bytes(memoryview(data).cast("B"))
        if seqs.dtype != np.uint64 or not seqs.flags.c_contiguous:
            seqs = np.ascontiguousarray(seqs, dtype=np.uint64)
        n_msgs = len(seqs)
        if len(self._out) < 2 * n_msgs:
            self._out_words = np.empty(2 * n_msgs * kernel.RECORD_WORDS, np.uint64)
            self._out = self._out_words.view(bc.RECORD_DTYPE)
        if len(self._ex) < n_msgs:
            self._ex = np.empty(2 * n_msgs, np.uint64)
        n_rec, consumed, self._n_ex = kernel.run_blocks(
            data, n_msgs, seqs, self._out_words, self._ex, self.state.arena
        )
        if consumed != len(data):
            raise EngineInputError(
                f"message block at byte {consumed} of a {len(data)}-byte buffer is truncated "
                f"or the buffer holds more blocks than the {n_msgs} sequence numbers given"
            )
        return self._out[:n_rec]

    def executions(self) -> np.ndarray:
        """The executed orders' prices of the last `process` / `process_view` call: uint64
        words ``(message index << 32) | price``, one per E message the engine applied to an
        order it holds, in message order; a view the next call reuses. An E for an order the
        engine does not hold (untracked instrument, never seen, lost to capacity) has none."""
        return self._ex[: self._n_ex]

    def process_packet(self, payload: bytes | bytearray | memoryview) -> np.ndarray:
        """One MoldUDP64 packet (the UDP payload, header included) in one kernel call: its
        messages numbered from the header's sequence number. Returns a view of the records
        that the next call reuses. A packet whose framing is inconsistent raises
        `MoldError` and changes nothing; heartbeats and end of session return no records."""
        if not isinstance(payload, bytes):
            payload = bytes(payload)
        run = self._run_packet
        if run is None:
            run = self._run_packet = _packet_entry()
        n_rec = run(payload, self.state.arena)
        if n_rec < 0:
            moldudp64.parse_packet(payload)  # raises MoldError naming the fault
            raise moldudp64.MoldError(f"inconsistent MoldUDP64 packet of {len(payload)} bytes")
        return self._packet_records[:n_rec]

    def counters(self) -> dict[str, int]:
        return {name: int(v) for name, v in zip(bc.COUNTER_NAMES, self.state.counters, strict=True)}

    def symbol(self, locate: int) -> str:
        return symbol_text(self.state.symbol[locate])

    def symbol_table(self) -> np.ndarray:
        """Raw 8-byte stock fields by locate (uint64, little-endian packed)."""
        return self.state.symbol[: self.capacity.locates]
