"""The sequential book kernel (numba), a line-for-line mirror of docs/book-engine.md.

Everything here works on fixed-size numpy tables sized by a `Capacity`, exactly as the RTL
does, so both engines agree byte for byte, flags and counters included. The kernel takes a
buffer of back-to-back ITCH message blocks (uint16 big-endian length + message) and one
sequence number per block, and appends book-update records.
"""

from __future__ import annotations

import sys

import numba as nb
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from velocimex import book_contract as bc
from velocimex.wire import itch, moldudp64

# The kernel writes each record as five little-endian uint64 words (numba cannot assign a
# structured dtype's void field, and a plain array argument types far faster per call):
# seq | timestamp | locate, flags, bid_px | bid_qty, ask_px | ask_qty, msg_type, reserved.
_WORD_FIELDS = (
    ("seq", 0), ("timestamp", 8), ("locate", 16), ("flags", 18), ("bid_px", 20),
    ("bid_qty", 24), ("ask_px", 28), ("ask_qty", 32), ("msg_type", 36),
)  # fmt: skip
if sys.byteorder != "little" or any(
    bc.RECORD_DTYPE.fields[name][1] != off for name, off in _WORD_FIELDS
):
    raise ImportError("the kernel's record words assume RECORD_DTYPE on a little-endian host")

_LENGTHS = itch.MESSAGE_LENGTHS.astype(np.int64)
# 1 for the message types whose order reference sits at byte 11 (A F E C X D U).
_HAS_REF = np.zeros(256, np.uint8)
_HAS_REF[[ord(t) for t in "AFECXDU"]] = 1
# How many blocks ahead of the one being applied the kernel prefetches order-table sets.
# A miss to memory takes a few messages' worth of work to arrive.
LOOKAHEAD = 8
# How many of a side's best levels a price search compares at once (see `_level_index`).
TOP_WINDOW = 4

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
LOW32 = np.uint64(0xFFFFFFFF)
LOW48 = np.uint64(0xFFFFFFFFFFFF)
SHIFT32 = np.uint64(32)
HEADER_LEN = moldudp64.HEADER_LEN
BID = 0
ASK = 1
SIDE_ST = 3  # n_held, beyond, bound


