"""Book engines behind the feed handler: ``process(blocks, seqs) -> records``,
``symbol(locate)``, ``counters()``. A new session gets a new engine (the old book is void)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from velocimex import book_contract as bc


class StreamingEngine(Protocol):
    capacity: bc.Capacity

    def process(self, data: bytes, seqs: np.ndarray) -> np.ndarray: ...

    def symbol(self, locate: int) -> str: ...

    def counters(self) -> dict[str, int]: ...


class EngineUnavailable(RuntimeError):
    """The requested engine cannot run here; the message says why."""


def engine_factory(name: str, symbols: list[str] | None = None) -> Callable[[], StreamingEngine]:
    if name == "sw":
        from velocimex.sw_fallback.engine import BookEngine

        return lambda: BookEngine(symbols=symbols)
    if name == "hw":
        # The RTL model is usable here only once it offers the same streaming call.
        try:
            from velocimex import hw_engine  # type: ignore[attr-defined]
        except ImportError as exc:
            raise EngineUnavailable(
                "--engine hw: velocimex.hw_engine (the Verilated RTL model) is not in this "
                "build; use --engine sw"
            ) from exc
        cls = getattr(hw_engine, "StreamingHwEngine", None)
        if cls is None or not hasattr(cls, "process"):
            raise EngineUnavailable(
                "--engine hw: velocimex.hw_engine has no streaming engine "
                "(StreamingHwEngine.process(blocks, seqs)); use --engine sw"
            )
        return lambda: cls(symbols=symbols)
    raise EngineUnavailable(f"unknown engine {name!r} (sw or hw)")
