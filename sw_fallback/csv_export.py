"""The comparison CSV of DESIGN.md section 3, formatted in numba.

Python's per-row formatting runs at about a million rows per second; a replay emits tens of
millions, so the digits are written straight into a byte buffer.
"""

from __future__ import annotations

from typing import BinaryIO

import numba as nb
import numpy as np

from velocimex import book_contract as bc
from velocimex.wire import blocks, itch

_MAX_ROW = 20 + 1 + 15 + 1 + 5 + 1 + 8 + 1 + 4 * 11  # widest possible row incl. newline


@nb.njit(inline="always", cache=True)
def _put_uint(buf, p, v):
    # Count the digits first and write them backwards in place: no scratch allocation.
    # Constants typed uint64: numba promotes uint64 (op) int64 to float64.
    ten = np.uint64(10)
    n = 1
    t = v
    while t >= ten:
        t //= ten
        n += 1
    for i in range(n - 1, -1, -1):
        buf[p + i] = np.uint8(48) + np.uint8(v % ten)
        v //= ten
    return p + n


@nb.njit(cache=True)
def _format_rows(seq, ts, locate, bid_px, bid_qty, ask_px, ask_qty, symbols, buf):
    p = 0
    for i in range(seq.shape[0]):
        p = _put_uint(buf, p, np.uint64(seq[i]))
        buf[p] = 44
        p = _put_uint(buf, p + 1, np.uint64(ts[i]))
        buf[p] = 44
        loc = locate[i]
        p = _put_uint(buf, p + 1, np.uint64(loc))
        buf[p] = 44
        p += 1
        key = symbols[loc]
        # Stock fields are space padded on the wire; the CSV carries them trimmed.
        n = 8
        while n > 0 and (((key >> np.uint64(8 * (n - 1))) & np.uint64(0xFF)) in (32, 0)):
            n -= 1
        for j in range(n):
            buf[p + j] = np.uint8((key >> np.uint64(8 * j)) & np.uint64(0xFF))
        p += n
        buf[p] = 44
        p = _put_uint(buf, p + 1, np.uint64(bid_px[i]))
        buf[p] = 44
        p = _put_uint(buf, p + 1, np.uint64(bid_qty[i]))
        buf[p] = 44
        p = _put_uint(buf, p + 1, np.uint64(ask_px[i]))
        buf[p] = 44
        p = _put_uint(buf, p + 1, np.uint64(ask_qty[i]))
        buf[p] = 10
        p += 1
    return p


def format_csv_rows(records: np.ndarray, symbols: np.ndarray) -> bytes:
    """CSV rows (no header) for `records` (RECORD_DTYPE); `symbols` is the engine's table."""
    if len(records) == 0:
        return b""
    buf = np.empty(len(records) * _MAX_ROW, np.uint8)
    n = _format_rows(
        records["seq"],
        records["timestamp"],
        records["locate"],
        records["bid_px"],
        records["bid_qty"],
        records["ask_px"],
        records["ask_qty"],
        symbols,
        buf,
    )
    return buf[:n].tobytes()


class CsvWriter:
    """Streams records to the comparison CSV."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        stream.write(bc.CSV_HEADER.encode() + b"\n")

    def write(self, records: np.ndarray, symbols: np.ndarray) -> None:
        self.stream.write(format_csv_rows(records, symbols))


_R = ord("R")
_R_LEN = itch.SPECS["R"].length
_R_STOCK = itch.SPECS["R"].field("stock").offset


def learn_directory(data: bytes | np.ndarray, symbols: np.ndarray) -> None:
    """Record the stock of every Stock Directory (R) message in `data` (message blocks) in
    `symbols` (uint64 by locate, the software engine's layout), for engines that do not keep
    names themselves (the hardware model)."""
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, dtype=np.uint8)
    offsets, _, _ = blocks.block_offsets(buf)
    if len(offsets) == 0:
        return
    lengths = (buf[offsets].astype(np.int64) << 8) | buf[offsets + 1]
    r = offsets[(buf[offsets + 2] == _R) & (lengths == _R_LEN)] + 2
    if len(r) == 0:
        return
    loc = (buf[r + 1].astype(np.int64) << 8) | buf[r + 2]
    keep = loc < len(symbols)
    r, loc = r[keep], loc[keep]
    stock = buf[r[:, None] + _R_STOCK + np.arange(8)].copy().view("<u8").ravel()
    symbols[loc] = stock  # in message order, so a later R for the same locate wins
