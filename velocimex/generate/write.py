"""Writing a generated session to a capture file (pcap of MoldUDP64, or BinaryFILE)."""

from __future__ import annotations

import os

from velocimex.generate.session import generate_session
from velocimex.wire.capture import CaptureStats, Format, write_capture


def write_session(
    path: str | os.PathLike[str],
    symbols: int,
    messages: int,
    seed: int,
    fmt: Format | None = None,
) -> CaptureStats:
    """Generate a session and write it; ``fmt`` defaults to the one the file name implies."""
    return write_capture(path, generate_session(symbols, messages, seed), fmt=fmt)
