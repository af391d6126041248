"""A nanosecond clock that tests set by hand (`clock.now = ...`) and pass as `clock_ns`."""

from __future__ import annotations


class ManualClock:
    def __init__(self, start_ns: int) -> None:
        self.now = start_ns

    def __call__(self) -> int:
        return self.now
