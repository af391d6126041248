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

# Orders indexed at most (the table holds twice as many slots): beyond it the index is cleared,
# the forgotten orders counted, and their executions print price 0 with PRINT_PRICE_UNKNOWN.
MAX_INDEXED_ORDERS = 1 << 22
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
_S_LAST_SEQ, _S_GAP, _S_UNKNOWN, _S_INDEX_FULL, _S_BAD_LENGTH, _S_ORDERS = range(6)
_STATE_SLOTS = 6
_FIRST_SLOTS = 1 << 12  # the price index doubles from here while below 1/2 full


@numba.njit(cache=True, inline="always")
def _be(d, p, n):
    v = np.int64(0)
    for i in range(n):
        v = (v << 8) | np.int64(d[p + i])
    return v


@numba.njit(cache=True, inline="always")
def _ref(d, p):
    v = np.uint64(0)
    for i in range(8):
        v = (v << np.uint64(8)) | np.uint64(d[p + i])
    return v


@numba.njit(cache=True, inline="always")
def _slot(ref, mask):
    # Fibonacci hashing: references are near-dense, so spread them over the whole table.
    return np.int64((ref * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(20)) & mask


@numba.njit(cache=True)
def _lookup(keys, used, ref):
    mask = len(keys) - 1
    i = _slot(ref, mask)
    while used[i]:
        if keys[i] == ref:
            return i
        i = (i + 1) & mask
    return -1


@numba.njit(cache=True)
def _insert(keys, vals, used, ref, value, state):
    mask = len(keys) - 1
    i = _slot(ref, mask)
    while used[i]:
        if keys[i] == ref:
            vals[i] = value
            return
        i = (i + 1) & mask
    keys[i] = ref
    vals[i] = value
    used[i] = 1
    state[_S_ORDERS] += 1


@numba.njit(cache=True)
def _remove(keys, vals, used, i, state):
    # Linear probing without tombstones: shift back the entries that probed past the hole.
    mask = len(keys) - 1
    used[i] = 0
    state[_S_ORDERS] -= 1
    j = i
    while True:
        j = (j + 1) & mask
        if not used[j]:
            return
        home = _slot(keys[j], mask)
        # Move j into the hole unless its home lies cyclically in (i, j].
        if (j > i and (home <= i or home > j)) or (j < i and (home <= i and home > j)):
            keys[i] = keys[j]
            vals[i] = vals[j]
            used[i] = 1
            used[j] = 0
            i = j


@numba.njit(cache=True)
def _reduce(keys, vals, used, ref, shares, state):
    """Take ``shares`` off an indexed order; returns its price, or -1 if it is unknown."""
    i = _lookup(keys, used, ref)
    if i < 0:
        state[_S_UNKNOWN] += 1
        return np.int64(-1)
    v = vals[i]
    left = (v & 0xFFFFFFFF) - shares
    if left <= 0:
        _remove(keys, vals, used, i, state)
    else:
        vals[i] = (v & ~np.int64(0xFFFFFFFF)) | left
    return v >> 32


@numba.njit(cache=True, inline="always")
def _scan_body(data, seqs, start, keys, vals, used, tracked, wanted, state, out, ex, priced):
    """Prints of the blocks from message ``start``; returns (prints, next message, done).

    ``priced``: the E prices come from the book engine's executions ``ex`` (words
    ``message index << 32 | price`` in message order, see ``BookEngine.executions``) and the
    index is not kept. Otherwise the kernel keeps the index; it then stops early, before an
    add, when the index is half full: the caller doubles it and resumes."""
    offsets, _, _ = blocks.block_offsets(data)
    n = min(len(offsets), len(seqs))
    n_out = 0
    limit = len(keys) // 2
    c = 0  # cursor in ex
    n_ex = len(ex)
    for i in range(start, n):
        b = offsets[i]
        length = (np.int64(data[b]) << 8) | np.int64(data[b + 1])
        kind = data[b + _TYPE_AT]
        if not priced and (kind == 65 or kind == 70 or kind == 85) and state[_S_ORDERS] >= limit:
            return n_out, i, False
        seq = np.int64(seqs[i])
        if state[_S_LAST_SEQ] != 0 and seq != state[_S_LAST_SEQ] + 1:
            state[_S_GAP] = 1
        state[_S_LAST_SEQ] = seq
        if kind == 82:  # R: which locates are tracked, when symbols were chosen
            if length == _LEN_R and len(wanted):
                key = _ref(data, b + _R_STOCK)
                hit = False
                for w in wanted:
                    if w == key:
                        hit = True
                tracked[_be(data, b + _LOCATE, 2)] = hit
            continue
        loc = _be(data, b + _LOCATE, 2)
        if priced and (kind == 65 or kind == 70 or kind == 68 or kind == 88 or kind == 85):
            continue  # the engine holds the orders (and counts these messages' faults)
        if kind == 65 or kind == 70:
            if length != (_LEN_A if kind == 65 else _LEN_F):
                state[_S_BAD_LENGTH] += 1
                continue
            shares = _be(data, b + _A_SHARES, 4)  # A and F share the layout up to the price
            price = _be(data, b + _A_PRICE, 4)
            if shares == 0 or price == 0:
                continue  # adds nothing to the book, so nothing can execute against it
            ref = _ref(data, b + _A_REF)
            if not tracked[loc]:
                # As the engine does: an add reusing a live reference removes that order.
                j = _lookup(keys, used, ref)
                if j >= 0:
                    _remove(keys, vals, used, j, state)
                continue
            _insert(keys, vals, used, ref, (price << 32) | shares, state)
        elif kind == 68:
            if length != _LEN_D:
                state[_S_BAD_LENGTH] += 1
                continue
            j = _lookup(keys, used, _ref(data, b + _D_REF))
            if j >= 0:
                _remove(keys, vals, used, j, state)
        elif kind == 88:
            if length != _LEN_X:
                state[_S_BAD_LENGTH] += 1
                continue
            ref = _ref(data, b + _X_REF)
            if _lookup(keys, used, ref) >= 0:
                _reduce(keys, vals, used, ref, _be(data, b + _X_SHARES, 4), state)
        elif kind == 85:
            if length != _LEN_U:
                state[_S_BAD_LENGTH] += 1
                continue
            j = _lookup(keys, used, _ref(data, b + _U_ORIG))
            if j >= 0:
                _remove(keys, vals, used, j, state)
                new = _ref(data, b + _U_NEW)
                # As the engine does: a replace into a live reference removes that order,
                # even when the replacement itself adds nothing (zero shares or price).
                j = _lookup(keys, used, new)
                if j >= 0:
                    _remove(keys, vals, used, j, state)
                shares = _be(data, b + _U_SHARES, 4)
                price = _be(data, b + _U_PRICE, 4)
                if shares != 0 and price != 0:
                    _insert(keys, vals, used, new, (price << 32) | shares, state)
        elif kind == 69 or kind == 67 or kind == 80:  # E C P: a print
            if kind == 69:
                if length != _LEN_E:
                    state[_S_BAD_LENGTH] += 1
                    continue
                if not tracked[loc]:
                    continue
                shares = _be(data, b + _E_SHARES, 4)
                match = _ref(data, b + _E_MATCH)
                if priced:
                    while c < n_ex and np.int64(ex[c] >> np.uint64(32)) < i:
                        c += 1
                    if c < n_ex and np.int64(ex[c] >> np.uint64(32)) == i:
                        price = np.int64(ex[c] & np.uint64(0xFFFFFFFF))
                        c += 1
                    else:
                        state[_S_UNKNOWN] += 1
                        price = np.int64(-1)
                else:
                    price = _reduce(keys, vals, used, _ref(data, b + _E_REF), shares, state)
            elif kind == 67:
                if length != _LEN_C:
                    state[_S_BAD_LENGTH] += 1
                    continue
                if not tracked[loc]:
                    continue
                shares = _be(data, b + _C_SHARES, 4)
                if not priced:
                    _reduce(keys, vals, used, _ref(data, b + _C_REF), shares, state)
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
            row = out[n_out]
            row.seq = seq
            row.timestamp = _be(data, b + _TS, 6)
            row.match_number = match
            row.price = price
            row.shares = shares
            row.locate = loc
            row.kind = kind
            row.flags = flags
            n_out += 1
    return n_out, n, True


@numba.njit(cache=True)
def _scan(data, seqs, start, keys, vals, used, tracked, wanted, state, out):
    """`_scan_body` with the tap's own index."""
    return _scan_body(data, seqs, start, keys, vals, used, tracked, wanted, state, out,
                      np.empty(0, np.uint64), False)  # fmt: skip


@numba.njit(cache=True)
def _scan_priced(data, seqs, tracked, wanted, state, out, ex):
    """`_scan_body` priced by the engine's executions: fewer arguments than `_scan`, as
    unboxing each is a fixed cost per call that matters at the feed's small batches."""
    keys = np.empty(0, np.uint64)
    vals = np.empty(0, np.int64)
    used = np.empty(0, np.uint8)
    n_out, _, _ = _scan_body(data, seqs, 0, keys, vals, used, tracked, wanted, state, out, ex,
                             True)  # fmt: skip
    return n_out


@numba.njit(cache=True)
def _rehash(keys, vals, used, new_keys, new_vals, new_used, state):
    state[_S_ORDERS] = 0
    for i in range(len(keys)):
        if used[i]:
            _insert(new_keys, new_vals, new_used, keys[i], vals[i], state)


def _symbol_key(symbol: str) -> int:
    # The R message's 8-byte stock field, space padded, read as one big-endian integer.
    return int.from_bytes(symbol.encode("latin-1").ljust(8, b" ")[:8], "big")


class TradeTap:
    """Trade prints of the delivered message stream, for one session (a new session gets a
    new tap, as it gets a new engine)."""

    def __init__(self, symbols: list[str] | None = None, priced_by_engine: bool = False) -> None:
        # With ``priced_by_engine`` every call passes the book engine's executions and the
        # tap keeps no order table (the engine's is the one copy); without, it keeps its own
        # index (an engine with no such side output: the hardware model, or no engine).
        self.priced_by_engine = priced_by_engine
        self._alloc(0 if priced_by_engine else _FIRST_SLOTS)
        self.wanted = np.array(sorted({_symbol_key(s) for s in symbols or ()}), dtype=np.uint64)
        # With symbols chosen, a locate is tracked once its directory (R) message names one.
        self.tracked = np.full(LOCATES, not len(self.wanted), dtype=np.bool_)
        self.state = np.zeros(_STATE_SLOTS, dtype=np.int64)
        self.prints = 0
        self._out = np.empty(256, dtype=PRINT_DTYPE)
        self._scan, self._scan_priced = _compiled_scan(self)

    def _alloc(self, slots: int) -> None:
        self.keys = np.zeros(slots, dtype=np.uint64)
        self.vals = np.zeros(slots, dtype=np.int64)
        self.used = np.zeros(slots, dtype=np.uint8)

    def _grow(self) -> None:
        keys, vals, used = self.keys, self.vals, self.used
        if 2 * len(keys) > 2 * MAX_INDEXED_ORDERS:
            raise OverflowError  # the caller counts it
        self._alloc(2 * len(keys))
        _rehash(keys, vals, used, self.keys, self.vals, self.used, self.state)

    def process(
        self, data: bytes, seqs: np.ndarray, executions: np.ndarray | None = None
    ) -> np.ndarray:
        """The prints of these blocks (``PRINT_DTYPE``, feed order). ``executions``: the
        book engine's for the same blocks (``BookEngine.executions``), required exactly
        when the tap is ``priced_by_engine``."""
        return self.process_view(data, seqs, executions).copy()

    def process_view(
        self, data: bytes, seqs: np.ndarray, executions: np.ndarray | None = None
    ) -> np.ndarray:
        """`process` without the copy: a view of a buffer the next call reuses (the feed
        handler publishes the prints before it calls again)."""
        if (executions is not None) != self.priced_by_engine:
            raise ValueError("executions are given exactly when the tap is priced_by_engine")
        buf = np.frombuffer(data, dtype=np.uint8)  # read-only, as the entry point was typed
        if seqs.dtype != np.uint64 or not seqs.flags.c_contiguous:
            seqs = np.ascontiguousarray(seqs, dtype=np.uint64)
        if len(self._out) < len(seqs):
            self._out = np.empty(2 * len(seqs), dtype=PRINT_DTYPE)
        out = self._out
        if executions is not None:
            if executions.dtype != np.uint64 or not executions.flags.c_contiguous:
                executions = np.ascontiguousarray(executions, dtype=np.uint64)
            total = self._scan_priced(
                buf, seqs, self.tracked, self.wanted, self.state, out, executions
            )
            self.prints += total
            return out[:total]
        total, start = 0, 0
        while True:
            count, start, done = self._scan(
                buf, seqs, start, self.keys, self.vals, self.used, self.tracked, self.wanted,
                self.state, out,
            )  # fmt: skip
            total += count
            if done:
                break
            self._make_room()
            out = self._out[total:]
        self.prints += total
        return self._out[:total]

    def _make_room(self) -> None:
        """Double the index; at its bound, count the orders it holds and start afresh."""
        try:
            self._grow()
        except OverflowError:
            # Beyond the bound the index starts afresh: later executions of the forgotten
            # orders print with price 0 and the flag, counted, never a wrong price.
            self.state[_S_INDEX_FULL] += int(self.state[_S_ORDERS])
            self._alloc(len(self.keys))
            self.state[_S_ORDERS] = 0

    def counters(self) -> dict[str, int]:
        return {
            "trade_prints": self.prints,
            "executions_unknown_order": int(self.state[_S_UNKNOWN]),
            "orders_indexed": int(self.state[_S_ORDERS]),
            "price_index_full": int(self.state[_S_INDEX_FULL]),
            "bad_length": int(self.state[_S_BAD_LENGTH]),
        }


_ENTRY = []
_NO_EXECS = np.zeros(0, np.uint64)


def _compiled_scan(tap: TradeTap):
    """The kernels' compiled entry points (own index, priced): calling them skips the
    dispatcher's typing of the arguments (structured array included), a fixed cost larger
    than a batch's scan."""
    if not _ENTRY:
        # Typed as the feed calls them: a read-only view of the received bytes.
        data, seqs = np.frombuffer(b"", np.uint8), np.zeros(0, np.uint64)
        keys = np.zeros(1, np.uint64)
        vals, used = np.zeros(1, np.int64), np.zeros(1, np.uint8)
        for kernel, args in (
            (_scan, (data, seqs, 0, keys, vals, used, tap.tracked, tap.wanted, tap.state,
                     tap._out)),
            (_scan_priced, (data, seqs, tap.tracked, tap.wanted, tap.state, tap._out,
                            _NO_EXECS)),
        ):  # fmt: skip
            kernel(*args)
            signature = tuple(kernel.typeof_pyval(a) for a in args)
            _ENTRY.append(kernel.overloads[signature].entry_point)
    return _ENTRY[0], _ENTRY[1]
