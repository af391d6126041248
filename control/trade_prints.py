"""Traded volume from a capture: the trades an ITCH feed prints, and intraday volume profiles.

Book-update records carry no volume, so volume-driven execution (VWAP profiles, POV) reads the
ITCH messages that report trades: E (order executed, at the resting order's price), C
(executed with price; only those marked printable, as NASDAQ asks, so a cross is not counted
twice) and P (trade of a non-displayed order). Crosses (Q) are auctions, not continuous
volume, and are left out. A message naming an order we never saw added still counts its
shares, with price 0 (a capture that starts mid-session).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from velocimex.domain import Trade
from velocimex.feed.trades import PRINTABLE, TRADE_TYPES
from velocimex.wire import itch

TRADE_DTYPE = np.dtype(
    [("timestamp", "<u8"), ("locate", "<u2"), ("shares", "<u4"), ("price", "<u4")]
)
_LEN = struct.Struct(">H")
# The live feed (velocimex.feed.trades) prints the same messages by the same rule.
_TRADE_TYPES = frozenset(TRADE_TYPES)
_BOOK_TYPES = frozenset(b"AFUDR")


def iter_messages(capture: str | Path) -> Iterator[bytes]:
    from velocimex.wire.capture import CaptureReader

    for chunk in CaptureReader(capture):
        data, pos, end = chunk.data, 0, len(chunk.data)
        while pos + 2 <= end:
            (length,) = _LEN.unpack_from(data, pos)
            yield data[pos + 2 : pos + 2 + length]
            pos += 2 + length


def load_trades(
    capture: str | Path, symbols: Iterable[str] | None = None
) -> tuple[np.ndarray, dict[int, str]]:
    """Every printed trade of ``capture`` (``TRADE_DTYPE``, feed order) and locate -> symbol."""
    wanted = None if symbols is None else set(symbols)
    names: dict[int, str] = {}
    prices: dict[int, int] = {}  # order reference -> limit price, for E messages
    rows: list[tuple[int, int, int, int]] = []
    for message in iter_messages(capture):
        if not message:
            continue
        kind = message[0]
        if kind not in _TRADE_TYPES and kind not in _BOOK_TYPES:
            continue
        try:
            msg = itch.decode(message)
        except itch.ItchError:
            continue  # counted by the book engine; volume just skips it
        if kind == ord("R"):
            names[msg["stock_locate"]] = str(msg["stock"]).strip()
        elif kind in (ord("A"), ord("F")):
            prices[msg["order_ref"]] = msg["price"]
        elif kind == ord("U"):
            prices.pop(msg["original_order_ref"], None)
            prices[msg["new_order_ref"]] = msg["price"]
        elif kind == ord("D"):
            prices.pop(msg["order_ref"], None)
        elif kind == ord("E"):
            price = prices.get(msg["order_ref"], 0)
            rows.append((msg["timestamp"], msg["stock_locate"], msg["executed_shares"], price))
        elif kind == ord("C"):
            if ord(msg["printable"]) == PRINTABLE:
                rows.append(
                    (
                        msg["timestamp"],
                        msg["stock_locate"],
                        msg["executed_shares"],
                        msg["execution_price"],
                    )
                )
        elif kind == ord("P"):
            rows.append((msg["timestamp"], msg["stock_locate"], msg["shares"], msg["price"]))
    trades = np.array(rows, dtype=TRADE_DTYPE)
    if wanted is not None:
        keep = [loc for loc, sym in names.items() if sym in wanted]
        trades = trades[np.isin(trades["locate"], keep)]
    return trades[trades["shares"] > 0], names


def trades_for(trades: np.ndarray, names: dict[int, str]) -> Iterator[Trade]:
    for row in trades:
        symbol = names.get(int(row["locate"]))
        if symbol:
            yield Trade(symbol, int(row["shares"]), int(row["price"]), int(row["timestamp"]))


def volume_profile(
    trades: np.ndarray, locate: int, start_ns: int, end_ns: int, buckets: int
) -> list[float]:
    """Each of ``buckets`` equal slices of [start, end)'s share of the traded volume of
    ``locate``: the profile a VWAP schedule follows. Flat when nothing traded."""
    if buckets < 1 or end_ns <= start_ns:
        raise ValueError("need at least one bucket and end after start")
    mine = trades[(trades["locate"] == locate)]
    ts = mine["timestamp"].astype(np.int64)
    inside = (ts >= start_ns) & (ts < end_ns)
    width = (end_ns - start_ns) / buckets
    index = np.minimum(((ts[inside] - start_ns) / width).astype(np.int64), buckets - 1)
    volume = np.bincount(
        index, weights=mine["shares"][inside].astype(np.float64), minlength=buckets
    )
    total = float(volume.sum())
    if total == 0:
        return [1.0 / buckets] * buckets
    return [float(v) / total for v in volume]
