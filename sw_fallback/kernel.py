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

MAX_QTY = np.uint64(0xFFFFFFFF)
_NO_TOP = (np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0))
BID = 0
ASK = 1
SIDE_ST = 3  # n_held, beyond, bound


class BookState:
    """The engine's tables. Plain numpy arrays so the kernel can run on them in place.

    Layout mirrors the RTL memories: the order table as parallel arrays (way `w` of set `s`
    at index `s * ways + w`), a side's levels as one run of `levels` (price, qty, count)
    triples at `(locate * 2 + side) * levels * 3` (worst first, best at index n_held - 1),
    and (n_held, beyond, bound) per side.
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
    n = np.int64(side_st[SIDE_ST * sl])
    if n == 0:
        return np.uint32(0), np.uint32(0)
    q = (sl * levels + n - 1) * 3
    return lvl[q], lvl[q + 1]


@nb.njit(cache=True)
def _tops(lvl, side_st, levels, loc):
    bp, bq = _top(lvl, side_st, levels, np.int64(loc) * 2)
    ap, aq = _top(lvl, side_st, levels, np.int64(loc) * 2 + 1)
    return (bp, bq, ap, aq)


@nb.njit(cache=True)
def _level_index(lvl, side_st, levels, sl, price):
    # Levels are stored worst first with the best at the back (the touch, where most
    # changes happen, then moves the fewest entries); the scan starts at the best and stops
    # at the first price worse than the one sought.
    b = sl * levels * 3
    side = sl & 1
    for k in range(np.int64(side_st[SIDE_ST * sl]) - 1, -1, -1):
        level_price = lvl[b + 3 * k]
        if level_price == price:
            return k
        if _better(side, price, level_price):
            return -1
    return -1


@nb.njit(cache=True, nogil=True)
def run_kernel(
    data, n_msgs, seqs, out, lengths, levels, locates, set_mask, ways,
    ord_ref, ord_sl, ord_price, ord_shares, lvl, side_st,
    tracked, lost, symbol, sub, sess, counters,
):  # fmt: skip
    """Process `n_msgs` blocks of `data`; returns (records written, bytes consumed).

    The caller passes whole blocks only; a block running past the end of `data` stops the
    kernel early and the caller reports the truncation.

    Each book message is first decoded into micro-operations, as the RTL does: up to two
    reductions of live orders (a removal is a reduction by everything left) and at most one
    insertion. Each micro-operation's code exists once, below the decode; helpers taking
    the tables as arguments would cost numba a reference-count pair per array per call.
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
        is_add = mtype == 65 or mtype == 70  # 'A', 'F'
        is_reduce = mtype == 69 or mtype == 67 or mtype == 88 or mtype == 68  # E C X D
        is_replace = mtype == 85  # 'U'
        if not (is_add or is_reduce or is_replace):
            continue
        counters[C_BOOK] += one
        # --- decode into micro-operations --------------------------------------------
        red0 = -1  # order-table index to reduce first
        red0_n = np.uint32(0)
        red1 = -1  # a second order to remove (a live reference replaced by A/F/U)
        ins = False
        ins_ref = np.uint64(0)
        ins_loc = 0
        ins_side = 0
        ins_price = np.uint32(0)
        ins_shares = np.uint32(0)
        main = -1  # the message's own instrument (record last)
        other = -1  # a second instrument touched (record first)
        ref = _be64(data, p + 11)
        if is_add:
            ins_shares = _be32(data, p + 20)
            ins_price = _be32(data, p + 32)
            if ins_shares == 0 or ins_price == 0:
                counters[C_REJECTED] += one
                continue
            i_old = _find(ord_ref, ord_sl, ref, set_mask, ways)
            if i_old >= 0:
                counters[C_DUP_REF] += one
                red0 = i_old
                red0_n = ord_shares[i_old]
                other = (np.int64(ord_sl[i_old]) - 1) >> 1
            if loc >= locates:
                counters[C_LOCATE_RANGE] += one
            elif tracked[loc] == 0:
                counters[C_UNTRACKED] += one
            else:
                ins = True
                ins_ref = ref
                ins_loc = loc
                ins_side = BID if data[p + 19] == 66 else ASK
                main = loc
        elif is_reduce:
            i = _find(ord_ref, ord_sl, ref, set_mask, ways)
            if i < 0:
                counters[C_UNKNOWN_REF] += one
                continue
            red0 = i
            red0_n = ord_shares[i] if mtype == 68 else _be32(data, p + 19)
            main = (np.int64(ord_sl[i]) - 1) >> 1
        else:
            i = _find(ord_ref, ord_sl, ref, set_mask, ways)
            if i < 0:
                counters[C_UNKNOWN_REF] += one
                continue
            new_ref = _be64(data, p + 19)
            osl = np.int64(ord_sl[i]) - 1
            red0 = i
            red0_n = ord_shares[i]
            main = osl >> 1
            if new_ref != ref:
                red1 = _find(ord_ref, ord_sl, new_ref, set_mask, ways)
                if red1 >= 0:
                    counters[C_DUP_REF] += one
                    other = (np.int64(ord_sl[red1]) - 1) >> 1
            ins_shares = _be32(data, p + 27)
            ins_price = _be32(data, p + 31)
            if ins_shares == 0 or ins_price == 0:
                counters[C_REJECTED] += one
            else:
                ins = True
                ins_ref = new_ref
                ins_loc = main
                ins_side = osl & 1
        if other == main:
            other = -1
        before_main = _tops(lvl, side_st, levels, main) if main >= 0 else _NO_TOP
        before_other = _tops(lvl, side_st, levels, other) if other >= 0 else _NO_TOP
        # --- reductions: take shares off an order, remove it at zero -------------------
        for r in range(2):
            i = red0 if r == 0 else red1
            if i < 0:
                continue
            cut = red0_n if r == 0 else ord_shares[i]
            left = ord_shares[i]
            if cut > left:
                cut = left  # over-execution clamps at what is left
            sl = np.int64(ord_sl[i]) - 1
            st = SIDE_ST * sl
            b = sl * levels * 3
            lk = _level_index(lvl, side_st, levels, sl, ord_price[i])
            if lk < 0:
                if cut == left:
                    side_st[st + 1] -= 1  # the order was beyond the held levels
            else:
                q = b + 3 * lk
                lvl[q + 1] -= cut
                if cut == left:
                    lvl[q + 2] -= 1
                    if lvl[q + 2] == 0:
                        n = np.int64(side_st[st])
                        for j in range(3 * lk, 3 * (n - 1)):
                            lvl[b + j] = lvl[b + j + 3]
                        e = b + 3 * (n - 1)
                        lvl[e] = 0
                        lvl[e + 1] = 0
                        lvl[e + 2] = 0
                        side_st[st] = n - 1
            if cut == left:
                ord_sl[i] = 0
                ord_shares[i] = 0
            else:
                ord_shares[i] = left - cut
        # --- insertion (docs/book-engine.md, "Insert") --------------------------------
        if ins:
            base = np.int64(ins_ref & set_mask) * ways
            slot = -1
            for w in range(ways):
                if ord_sl[base + w] == 0:
                    slot = base + w
                    break
            sl = np.int64(ins_loc) * 2 + ins_side
            st = SIDE_ST * sl
            b = sl * levels * 3
            n = np.int64(side_st[st])
            beyond = side_st[st + 1]
            bound = side_st[st + 2]
            lk = _level_index(lvl, side_st, levels, sl, ins_price)
            if slot < 0:
                counters[C_ORDERS_LOST] += one
                lost[ins_loc] = 1
            elif lk >= 0 and np.uint64(lvl[b + 3 * lk + 1]) + np.uint64(ins_shares) > MAX_QTY:
                counters[C_QTY_OVERFLOW] += one
                lost[ins_loc] = 1
            else:
                if lk >= 0:
                    q = b + 3 * lk
                    lvl[q + 1] += ins_shares
                    lvl[q + 2] += 1
                elif (n == levels and not _better(ins_side, ins_price, lvl[b])) or (
                    beyond > 0 and not _better(ins_side, ins_price, bound)
                ):
                    # Beyond the held levels; `bound` stays the best price such an order has.
                    if beyond == 0 or _better(ins_side, ins_price, bound):
                        side_st[st + 2] = ins_price
                    side_st[st + 1] = beyond + 1
                    counters[C_BEYOND] += one
                else:
                    at = n
                    while at > 0 and _better(ins_side, lvl[b + 3 * (at - 1)], ins_price):
                        at -= 1
                    if n == levels:
                        # Push the worst level (index 0) beyond the held levels.
                        worst = lvl[b]
                        if beyond == 0 or _better(ins_side, worst, bound):
                            side_st[st + 2] = worst
                        side_st[st + 1] = beyond + lvl[b + 2]
                        counters[C_EVICTIONS] += one
                        for j in range(3 * (n - 1)):
                            lvl[b + j] = lvl[b + j + 3]
                        n -= 1
                        at -= 1
                    for j in range(3 * n - 1, 3 * at - 1, -1):
                        lvl[b + j + 3] = lvl[b + j]
                    q = b + 3 * at
                    lvl[q] = ins_price
                    lvl[q + 1] = ins_shares
                    lvl[q + 2] = 1
                    side_st[st] = n + 1
                ord_ref[slot] = ins_ref
                ord_sl[slot] = sl + 1
                ord_price[slot] = ins_price
                ord_shares[slot] = ins_shares
        # --- records: the other instrument first, then the message's own ------------------
        ts = _be48(data, p + 5)
        k0 = k
        for r in range(2):
            rloc = other if r == 0 else main
            if rloc < 0:
                continue
            after = _tops(lvl, side_st, levels, rloc)
            if after == (before_other if r == 0 else before_main):
                continue
            sb = SIDE_ST * 2 * np.int64(rloc)
            sa = sb + SIDE_ST
            flags = 0
            if side_st[sb] == 0 and side_st[sb + 1] > 0:
                flags |= F_BID_UNKNOWN
            if side_st[sa] == 0 and side_st[sa + 1] > 0:
                flags |= F_ASK_UNKNOWN
            if side_st[sb + 1] > 0 or side_st[sa + 1] > 0:
                flags |= F_DEPTH
            if lost[rloc] != 0:
                flags |= F_LOST
            if gap_seen:
                flags |= F_GAP
            rec = out[k]
            rec.seq = seq
            rec.timestamp = ts
            rec.locate = rloc
            rec.flags = flags
            rec.bid_px = after[0]
            rec.bid_qty = after[1]
            rec.ask_px = after[2]
            rec.ask_qty = after[3]
            rec.msg_type = mtype
            rec.r0 = 0
            rec.r1 = 0
            rec.r2 = 0
            k += 1
        if k - k0 == 2:
            counters[C_DUAL] += one
    sess[S_STARTED] = 1 if started else 0
    sess[S_EXPECTED] = expected
    sess[S_GAP_SEEN] = 1 if gap_seen else 0
    counters[C_RECORDS] += np.uint64(k)
    return k, pos


@nb.njit(inline="always", cache=True)
def _part(arena, layout, i, dtype):
    return arena[layout[i] : layout[i + 1]].view(dtype)


@nb.njit(cache=True, nogil=True)
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
