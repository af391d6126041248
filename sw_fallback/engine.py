"""The software book engine: the numba kernel behind a small stateful API.

`BookEngine.process` is the streaming entry (one packet or one chunk at a time); the batch
replay in `velocimex.sw_fallback.replay` calls the same method on multi-megabyte chunks.
"""

from __future__ import annotations

import numpy as np
from velocimex.sw_fallback import kernel
from velocimex.sw_fallback.kernel import KERNEL_RECORD_DTYPE, BookState, symbol_text

from velocimex import book_contract as bc


class EngineInputError(ValueError):
    """Input the engine cannot frame: a block running past the end of its buffer."""


class BookEngine:
    """Top-of-book engine with the RTL's capacities; records per docs/book-engine.md."""

    def __init__(
        self, capacity: bc.Capacity = bc.DEFAULT_CAPACITY, symbols: list[str] | None = None
    ) -> None:
        self.capacity = capacity
        self.state = BookState(capacity, symbols)
        self._out = np.empty(0, dtype=KERNEL_RECORD_DTYPE)

    def process(self, data: bytes | np.ndarray, seqs: np.ndarray) -> np.ndarray:
        """Apply message blocks; return the records they produced (RECORD_DTYPE)."""
        return self.process_view(data, seqs).copy()

    def process_view(self, data: bytes | np.ndarray, seqs: np.ndarray) -> np.ndarray:
        """`process` without the copy: the records are a view of a buffer the next call
        reuses. For hot paths that serialise the records before calling again."""
        buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
        if seqs.dtype != np.uint64 or not seqs.flags.c_contiguous:
            seqs = np.ascontiguousarray(seqs, dtype=np.uint64)
        n_msgs = len(seqs)
        if self._out.shape[0] < 2 * n_msgs:
            self._out = np.empty(2 * n_msgs, dtype=KERNEL_RECORD_DTYPE)
        s = self.state
        n_rec, consumed = kernel.run_arena(buf, n_msgs, seqs, self._out, s.arena, s.layout, s.sub)
        if consumed != len(buf):
            raise EngineInputError(
                f"message block at byte {consumed} of a {len(buf)}-byte buffer is truncated "
                f"or the buffer holds more blocks than the {n_msgs} sequence numbers given"
            )
        return self._out[:n_rec].view(bc.RECORD_DTYPE)

    def counters(self) -> dict[str, int]:
        return {name: int(v) for name, v in zip(bc.COUNTER_NAMES, self.state.counters, strict=True)}

    def symbol(self, locate: int) -> str:
        return symbol_text(self.state.symbol[locate])

    def symbol_table(self) -> np.ndarray:
        """Raw 8-byte stock fields by locate (uint64, little-endian packed)."""
        return self.state.symbol