# A MoldUDP64 packet holds at most this many records: every record comes from a book
# message, the shortest of which (D) takes 2 + 19 bytes of a payload of at most 65,535.
_MIN_BOOK_BLOCK = 2 + min(int(itch.MESSAGE_LENGTHS[ord(t)]) for t in itch.BOOK_TYPES)
PACKET_MAX_RECORDS = 2 * ((0xFFFF - moldudp64.HEADER_LEN) // _MIN_BOOK_BLOCK + 1)
RECORD_WORDS = bc.RECORD_BYTES // 8  # a record as five little-endian uint64 words

# Arena header: uint64 words at the start of the arena (part offsets, then the parameters).
_PARTS = (
    "ord", "ord_sl", "lvl", "side_st", "top", "tracked", "lost", "symbol", "sub", "sess",
    "counters", "pkt_out",
)  # fmt: skip
(P_ORD, P_ORD_SL, P_LVL, P_SIDE_ST, P_TOP, P_TRACKED, P_LOST, P_SYMBOL, P_SUB, P_SESS,
 P_COUNTERS, P_PKT_OUT) = range(len(_PARTS))  # fmt: skip
H_END = len(_PARTS)  # offset one past the last part = arena size
H_LEVELS = H_END + 1
H_LOCATES = H_END + 2
H_SET_MASK = H_END + 3
H_WAYS = H_END + 4
H_NSUB = H_END + 5
HEADER_WORDS = 24


class BookState:
    """The engine's tables. Plain numpy arrays so the kernel can run on them in place.

    Layout mirrors the RTL memories: the order table as one entry of two uint64 words per way
    (way `w` of set `s` at entry `s * ways + w`: the order reference, then price << 32 |
    shares) plus `ord_sl` (locate * 2 + side) per way, a side's levels as one run of `levels`
    (price, qty, count) triples at `(locate * 2 + side) * levels * 3` (worst first, best at
    index n_held - 1), (n_held, beyond, bound) per side, and per locate a copy of its top
    of book as two uint64 words (bid_px | bid_qty << 32, ask_px | ask_qty << 32).

    Every table, the subscription list and the packet record buffer live in one arena whose
    first words say where each part starts: a call into the kernel unboxes one array, and
    per-packet streaming pays numba's argument unboxing on every call.
    """

    def __init__(self, capacity: bc.Capacity, symbols: list[str] | None = None) -> None:
        self.capacity = capacity
        symbols = list(symbols or [])
        if len(symbols) > capacity.sub_symbols:
            raise ValueError(
                f"{len(symbols)} symbols subscribed, the subscription table holds "
                f"{capacity.sub_symbols}"
            )
        n_orders = capacity.orders
        sides = capacity.locates * 2
        sizes = {
            # Two words per way, so a set of four ways is one 64-byte cache line: looking up
            # an old order misses once, not once per field. A live order never has zero
            # shares (it is removed at zero), so zero shares marks a free way.
            "ord": (n_orders * 2, np.uint64),
            "ord_sl": (n_orders, np.uint32),  # read only after a hit
            "lvl": (sides * capacity.levels * 3, np.uint32),
            # Per side: n_held, beyond (orders outside the held levels), bound (the best
            # price any of those orders can have; meaningful while beyond > 0).
            "side_st": (sides * SIDE_ST, np.uint32),
            # Per locate: the top as of the last message that touched it, bid_px | bid_qty
            # << 32 then ask_px | ask_qty << 32: the "before" of the next message's record
            # check in two loads instead of four dependent on the held-level counts.
            "top": (sides, np.uint64),
            "tracked": (capacity.locates, np.uint8),
            "lost": (capacity.locates, np.uint8),
            "symbol": (capacity.locates, np.uint64),  # raw 8 bytes of the R message
            "sub": (max(capacity.sub_symbols, 1), np.uint64),
            "sess": (S_SLOTS, np.uint64),
            "counters": (bc.NUM_COUNTERS, np.uint64),
            "pkt_out": (PACKET_MAX_RECORDS * RECORD_WORDS, np.uint64),
        }
        header = np.zeros(HEADER_WORDS, np.uint64)
        total = HEADER_WORDS * 8
        for i, name in enumerate(_PARTS):
            header[i] = total
            count, dtype = sizes[name]
            # 64-byte aligned parts: an order-table set then starts on a cache line.
            total += (count * np.dtype(dtype).itemsize + 63) // 64 * 64
        header[H_END] = total
        header[H_LEVELS] = capacity.levels
        header[H_LOCATES] = capacity.locates
        header[H_SET_MASK] = capacity.order_sets - 1
        header[H_WAYS] = capacity.order_ways
        header[H_NSUB] = len(symbols)
        self.arena = _aligned_zeros(total)
        self.arena[: HEADER_WORDS * 8] = header.view(np.uint8)
        for i, name in enumerate(_PARTS):
            count, dtype = sizes[name]
            off = int(header[i])
            setattr(
                self, name, self.arena[off : off + count * np.dtype(dtype).itemsize].view(dtype)
            )
        self.sub[: len(symbols)] = [symbol_key(s) for s in symbols]
        if not symbols:
            self.tracked[:] = 1
        self.packet_records = self.pkt_out.view(bc.RECORD_DTYPE)


def _aligned_zeros(nbytes: int) -> np.ndarray:
    # Written now, not calloc'ed: every page is faulted in here instead of on the first
    # packets that touch it (a page fault costs a streaming packet microseconds).
    raw = np.empty(nbytes + 64, np.uint8)
    raw.fill(0)
    skip = -raw.ctypes.data % 64
    return raw[skip : skip + nbytes]


def symbol_key(symbol: str) -> int:
    """An 8-byte space-padded stock field as the little-endian uint64 the kernel compares."""
    raw = symbol.encode("ascii")
    if not 0 < len(raw) <= 8:
        raise ValueError(f"symbol {symbol!r} must be 1 to 8 ASCII characters")
    return int.from_bytes(raw.ljust(8, b" "), "little")


def symbol_text(key: int) -> str:
    return int(key).to_bytes(8, "little").decode("latin-1").rstrip(" \x00")


@intrinsic
def _address(typingctx, ary):
    """The data pointer of an array or bytes object, as a typed C pointer.

    The message loop indexes its tables through these: a pointer index is one address
    computation, where an array index also pays numba's negative-index wraparound (a
    compare and a select per access) and keeps the array's shape and strides live in
    registers the loop is short of. Every index the loop uses is in range by construction
    (as it already had to be: numba does not bounds-check arrays either)."""

    def codegen(context, builder, signature, args):
        return context.make_array(signature.args[0])(context, builder, args[0]).data

    return types.CPointer(ary.dtype)(ary), codegen


def _wide_load(width: int, swap: bool):  # noqa: ANN202 - returns a numba intrinsic
    result = {16: types.uint16, 32: types.uint32, 64: types.uint64}[width]

    def load(typingctx, ptr, offset):
        def codegen(context, builder, signature, args):
            it = ir.IntType(width)
            address = builder.bitcast(builder.gep(args[0], [args[1]]), it.as_pointer())
            value = builder.load(address, align=1)
            if not swap:
                return value
            fnty = ir.FunctionType(it, [it])
            bswap = cgutils.get_or_insert_function(builder.module, fnty, f"llvm.bswap.i{width}")
            return builder.call(bswap, [value])

        return result(ptr, types.intp), codegen

    return intrinsic(load)


# One unaligned load (and a byte swap) per field instead of a load, shift and or per byte.
# Callers read only within a block whose length they have checked.
_ld_be16 = _wide_load(16, swap=True)
_ld_be32 = _wide_load(32, swap=True)
_ld_be64 = _wide_load(64, swap=True)
_ld_le64 = _wide_load(64, swap=False)


# The same on an array or bytes object (the arena header, a packet's framing).
@nb.njit(inline="always", cache=True)
def _be16(d, p):
    return np.int64(_ld_be16(_address(d), p))


@nb.njit(inline="always", cache=True)
def _be64(d, p):
    return _ld_be64(_address(d), p)


@nb.njit(inline="always", cache=True)
def _le64(d, p):
    return _ld_le64(_address(d), p)


@nb.njit(inline="always", cache=True)
def _better(side, a, b):
    # Bids rank by higher price, asks by lower. Flipping all 32 bits of both prices (asks)
    # reverses their unsigned order, so both sides share one compare: no branch on the
    # side, which is a coin toss from one message to the next.
    m = np.uint64(side) * LOW32
    return (np.uint64(a) ^ m) > (np.uint64(b) ^ m)


@nb.njit(inline="always", cache=True)
def _find(ord_, ref, set_mask, ways):
    base = np.int64(ref & set_mask) * ways
    for w in range(ways):
        e = 2 * (base + w)
        if ord_[e] == ref and (ord_[e + 1] & LOW32) != 0:
            return base + w
    return -1


@nb.njit(inline="always", cache=True)
def _top(lvl, side_st, levels, sl):
    n = np.int64(side_st[SIDE_ST * sl])
    if n == 0:
        return np.uint32(0), np.uint32(0)
    q = (sl * levels + n - 1) * 3
    return lvl[q], lvl[q + 1]


@nb.njit(inline="always", cache=True)
def _tops(lvl, side_st, levels, loc):
    bp, bq = _top(lvl, side_st, levels, np.int64(loc) * 2)
    ap, aq = _top(lvl, side_st, levels, np.int64(loc) * 2 + 1)
    return (bp, bq, ap, aq)


@nb.njit(inline="always", cache=True)
def _level_index(lvl, side_st, levels, sl, price):
    # Levels are stored worst first with the best at the back (the touch, where most
    # changes happen, then moves the fewest entries). The four best are compared at once,
    # the matches gathered in a mask: where a scan stops among them is data-dependent and
    # its exit mispredicted; the one branch here (a match or not) mostly goes one way. Below
    # them the scan goes on down and stops at the first price worse than the one sought.
    b = sl * levels * 3
    side = sl & 1
    n = np.int64(side_st[SIDE_ST * sl])
    start = n - 1
    if n >= TOP_WINDOW:
        t = b + 3 * (n - 1)
        hits = np.uint64(0)
        for j in range(TOP_WINDOW):
            hits |= np.uint64(lvl[t - 3 * j] == price) << np.uint64(j)
        if hits != 0:  # held prices are distinct: one bit at most
            return n - 1 - _cttz(hits)
        start = n - 1 - TOP_WINDOW
    for k in range(start, -1, -1):
        level_price = lvl[b + 3 * k]
        if level_price == price:
            return k
        if _better(side, price, level_price):
            return -1
    return -1


@intrinsic
def _pointer_at(typingctx, arena, offset, dtype):
    """A typed pointer to byte `offset` of the uint8 array `arena`."""
    pointer = types.CPointer(dtype.instance_type)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        address = builder.gep(ary.data, [args[1]])
        return builder.bitcast(address, context.get_value_type(pointer))

    return pointer(arena, offset, dtype), codegen


@intrinsic
def _cttz(typingctx, x):
    """Count of trailing zero bits of a uint64 (LLVM's llvm.cttz, one instruction)."""

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

    return types.int64(types.uint64), codegen


@intrinsic
def _prefetch(typingctx, ptr, index):
    """Hint the CPU to fetch the cache line of `ptr[index]` (LLVM's llvm.prefetch: a
    prefetch never faults). Unlike a load whose value is kept, it does not hold up
    retirement while the line is in flight, so the misses of messages ahead overlap the work
    on the current one."""

    def codegen(context, builder, signature, args):
        address = builder.gep(args[0], [args[1]])
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        # read (0), keep in all cache levels (3), data cache (1)
        builder.call(fn, [builder.bitcast(address, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(ptr, types.intp), codegen


@nb.njit(inline="always", cache=True)
def _part(arena, i, dtype, itemsize):
    # Part i spans the arena from header word i to header word i + 1 (see BookState). A
    # carray over the arena's memory, not `arena[a:b].view(dtype)`: the view is an
    # out-of-line call per table, a fixed cost on every streaming packet. The arena argument
    # keeps the memory alive for the call.
    a = np.int64(_le64(arena, 8 * i))
    n = (np.int64(_le64(arena, 8 * i + 8)) - a) // itemsize
    return nb.carray(_pointer_at(arena, a, dtype), n)


@nb.njit(inline="always", cache=True)
def _param(arena, i):
    return np.int64(_le64(arena, 8 * i))


@nb.njit(cache=True, nogil=True)
def _run_tables(
    data, start, end, n_msgs, seqs, explicit_seqs, first_seq, out, ex, ex_cap, arena,
    ord_, ord_sl, lvl, side_st, top, tracked, lost, symbol, sub, sess, counters,
):  # fmt: skip
    """Process up to `n_msgs` blocks of `data[start:end]` (`data`, `seqs`, `out` and the
    tables as C pointers, see `_address`); returns (records written, offset
    just past the last block processed, executions written).

    Side output for the feed's trade tap: each E applied to a live order writes
    ``(message index << 32) | the order's price`` to `ex` (at most `ex_cap` of them, in
    message order), so the tap need not keep a second order -> price table. An E whose
    order the engine does not hold writes nothing.

    A block running past `end` stops the kernel early; the caller reports the truncation.
    Sequence numbers are `seqs[i]`, or `first_seq + i` when `seqs` is empty (a MoldUDP64
    packet numbers its messages consecutively from its header's sequence number).

    Each book message is first decoded into micro-operations, as the RTL does: up to two
    reductions of live orders (a removal is a reduction by everything left) and at most one
    insertion. Each micro-operation's code exists once, below the decode; helpers taking
    the tables as arguments would cost numba a reference-count pair per array per call.
    """
    levels = _param(arena, H_LEVELS)
    locates = _param(arena, H_LOCATES)
    set_mask = np.uint64(_param(arena, H_SET_MASK))
    ways = _param(arena, H_WAYS)
    n_sub = _param(arena, H_NSUB)
    lengths = _LENGTHS
    one = np.uint64(1)
    pos = start
    k = 0
    started = sess[S_STARTED] != 0
    expected = sess[S_EXPECTED]
    gap_seen = sess[S_GAP_SEEN] != 0
    has_ref = _HAS_REF
    n_messages = 0  # counted here, added to the counters once per call
    n_book = 0
    n_ex = 0
    ahead = start  # the prefetch cursor: a block up to LOOKAHEAD blocks past `pos`
    ahead_n = 0
    for mi in range(n_msgs):
        # Prefetch only: what it reads is checked again, properly, when the block is applied.
        while ahead_n <= mi + LOOKAHEAD and ahead_n < n_msgs and ahead + 2 <= end:
            a_ln = np.int64(_ld_be16(data, ahead))
            a_p = ahead + 2
            if a_p + a_ln > end:
                ahead = end
                break
            # The type byte is read only in a block long enough to hold a reference (an
            # empty last block would put it one byte past the buffer).
            if a_ln >= 19 and has_ref[data[a_p]] != 0:
                a_base = np.int64(_ld_be64(data, a_p + 11) & set_mask) * ways
                _prefetch(ord_, 2 * a_base)
                _prefetch(ord_sl, a_base)
                if data[a_p] == 85 and a_ln >= 27:  # 'U' also looks up its new reference
                    a_base = np.int64(_ld_be64(data, a_p + 19) & set_mask) * ways
                    _prefetch(ord_, 2 * a_base)
                    _prefetch(ord_sl, a_base)
            ahead = a_p + a_ln
            ahead_n += 1
        if pos + 2 > end:
            break
        ln = np.int64(_ld_be16(data, pos))
        p = pos + 2
        if p + ln > end:
            break
        pos = p + ln
        seq = seqs[mi] if explicit_seqs else first_seq + np.uint64(mi)
        if started:
            if seq < expected:
                counters[C_DUPS] += one
                continue
            if seq > expected:
                counters[C_GAPS] += seq - expected
                gap_seen = True
        started = True
        expected = seq + one
        n_messages += 1
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
        loc = np.int64(_ld_be16(data, p + 1))
        if mtype == 82:  # 'R' stock directory
            if loc < locates:
                key = _ld_le64(data, p + 11)
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
        n_book += 1
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
        ref = _ld_be64(data, p + 11)
        if is_add:
            ins_shares = _ld_be32(data, p + 20)
            ins_price = _ld_be32(data, p + 32)
            if ins_shares == 0 or ins_price == 0:
                counters[C_REJECTED] += one
                continue
            i_old = _find(ord_, ref, set_mask, ways)
            if i_old >= 0:
                counters[C_DUP_REF] += one
                red0 = i_old
                red0_n = np.uint32(ord_[2 * i_old + 1] & LOW32)
                other = np.int64(ord_sl[i_old]) >> 1
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
            i = _find(ord_, ref, set_mask, ways)
            if i < 0:
                counters[C_UNKNOWN_REF] += one
                continue
            red0 = i
            red0_n = np.uint32(ord_[2 * i + 1] & LOW32) if mtype == 68 else _ld_be32(data, p + 19)
            if mtype == 69 and n_ex < ex_cap:
                ex[n_ex] = (np.uint64(mi) << SHIFT32) | (ord_[2 * i + 1] >> SHIFT32)
                n_ex += 1
            main = np.int64(ord_sl[i]) >> 1
        else:
            i = _find(ord_, ref, set_mask, ways)
            if i < 0:
                counters[C_UNKNOWN_REF] += one
                continue
            new_ref = _ld_be64(data, p + 19)
            osl = np.int64(ord_sl[i])
            red0 = i
            red0_n = np.uint32(ord_[2 * i + 1] & LOW32)
            main = osl >> 1
            if new_ref != ref:
                red1 = _find(ord_, new_ref, set_mask, ways)
                if red1 >= 0:
                    counters[C_DUP_REF] += one
                    other = np.int64(ord_sl[red1]) >> 1
            ins_shares = _ld_be32(data, p + 27)
            ins_price = _ld_be32(data, p + 31)
            if ins_shares == 0 or ins_price == 0:
                counters[C_REJECTED] += one
            else:
                ins = True
                ins_ref = new_ref
                ins_loc = main
                ins_side = osl & 1
        if other == main:
            other = -1
        # The tops before the message: every message that changes a book records (or checks)
        # the new top of each instrument it touched, so `top` is current for all of them.
        zero = np.uint64(0)
        bm0 = top[2 * main] if main >= 0 else zero
        bm1 = top[2 * main + 1] if main >= 0 else zero
        bo0 = top[2 * other] if other >= 0 else zero
        bo1 = top[2 * other + 1] if other >= 0 else zero
        # --- reductions: take shares off an order, remove it at zero -------------------
        for r in range(2):
            i = red0 if r == 0 else red1
            if i < 0:
                continue
            word = ord_[2 * i + 1]
            left = np.uint32(word & LOW32)
            cut = red0_n if r == 0 else left
            if cut > left:
                cut = left  # over-execution clamps at what is left
            sl = np.int64(ord_sl[i])
            st = SIDE_ST * sl
            b = sl * levels * 3
            lk = _level_index(lvl, side_st, levels, sl, np.uint32(word >> SHIFT32))
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
            # Shares only (the low word) change; at zero the way is free.
            ord_[2 * i + 1] = word - np.uint64(cut)
        # --- insertion (docs/book-engine.md, "Insert") --------------------------------
        if ins:
            base = np.int64(ins_ref & set_mask) * ways
            slot = -1
            for w in range(ways):
                if (ord_[2 * (base + w) + 1] & LOW32) == 0:
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
                ord_[2 * slot] = ins_ref
                ord_[2 * slot + 1] = (np.uint64(ins_price) << SHIFT32) | np.uint64(ins_shares)
                ord_sl[slot] = sl
        # --- records: the other instrument first, then the message's own ------------------
        ts = _ld_be64(data, p + 3) & LOW48  # bytes 5..10
        k0 = k
        gap_flag = np.uint64(F_GAP) if gap_seen else np.uint64(0)
        for r in range(2):
            rloc = other if r == 0 else main
            if rloc < 0:
                continue
            after = _tops(lvl, side_st, levels, rloc)
            a0 = np.uint64(after[0]) | (np.uint64(after[1]) << SHIFT32)
            a1 = np.uint64(after[2]) | (np.uint64(after[3]) << SHIFT32)
            b0 = bo0 if r == 0 else bm0
            b1 = bo1 if r == 0 else bm1
            top[2 * rloc] = a0  # changed or not
            top[2 * rloc + 1] = a1
            # The record is written whether or not the top changed and kept only if it did:
            # whether a message moves the top is unpredictable, a branch on it mispredicts
            # about every other message. `out` holds two records per message, so the slot
            # exists either way.
            changed = ((a0 ^ b0) | (a1 ^ b1)) != 0
            sb = SIDE_ST * 2 * np.int64(rloc)
            sa = sb + SIDE_ST
            bid_beyond = side_st[sb + 1] > 0
            ask_beyond = side_st[sa + 1] > 0
            flags = (
                np.uint64((side_st[sb] == 0) & bid_beyond) * np.uint64(F_BID_UNKNOWN)
                | np.uint64((side_st[sa] == 0) & ask_beyond) * np.uint64(F_ASK_UNKNOWN)
                | np.uint64(bid_beyond | ask_beyond) * np.uint64(F_DEPTH)
                | np.uint64(lost[rloc] != 0) * np.uint64(F_LOST)
                | gap_flag
            )
            w = RECORD_WORDS * k
            out[w] = seq
            out[w + 1] = ts
            out[w + 2] = (
                np.uint64(rloc) | (flags << np.uint64(16)) | (np.uint64(after[0]) << SHIFT32)
            )
            out[w + 3] = np.uint64(after[1]) | (np.uint64(after[2]) << SHIFT32)
            out[w + 4] = np.uint64(after[3]) | (np.uint64(mtype) << SHIFT32)
            k += np.int64(changed)
        if k - k0 == 2:
            counters[C_DUAL] += one
    sess[S_STARTED] = 1 if started else 0
    sess[S_EXPECTED] = expected
    sess[S_GAP_SEEN] = 1 if gap_seen else 0
    counters[C_RECORDS] += np.uint64(k)
    counters[C_MESSAGES] += np.uint64(n_messages)
    counters[C_BOOK] += np.uint64(n_book)
    return k, pos, n_ex


@nb.njit(inline="always", cache=True)
def _ptr(arena, i, dtype):
    # Part i of the arena (see BookState) as a C pointer.
    return _pointer_at(arena, np.int64(_le64(arena, 8 * i)), dtype)


@nb.njit(cache=True, nogil=True)
def _run(data, start, end, n_msgs, seqs, first_seq, out, ex, arena):
    # The table pointers are made here and passed in: made inside the message loop's
    # function they cost it about 8% (measured with thread CPU time on the bench capture).
    # The arrays behind them stay referenced by this frame for the call.
    return _run_tables(
        _address(data), start, end, n_msgs, _address(seqs), seqs.shape[0] > 0, first_seq,
        _address(out), _address(ex), ex.shape[0], arena,
        _ptr(arena, P_ORD, np.uint64), _ptr(arena, P_ORD_SL, np.uint32),
        _ptr(arena, P_LVL, np.uint32), _ptr(arena, P_SIDE_ST, np.uint32),
        _ptr(arena, P_TOP, np.uint64),
        _ptr(arena, P_TRACKED, np.uint8), _ptr(arena, P_LOST, np.uint8),
        _ptr(arena, P_SYMBOL, np.uint64), _ptr(arena, P_SUB, np.uint64),
        _ptr(arena, P_SESS, np.uint64), _ptr(arena, P_COUNTERS, np.uint64),
    )  # fmt: skip


@nb.njit(cache=True, nogil=True)
def run_blocks(data, n_msgs, seqs, out, ex, arena):
    """`_run` over a whole buffer of blocks with one sequence number each (`seqs`), records
    into `out` (`RECORD_WORDS` uint64 words per record) and executions into `ex` (see
    `_run_tables`; an empty `ex` turns them off); returns (records, bytes consumed,
    executions)."""
    return _run(data, 0, len(data), n_msgs, seqs, np.uint64(0), out, ex, arena)


_NO_SEQS = np.zeros(0, np.uint64)
_NO_EXECS = np.zeros(0, np.uint64)  # packets: no side output for a trade tap
PACKET_CORRUPT = -1


@nb.njit(cache=True, nogil=True)
def run_packet(payload, arena):
    """One MoldUDP64 downstream packet (the UDP payload): framing, decode, book, records in one
    call. Returns the number of records, written to the arena's packet buffer, or
    `PACKET_CORRUPT` (nothing applied) when the framing is inconsistent; heartbeat and
    end-of-session packets carry no messages and return 0.

    The framing is checked in full before any message is applied, with the rules of
    `velocimex.wire.moldudp64.parse_packet`, so a corrupt packet never half-updates the book.
    """
    n = len(payload)
    if n < HEADER_LEN:
        return PACKET_CORRUPT
    count = _be16(payload, HEADER_LEN - 2)
    if count == 0 or count == 0xFFFF:
        return 0 if n == HEADER_LEN else PACKET_CORRUPT
    pos = HEADER_LEN
    for _ in range(count):
        if pos + 2 > n:
            return PACKET_CORRUPT
        ln = _be16(payload, pos)
        if ln == 0 or pos + 2 + ln > n:
            return PACKET_CORRUPT
        pos += 2 + ln
    if pos != n:
        return PACKET_CORRUPT
    out = _part(arena, P_PKT_OUT, np.uint64, 8)
    k, _, _ = _run(
        payload, HEADER_LEN, n, count, _NO_SEQS, _be64(payload, 10), out, _NO_EXECS, arena
    )
    return k
