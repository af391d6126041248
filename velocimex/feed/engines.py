"""Book engines behind the feed handler: ``process(blocks, seqs) -> records``,
``symbol(locate)``, ``counters()``. A new session gets a new engine (the old book is void).

``sw`` is the numba fallback (``velocimex.sw_fallback.engine.BookEngine``); ``hw`` is the
Verilated RTL (``velocimex.hw_engine.HwBookEngine``), which keeps its book between calls but
has no symbol table, so :class:`DirectoryEngine` learns the names from the Stock Directory
(R) messages going through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from velocimex import book_contract as bc
from velocimex.wire import blocks
from velocimex.wire.itch import SPECS

_R = SPECS["R"]
_R_LOCATE = _R.field("stock_locate").offset
_R_STOCK = _R.field("stock").offset
# Block offsets point at the 2-byte length prefix; fields follow it.
_TYPE_AT = 2


class StreamingEngine(Protocol):
    capacity: bc.Capacity

    def process(self, data: bytes, seqs: np.ndarray) -> np.ndarray: ...

    def symbol(self, locate: int) -> str: ...

    def counters(self) -> dict[str, int]: ...


class EngineUnavailable(RuntimeError):
    """The requested engine cannot run here; the message says why."""


class DirectoryEngine:
    """Adds ``symbol(locate)`` to an engine that has none, from the R messages it is fed."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.capacity = engine.capacity
        self._names: dict[int, str] = {}

    def process(self, data: bytes, seqs: np.ndarray) -> np.ndarray:
        buf = np.frombuffer(data, dtype=np.uint8)
        offsets, end, _ = blocks.block_offsets(buf)
        offsets = offsets[offsets + _TYPE_AT < len(buf)]
        directory = offsets[buf[offsets + _TYPE_AT] == ord("R")]
        for off in directory.tolist():
            length = int.from_bytes(data[off : off + 2], "big")
            if length != _R.length:
                continue  # the engine counts it as bad_length; no name from it
            body = off + _TYPE_AT
            locate = int.from_bytes(data[body + _R_LOCATE : body + _R_LOCATE + 2], "big")
            name = data[body + _R_STOCK : body + _R_STOCK + 8].decode("latin-1").rstrip(" \0")
            self._names[locate] = name
        return self.engine.process(data, seqs)

    def symbol(self, locate: int) -> str:
        return self._names.get(locate, "")

    def counters(self) -> dict[str, int]:
        return self.engine.counters()

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close is not None:
            close()


def engine_factory(name: str, symbols: list[str] | None = None) -> Callable[[], StreamingEngine]:
    if name == "sw":
        from velocimex.sw_fallback.engine import BookEngine

        return lambda: BookEngine(symbols=symbols)
    if name == "hw":
        try:
            from velocimex.hw_engine import HwBookEngine
        except ImportError as exc:
            raise EngineUnavailable(
                f"--engine hw: the Verilated RTL model cannot be loaded ({exc}); use --engine sw"
            ) from exc

        def make() -> StreamingEngine:
            try:
                return DirectoryEngine(HwBookEngine(symbols=symbols))
            except Exception as exc:  # build or start failure of the model
                raise EngineUnavailable(
                    f"--engine hw: the Verilated RTL model did not start: {exc}"
                ) from exc

        return make
    raise EngineUnavailable(f"unknown engine {name!r} (sw or hw)")
