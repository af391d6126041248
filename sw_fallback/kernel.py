"""The sequential book kernel (numba), a line-for-line mirror of docs/book-engine.md.

Everything here works on fixed-size numpy tables sized by a `Capacity`, exactly as the RTL
does, so both engines agree byte for byte, flags and counters included. The kernel takes a
buffer of back-to-back ITCH message blocks (uint16 big-endian length + message) and one
sequence number per block, and appends book-update records.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from velocimex import book_contract as bc
from velocimex.wire import itch

# The kernel's view of RECORD_DTYPE: same offsets and size, the reserved bytes as plain
# integers because numba cannot assign void fields.
KERNEL_RECORD_DTYPE = np.dtype(
    {
        "names": list(bc.RECORD_DTYPE.names[:-1]) + ["r0", "r1", "r2"],
        "formats": [bc.RECORD_DTYPE.fields[n][0] for n in bc.RECORD_DTYPE.names[:-1]]
        + ["u1", "u1", "u1"],
        "offsets": [bc.RECORD_DTYPE.fields[n][1] for n in bc.RECORD_DTYPE.names[:-1]]
        + [37, 38, 39],
        "itemsize": bc.RECORD_BYTES,
    }
)

_LENGTHS = itch.MESSAGE_LENGTHS.astype(np.int64)

# Counter indices as module constants so numba folds them.
C_MESSAGES = bc.COUNTER["messages"]
C_BOOK = bc.COUNTER["book_messages"]
C_RECORDS = bc.COUNTER["records"]
C_UNKNOWN_TYPE = bc.COUNTER["unknown_type"]
C_BAD_LENGTH = bc.COUNTER["bad_length"]
C_UNKNOWN_REF = bc.COUNTER["unknown_ref"]
C_REJECTED = bc.COUNTER["rejected_add"]
C_LOCATE_RANGE = bc.COUNTER["locate_out_of_range"]
C_UNTRACKED = bc.COUNTER["untracked"]
C_DUP_REF = bc.COUNTER["duplicate_ref"]
C_ORDERS_LOST = bc.COUNTER["orders_lost"]
C_QTY_OVERFLOW = bc.COUNTER["qty_overflow"]
C_EVICTIONS = bc.COUNTER["level_evictions"]
C_BEYOND = bc.COUNTER["beyond_levels"]
C_GAPS = bc.COUNTER["seq_gaps"]
C_DUPS = bc.COUNTER["seq_duplicates"]
C_DUAL = bc.COUNTER["dual_records"]

F_BID_UNKNOWN = bc.FLAG_BID_UNKNOWN
F_ASK_UNKNOWN = bc.FLAG_ASK_UNKNOWN
F_DEPTH = bc.FLAG_DEPTH_TRUNCATED
F_LOST = bc.FLAG_ORDERS_LOST
F_GAP = bc.FLAG_SEQ_GAP

# Session state slots (uint64 array `sess`).
S_STARTED = 0
S_EXPECTED = 1
S_GAP_SEEN = 2
S_SLOTS = 3

MAX_QTY = 0xFFFFFFFF
_NO_TOP = (np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0))
BID = 0
ASK = 1
SIDE_ST = 3  # n_held, beyond, bound


class BookState:
    """The engine's tables. Plain numpy arrays so the kernel can run on them in place.

    Layout mirrors the RTL memories: the order table as parallel arrays (way `w` of set `s`
    at index `s * ways + w`), a side's levels as one run of `levels` (price, qty, count)
    triples at `(locate * 2 + side) * levels * 3`, and (n_held, beyond, bound) per side.
    """

    def __init__(self, capacity: bc.Capacity, symbols: list[str] | None = None) -> None:
        self.capacity = capacity
        n_orders = capacity.orders
        sides = capacity.locates * 2
        # Every table lives in one arena so a call into the kernel unboxes one array, not
        # twelve: per-packet streaming pays numba's argument unboxing on every call.
        parts = [
            ("ord_ref", n_orders, np.uint64),
            ("ord_sl", n_orders, np.uint32),  # locate * 2 + side + 1; 0 = free way
            ("ord_price", n_orders, np.uint32),
            ("ord_shares", n_orders, np.uint32),
            ("lvl", sides * capacity.levels * 3, np.uint32),
            # Per side: n_held, beyond (orders outside the held levels), bound (the best
            # price any of those orders can have; meaningful while beyond > 0).
            ("side_st", sides * SIDE_ST, np.uint32),
            ("tracked", capacity.locates, np.uint8),
            ("lost", capacity.locates, np.uint8),
            ("symbol", capacity.locates, np.uint64),  # raw 8 bytes of the R message
            ("sess", S_SLOTS, np.uint64),
            ("counters", bc.NUM_COUNTERS, np.uint64),
        ]
        offsets, total = [], 0
        for _, count, dtype in parts:
            offsets.append(total)
            total += (count * np.dtype(dtype).itemsize + 7) // 8 * 8
        self.arena = np.zeros(total // 8, np.uint64).view(np.uint8)
        for (name, count, dtype), off in zip(parts, offsets, strict=True):
            size = count * np.dtype(dtype).itemsize
            setattr(self, name, self.arena[off : off + size].view(dtype))
        self.layout = np.array(
            offsets
            + [
                total,
                capacity.levels,
                capacity.locates,
                capacity.order_sets - 1,
                capacity.order_ways,
            ],
            dtype=np.int64,
        )
        symbols = list(symbols or [])
        if len(symbols) > capacity.sub_symbols:
            raise ValueError(
                f"{len(symbols)} symbols subscribed, the subscription table holds "
                f"{capacity.sub_symbols}"
            )
        self.sub = np.array([symbol_key(s) for s in symbols], dtype=np.uint64)
        if len(self.sub) == 0:
            self.tracked[:] = 1

    def tables(self) -> tuple:
        return (
            self.ord_ref,
            self.ord_sl,
            self.ord_price,
            self.ord_shares,
            self.lvl,
            self.side_st,
            self.tracked,
            self.lost,
            self.symbol,
            self.sub,
            self.sess,
            self.counters,
        )


def symbol_key(symbol: str) -> int:
    """An 8-byte space-padded stock field as the little-endian uint64 the kernel compares."""
    raw = symbol.encode("ascii")
    if not 0 < len(raw) <= 8:
        raise ValueError(f"symbol {symbol!r} must be 1 to 8 ASCII characters")
    return int.from_bytes(raw.ljust(8, b" "), "little")


def symbol_text(key: int) -> str:
    return int(key).to_bytes(8, "little").decode("latin-1").rstrip(" \x00")


@nb.njit(cache=True)
def _be16(d, p):
    return (np.int64(d[p]) << 8) | np.int64(d[p + 1])


@nb.njit(cache=True)
def _be32(d, p):
    return (
        (np.uint32(d[p]) << np.uint32(24))
        | (np.uint32(d[p + 1]) << np.uint32(16))
        | (np.uint32(d[p + 2]) << np.uint32(8))
        | np.uint32(d[p + 3])
    )


@nb.njit(cache=True)
def _be48(d, p):
    v = np.uint64(0)
    for i in range(6):
        v = (v << np.uint64(8)) | np.uint64(d[p + i])
    return v


@nb.njit(cache=True)
def _be64(d, p):
    v = np.uint64(0)
    for i in range(8):
        v = (v << np.uint64(8)) | np.uint64(d[p + i])
    return v


@nb.njit(cache=True)
def _le64(d, p):
    v = np.uint64(0)
    for i in range(7, -1, -1):
        v = (v << np.uint64(8)) | np.uint64(d[p + i])
    return v


@nb.njit(cache=True)
def _better(side, a, b):
    # Bids rank by higher price, asks by lower.
    if side == BID:
        return a > b
    return a < b


@nb.njit(cache=True)
def _find(ord_ref, ord_sl, ref, set_mask, ways):
    base = np.int64(ref & set_mask) * ways
    for w in range(ways):
        i = base + w
        if ord_sl[i] != 0 and ord_ref[i] == ref:
            return i
    return -1


@nb.njit(cache=True)
def _top(lvl, side_st, levels, sl):
    if side_st[SIDE_ST * sl] == 0:
        return np.uint32(0), np.uint32(0)
    b = sl * levels * 3
    return lvl[b], lvl[b + 1]


@nb.njit(cache=True)
def _tops(lvl, side_st, levels, loc):
    bp, bq = _top(lvl, side_st, levels, np.int64(loc) * 2)
    ap, aq = _top(lvl, side_st, levels, np.int64(loc) * 2 + 1)
    return (bp, bq, ap, aq)


@nb.njit(cache=True)
def _level_index(lvl, side_st, levels, sl, price):
    # Levels are sorted best first, so the scan stops at the first worse price.
    b = sl * levels * 3
    side = sl & 1
    for k in range(np.int64(side_st[SIDE_ST * sl])):
        level_price = lvl[b + 3 * k]
        if level_price == price:
            return k
        if _better(side, price, level_price):
            return -1
    return -1


@nb.njit(cache=True)
def _remove_order(i, ord_sl, ord_price, ord_shares, lvl, side_st, levels):
    sl = np.int64(ord_sl[i]) - 1
    k = _level_index(lvl, side_st, levels, sl, ord_price[i])
    if k < 0:
        side_st[SIDE_ST * sl + 1] -= 1
    else:
        b = sl * levels * 3
        q = b + 3 * k
        lvl[q + 1] -= ord_shares[i]
        lvl[q + 2] -= 1
        if lvl[q + 2] == 0:
            n = np.int64(side_st[SIDE_ST * sl])
            for j in range(3 * k, 3 * (n - 1)):
                lvl[b + j] = lvl[b + j + 3]
            e = b + 3 * (n - 1)
            lvl[e] = 0
            lvl[e + 1] = 0
            lvl[e + 2] = 0
            side_st[SIDE_ST * sl] = n - 1
    ord_sl[i] = 0
    ord_shares[i] = 0


@nb.njit(cache=True)
def _reduce_order(i, shares, ord_sl, ord_price, ord_shares, lvl, side_st, levels):
    if shares >= ord_shares[i]:
        _remove_order(i, ord_sl, ord_price, ord_shares, lvl, side_st, levels)
        return
    sl = np.int64(ord_sl[i]) - 1
    k = _level_index(lvl, side_st, levels, sl, ord_price[i])
    if k >= 0:
        lvl[sl * levels * 3 + 3 * k + 1] -= shares
    ord_shares[i] -= shares


@nb.njit(cache=True)
def _insert_order(
    ref, loc, side, price, shares, set_mask, ways,
    ord_ref, ord_sl, ord_price, ord_shares, lvl, side_st, levels, lost, counters,
):  # fmt: skip
    base = np.int64(ref & set_mask) * ways
    slot = -1
    for w in range(ways):
        if ord_sl[base + w] == 0:
            slot = base + w
            break
    if slot < 0:
        counters[C_ORDERS_LOST] += np.uint64(1)
        lost[loc] = 1
        return
    sl = np.int64(loc) * 2 + side
    b = sl * levels * 3
    st = SIDE_ST * sl
    n = np.int64(side_st[st])
    beyond = side_st[st + 1]
    bound = side_st[st + 2]
    k = _level_index(lvl, side_st, levels, sl, price)
    if k >= 0:
        q = b + 3 * k
        if np.uint64(lvl[q + 1]) + np.uint64(shares) > np.uint64(MAX_QTY):
            counters[C_QTY_OVERFLOW] += np.uint64(1)
            lost[loc] = 1
            return
        lvl[q + 1] += shares
        lvl[q + 2] += 1
    elif (n == levels and not _better(side, price, lvl[b + 3 * (n - 1)])) or (
        beyond > 0 and not _better(side, price, bound)
    ):
        # Beyond the held levels. `bound` stays the best price any such order can have.
        if beyond == 0 or _better(side, price, bound):
            side_st[st + 2] = price
        side_st[st + 1] = beyond + 1
        counters[C_BEYOND] += np.uint64(1)
    else:
        pos = 0
        while pos < n and _better(side, lvl[b + 3 * pos], price):
            pos += 1
        if n == levels:
            worst = lvl[b + 3 * (n - 1)]
            if beyond == 0 or _better(side, worst, bound):
                side_st[st + 2] = worst
            side_st[st + 1] = beyond + lvl[b + 3 * (n - 1) + 2]
            counters[C_EVICTIONS] += np.uint64(1)
            n -= 1
        for j in range(3 * n - 1, 3 * pos - 1, -1):
            lvl[b + j + 3] = lvl[b + j]
        q = b + 3 * pos
        lvl[q] = price
        lvl[q + 1] = shares
        lvl[q + 2] = 1
        side_st[st] = n + 1
    ord_ref[slot] = ref
    ord_sl[slot] = sl + 1
    ord_price[slot] = price
    ord_shares[slot] = shares


@nb.njit(cache=True)
def _emit(out, k, loc, before, seq, ts, mtype, lvl, side_st, levels, lost, gap_seen):
    after = _tops(lvl, side_st, levels, loc)
    if after == before:
        return k
    sb = SIDE_ST * 2 * np.int64(loc)
    sa = sb + SIDE_ST
    flags = 0
    bid_beyond = side_st[sb + 1]
    ask_beyond = side_st[sa + 1]
    if side_st[sb] == 0 and bid_beyond > 0:
        flags |= F_BID_UNKNOWN
    if side_st[sa] == 0 and ask_beyond > 0:
        flags |= F_ASK_UNKNOWN
    if bid_beyond > 0 or ask_beyond > 0:
        flags |= F_DEPTH
    if lost[loc] != 0:
        flags |= F_LOST
    if gap_seen:
        flags |= F_GAP
    r = out[k]
    r.seq = seq
    r.timestamp = ts
    r.locate = loc
    r.flags = flags
    r.bid_px = after[0]
    r.bid_qty = after[1]
    r.ask_px = after[2]
    r.ask_qty = after[3]
    r.msg_type = mtype
    r.r0 = 0
    r.r1 = 0
    r.r2 = 0
    return k + 1


@nb.njit(cache=True)
def run_kernel(
    data, n_msgs, seqs, out, lengths, levels, locates, set_mask, ways,
    ord_ref, ord_sl, ord_price, ord_shares, lvl, side_st,
    tracked, lost, symbol, sub, sess, counters,
):  # fmt: skip
    """Process `n_msgs` blocks of `data`; returns (records written, bytes consumed).

    The caller passes whole blocks only; a block running past the end of `data` stops the
    kernel early and the caller reports the truncation.
    """
    one = np.uint64(1)
    nbytes = data.shape[0]
    n_sub = sub.shape[0]
    pos = 0
    k = 0
    started = sess[S_STARTED] != 0
    expected = sess[S_EXPECTED]
    gap_seen = sess[S_GAP_SEEN] != 0
    for mi in range(n_msgs):
        if pos + 2 > nbytes:
            break
        ln = _be16(data, pos)
        p = pos + 2
        if p + ln > nbytes:
            break
        pos = p + ln
        seq = seqs[mi]
        if started:
            if seq < expected:
                counters[C_DUPS] += one
                continue
            if seq > expected:
                counters[C_GAPS] += seq - expected
                gap_seen = True
        started = True
        expected = seq + one
        counters[C_MESSAGES] += one
        if ln == 0:
            counters[C_BAD_LENGTH] += one
            continue
        mtype = data[p]
        want = lengths[mtype]
        if want == 0:
            counters[C_UNKNOWN_TYPE] += one
            continue
        if ln != want:
            counters[C_BAD_LENGTH] += one
            continue
        loc = _be16(data, p + 1)
        if mtype == 82:  # 'R' stock directory
            if loc < locates:
                key = _le64(data, p + 11)
                symbol[loc] = key
                if n_sub > 0:
                    hit = 0
                    for s in range(n_sub):
                        if sub[s] == key:
                            hit = 1
                    tracked[loc] = hit
            continue
        if mtype == 65 or mtype == 70:  # 'A', 'F'
            counters[C_BOOK] += one
            ref = _be64(data, p + 11)
            side = BID if data[p + 19] == 66 else ASK
            shares = _be32(data, p + 20)
            price = _be32(data, p + 32)
            if shares == 0 or price == 0:
                counters[C_REJECTED] += one
                continue
            main_ok = loc < locates and tracked[loc] != 0
            other = -1
            i_old = _find(ord_ref, ord_sl, ref, set_mask, ways)
            before_main = _NO_TOP
            before_other = _NO_TOP
            if main_ok:
                before_main = _tops(lvl, side_st, levels, loc)
            if i_old >= 0:
                other = (np.int64(ord_sl[i_old]) - 1) >> 1
                before_other = _tops(lvl, side_st, levels, other)
                counters[C_DUP_REF] += one
                _remove_order(i_old, ord_sl, ord_price, ord_shares, lvl, side_st, levels)
            if not main_ok:
                if loc >= locates:
                    counters[C_LOCATE_RANGE] += one
                else:
                    counters[C_UNTRACKED] += one
            else:
                _insert_order(
                    ref, loc, side, price, shares, set_mask, ways,
                    ord_ref, ord_sl, ord_price, ord_shares, lvl, side_st, levels, lost, counters,
                )  # fmt: skip
            ts = _be48(data, p + 5)
            k0 = k
            if other >= 0 and (not main_ok or other != loc):
                k = _emit(out, k, other, before_other, seq, ts, mtype, lvl, side_st, levels, lost,
                          gap_seen)  # fmt: skip
            if main_ok:
                k = _emit(out, k, loc, before_main, seq, ts, mtype, lvl, side_st, levels, lost,
                          gap_seen)  # fmt: skip
            if k - k0 == 2:
                counters[C_DUAL] += one
            continue
        if mtype == 69 or mtype == 67 or mtype == 88 or mtype == 68:  # E C X D
            counters[C_BOOK] += one
            ref = _be64(data, p + 11)
            i = _find(ord_ref, ord_sl, ref, set_mask, ways)
            if i < 0:
                counters[C_UNKNOWN_REF] += one
                continue
            oloc = (np.int64(ord_sl[i]) - 1) >> 1
            before = _tops(lvl, side_st, levels, oloc)
            if mtype == 68:
                _remove_order(i, ord_sl, ord_price, ord_shares, lvl, side_st, levels)
            else:
                _reduce_order(i, _be32(data, p + 19), ord_sl, ord_price, ord_shares, lvl, side_st,
                              levels)  # fmt: skip
            ts = _be48(data, p + 5)
            k = _emit(out, k, oloc, before, seq, ts, mtype, lvl, side_st, levels, lost, gap_seen)
            continue
        if mtype == 85:  # 'U'
            counters[C_BOOK] += one
            ref = _be64(data, p + 11)
            new_ref = _be64(data, p + 19)
            shares = _be32(data, p + 27)
            price = _be32(data, p + 31)
            i = _find(ord_ref, ord_sl, ref, set_mask, ways)
            if i < 0:
                counters[C_UNKNOWN_REF] += one
                continue
            osl = np.int64(ord_sl[i]) - 1
            oloc = osl >> 1
            oside = osl & 1
            other = -1
            j = -1
            if new_ref != ref:
                j = _find(ord_ref, ord_sl, new_ref, set_mask, ways)
            before_main = _tops(lvl, side_st, levels, oloc)
            before_other = _NO_TOP
            if j >= 0:
                other = (np.int64(ord_sl[j]) - 1) >> 1
                before_other = _tops(lvl, side_st, levels, other)
            _remove_order(i, ord_sl, ord_price, ord_shares, lvl, side_st, levels)
            if j >= 0:
                counters[C_DUP_REF] += one
                _remove_order(j, ord_sl, ord_price, ord_shares, lvl, side_st, levels)
            if shares == 0 or price == 0:
                counters[C_REJECTED] += one
            else:
                _insert_order(
                    new_ref, oloc, oside, price, shares, set_mask, ways,
                    ord_ref, ord_sl, ord_price, ord_shares, lvl, side_st, levels, lost, counters,
                )  # fmt: skip
            ts = _be48(data, p + 5)
            k0 = k
            if other >= 0 and other != oloc:
                k = _emit(out, k, other, before_other, seq, ts, mtype, lvl, side_st, levels, lost,
                          gap_seen)  # fmt: skip
            k = _emit(out, k, oloc, before_main, seq, ts, mtype, lvl, side_st, levels, lost,
                      gap_seen)  # fmt: skip
            if k - k0 == 2:
                counters[C_DUAL] += one
            continue
    sess[S_STARTED] = 1 if started else 0
    sess[S_EXPECTED] = expected
    sess[S_GAP_SEEN] = 1 if gap_seen else 0
    counters[C_RECORDS] += np.uint64(k)
    return k, pos


@nb.njit(inline="always", cache=True)
def _part(arena, layout, i, dtype):
    return arena[layout[i] : layout[i + 1]].view(dtype)


@nb.njit(cache=True)
def run_arena(data, n_msgs, seqs, out, arena, layout, sub):
    """`run_kernel` on the tables of a `BookState` arena (see `BookState.layout`).

    Parts are padded to 8 bytes, so a view may carry a few trailing elements the kernel never
    indexes.
    """
    return run_kernel(
        data, n_msgs, seqs, out, _LENGTHS, layout[12], layout[13], np.uint64(layout[14]),
        layout[15],
        _part(arena, layout, 0, np.uint64), _part(arena, layout, 1, np.uint32),
        _part(arena, layout, 2, np.uint32), _part(arena, layout, 3, np.uint32),
        _part(arena, layout, 4, np.uint32), _part(arena, layout, 5, np.uint32),
        _part(arena, layout, 6, np.uint8), _part(arena, layout, 7, np.uint8),
        _part(arena, layout, 8, np.uint64), sub, _part(arena, layout, 9, np.uint64),
        _part(arena, layout, 10, np.uint64),
    )  # fmt: skip
