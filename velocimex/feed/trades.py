"""Trade prints from the feed: the ITCH messages that report market volume, as compact records.

Book-update records carry no volume, so the feed handler also publishes one *print record*
per trade the feed prints: E (order executed, at the resting order's price), C (executed with
price) when marked printable (NASDAQ's rule, so a cross is not counted twice) and P (trade of
a non-displayed order). Q crosses are auctions, not continuous volume, and are left out.

The prints come from the same delivered blocks, with the same sequence numbers, that the book
engine is given; field offsets are those of ``velocimex.wire.itch.SPECS``. An E names only
the resting order, so :class:`TradeTap` keeps a price index ``order_ref -> (price, shares)``
of the orders of tracked instruments, updated from A/F/U/D/X/E/C in feed order (one numba
pass over the batch, no per-message Python). Its own semantics follow the top-of-book
contract (DESIGN.md section 3): an order named but never seen gives a print with price 0 and
the ``PRINT_PRICE_UNKNOWN`` flag; shares beyond those remaining take the order to zero.

Print record (``PRINT_DTYPE``, 36 bytes, little-endian, packed)::

    seq u8 | timestamp u8 | match_number u8 | price u4 | shares u4 | locate u2 | kind u1 | flags u1
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types as nbt
from numba.typed import Dict

from velocimex.wire import blocks
from velocimex.wire.itch import SPECS

PRINT_DTYPE = np.dtype(
    [
        ("seq", "<u8"),
        ("timestamp", "<u8"),
        ("match_number", "<u8"),
        ("price", "<u4"),
        ("shares", "<u4"),
        ("locate", "<u2"),
        ("kind", "u1"),  # ASCII E, C or P: the message that printed the trade
        ("flags", "u1"),
    ]
)
PRINT_BYTES = PRINT_DTYPE.itemsize
assert PRINT_BYTES == 36

# Messages that print a trade, and C's printable marker (ITCH 5.0: "Y" printable).
TRADE_TYPES = b"ECP"
PRINTABLE = ord("Y")

PRINT_PRICE_UNKNOWN = 0x01  # an E for an order the index never saw (mid-session start, gap)
PRINT_SEQ_GAP = 0x02  # sticky per session: a sequence gap was seen before this print
PRINT_FLAG_NAMES = {PRINT_PRICE_UNKNOWN: "price_unknown", PRINT_SEQ_GAP: "seq_gap"}

# Orders indexed at most: beyond it an add is counted and not indexed (its E prints price 0).
MAX_INDEXED_ORDERS = 1 << 24
LOCATES = 1 << 16  # stock locate is a uint16 on the wire

_TYPE_AT = 2  # a block offset points at the 2-byte length prefix


def _off(msg: str, name: str) -> int:
    return _TYPE_AT + SPECS[msg].field(name).offset


_LOCATE = _off("A", "stock_locate")
_TS = _off("A", "timestamp")
_A_REF, _A_SHARES, _A_PRICE = _off("A", "order_ref"), _off("A", "shares"), _off("A", "price")
_F_REF, _F_SHARES, _F_PRICE = _off("F", "order_ref"), _off("F", "shares"), _off("F", "price")
_E_REF, _E_SHARES, _E_MATCH = (
    _off("E", "order_ref"),
    _off("E", "executed_shares"),
    _off("E", "match_number"),
)
_C_REF, _C_SHARES, _C_MATCH = (
    _off("C", "order_ref"),
    _off("C", "executed_shares"),
    _off("C", "match_number"),
)
_C_PRINTABLE, _C_PRICE = _off("C", "printable"), _off("C", "execution_price")
_X_REF, _X_SHARES = _off("X", "order_ref"), _off("X", "cancelled_shares")
_D_REF = _off("D", "order_ref")
_U_ORIG, _U_NEW = _off("U", "original_order_ref"), _off("U", "new_order_ref")
_U_SHARES, _U_PRICE = _off("U", "shares"), _off("U", "price")
_P_SHARES, _P_PRICE, _P_MATCH = _off("P", "shares"), _off("P", "price"), _off("P", "match_number")
_R_STOCK = _off("R", "stock")
_LEN = {t: SPECS[t].length for t in "AFECXDUPR"}
_LEN_A, _LEN_F, _LEN_E, _LEN_C = _LEN["A"], _LEN["F"], _LEN["E"], _LEN["C"]
_LEN_X, _LEN_D, _LEN_U, _LEN_P, _LEN_R = _LEN["X"], _LEN["D"], _LEN["U"], _LEN["P"], _LEN["R"]

# state slots of the kernel (int64 array)
_S_LAST_SEQ, _S_GAP, _S_UNKNOWN, _S_INDEX_FULL, _S_BAD_LENGTH = range(5)
_STATE_SLOTS = 5


@numba.njit(cache=True, inline="always")
def _be(d, p, n):
    v = np.int64(0)
    for i in range(n):
        v = (v << 8) | np.int64(d[p + i])
    return v


@numba.njit(cache=True, inline="always")
def _ref(d, p):
    # Order references are uint64 on the wire; the index keys them by their int64 bit pattern.
    v = np.uint64(0)
    for i in range(8):
        v = (v << np.uint64(8)) | np.uint64(d[p + i])
    return np.int64(v)


@numba.njit(cache=True)
def _reduce(index, ref, shares, state):
    """Take ``shares`` off an indexed order; returns its price, or -1 if it is unknown."""
    v = index.get(ref, np.int64(-1))
    if v < 0:
        state[_S_UNKNOWN] += 1
        return np.int64(-1)
    left = (v & 0xFFFFFFFF) - shares
    if left <= 0:
        del index[ref]
    else:
        index[ref] = (v & ~np.int64(0xFFFFFFFF)) | left
    return v >> 32


@numba.njit(cache=True)
def _scan(data, offsets, seqs, index, tracked, wanted, state, out64, out32, out16):
    n_out = 0
    for i in range(len(offsets)):
        b = offsets[i]
        length = (np.int64(data[b]) << 8) | np.int64(data[b + 1])
        kind = data[b + _TYPE_AT]
        seq = np.int64(seqs[i])
        if state[_S_LAST_SEQ] != 0 and seq != state[_S_LAST_SEQ] + 1:
            state[_S_GAP] = 1
        state[_S_LAST_SEQ] = seq
        if kind == 82:  # R: which locates are tracked, when symbols were chosen
            if length != _LEN_R:
                continue
            if len(wanted):
                key = np.uint64(_ref(data, b + _R_STOCK))
                loc = _be(data, b + _LOCATE, 2)
                hit = False
                for w in wanted:
                    if w == key:
                        hit = True
                tracked[loc] = hit
            continue
        if kind not in (65, 70, 69, 67, 88, 68, 85, 80):  # A F E C X D U P
            continue
        loc = _be(data, b + _LOCATE, 2)
        if kind == 65 or kind == 70:
            if length != (_LEN_A if kind == 65 else _LEN_F):
                state[_S_BAD_LENGTH] += 1
                continue
            if not tracked[loc]:
                continue
            ref = _ref(data, b + _A_REF)  # A and F share the layout up to the price
            shares = _be(data, b + _A_SHARES, 4)
            price = _be(data, b + _A_PRICE, 4)
            if shares == 0 or price == 0:
                continue  # adds nothing to the book, so nothing can execute against it
            if ref not in index and len(index) >= MAX_INDEXED_ORDERS:
                state[_S_INDEX_FULL] += 1
                continue
            index[ref] = (price << 32) | shares
        elif kind == 68:
            if length != _LEN_D:
                state[_S_BAD_LENGTH] += 1
                continue
            ref = _ref(data, b + _D_REF)
            if ref in index:
                del index[ref]
        elif kind == 88:
            if length != _LEN_X:
                state[_S_BAD_LENGTH] += 1
                continue
            ref = _ref(data, b + _X_REF)
            if ref in index:
                _reduce(index, ref, _be(data, b + _X_SHARES, 4), state)
        elif kind == 85:
            if length != _LEN_U:
                state[_S_BAD_LENGTH] += 1
                continue
            orig = _ref(data, b + _U_ORIG)
            if orig in index:
                del index[orig]
                shares = _be(data, b + _U_SHARES, 4)
                price = _be(data, b + _U_PRICE, 4)
                if shares != 0 and price != 0:
                    index[_ref(data, b + _U_NEW)] = (price << 32) | shares
        else:  # E C P: a print
            if kind == 69:
                if length != _LEN_E:
                    state[_S_BAD_LENGTH] += 1
                    continue
                if not tracked[loc]:
                    continue
                shares = _be(data, b + _E_SHARES, 4)
                match = _ref(data, b + _E_MATCH)
                price = _reduce(index, _ref(data, b + _E_REF), shares, state)
            elif kind == 67:
                if length != _LEN_C:
                    state[_S_BAD_LENGTH] += 1
                    continue
                if not tracked[loc]:
                    continue
                shares = _be(data, b + _C_SHARES, 4)
                _reduce(index, _ref(data, b + _C_REF), shares, state)
                if data[b + _C_PRINTABLE] != PRINTABLE:
                    continue
                match = _ref(data, b + _C_MATCH)
                price = _be(data, b + _C_PRICE, 4)
            else:
                if length != _LEN_P:
                    state[_S_BAD_LENGTH] += 1
                    continue
                if not tracked[loc]:
                    continue
                shares = _be(data, b + _P_SHARES, 4)
                match = _ref(data, b + _P_MATCH)
                price = _be(data, b + _P_PRICE, 4)
            if shares == 0:
                continue
            flags = 0
            if price < 0:
                price = 0
                flags |= PRINT_PRICE_UNKNOWN
            if state[_S_GAP]:
                flags |= PRINT_SEQ_GAP
            out64[n_out, 0] = seq
            out64[n_out, 1] = _be(data, b + _TS, 6)
            out64[n_out, 2] = match
            out32[n_out, 0] = price
            out32[n_out, 1] = shares
            out16[n_out, 0] = loc
            out16[n_out, 1] = (flags << 8) | kind
            n_out += 1
    return n_out


def _symbol_key(symbol: str) -> int:
    # The R message's 8-byte stock field, space padded, read as one big-endian integer.
    return int.from_bytes(symbol.encode("latin-1").ljust(8, b" ")[:8], "big")


class TradeTap:
    """Trade prints of the delivered message stream, for one session (a new session gets a
    new tap, as it gets a new engine)."""

    def __init__(self, symbols: list[str] | None = None) -> None:
        self.index = Dict.empty(key_type=nbt.int64, value_type=nbt.int64)
        self.wanted = np.array(sorted({_symbol_key(s) for s in symbols or ()}), dtype=np.uint64)
        # With symbols chosen, a locate is tracked once its directory (R) message names one.
        self.tracked = np.full(LOCATES, not len(self.wanted), dtype=np.bool_)
        self.state = np.zeros(_STATE_SLOTS, dtype=np.int64)
        self.prints = 0

    def process(self, data: bytes, seqs: np.ndarray) -> np.ndarray:
        """The prints of these blocks (``PRINT_DTYPE``, feed order)."""
        buf = np.frombuffer(data, dtype=np.uint8)
        offsets, _, _ = blocks.block_offsets(buf)
        n = min(len(offsets), len(seqs))
        offsets = offsets[:n]
        out64 = np.empty((n, 3), dtype=np.uint64)
        out32 = np.empty((n, 2), dtype=np.uint32)
        out16 = np.empty((n, 2), dtype=np.uint16)
        count = _scan(
            buf, offsets, seqs, self.index, self.tracked, self.wanted, self.state,
            out64, out32, out16,
        )  # fmt: skip
        prints = np.empty(count, dtype=PRINT_DTYPE)
        if count:
            prints["seq"] = out64[:count, 0]
            prints["timestamp"] = out64[:count, 1]
            prints["match_number"] = out64[:count, 2]
            prints["price"] = out32[:count, 0]
            prints["shares"] = out32[:count, 1]
            prints["locate"] = out16[:count, 0]
            prints["kind"] = out16[:count, 1] & 0xFF
            prints["flags"] = out16[:count, 1] >> 8
            self.prints += count
        return prints

    def counters(self) -> dict[str, int]:
        return {
            "trade_prints": self.prints,
            "executions_unknown_order": int(self.state[_S_UNKNOWN]),
            "orders_indexed": len(self.index),
            "price_index_full": int(self.state[_S_INDEX_FULL]),
            "bad_length": int(self.state[_S_BAD_LENGTH]),
        }
