"""The sequential market simulation: order flow of every symbol, one event at a time.

Runs in numba over integer numpy arrays. Each call emits message *records* (one row of
``N_COLS`` int64 per ITCH message) for the encoder; the simulation keeps its own book per
symbol so every execute, cancel, delete and replace names a live order with valid shares.

Model, per symbol (see docs/generator.md):
- a latent fair value follows a geometric random walk (per-event volatility scaled so the
  day's return has the symbol's daily volatility);
- makers quote ``spread`` ticks around fair value: most adds join the touch, a geometric few
  ticks behind, a small deep tail; they cancel fleeting orders within a few events, pull
  quotes fair value has moved through, and re-price with U;
- takers lift/hit the touch, more often the further fair value has moved past it, in FIFO
  order at each level, never emptying a side (the books stay two-sided and uncrossed);
- hidden-order trades print at the midpoint (P); admin events follow a schedule.
"""

from __future__ import annotations

import numpy as np
from numba import boolean, float64, int64, njit, types, uint64, void

# Explicit signatures: one compiled version per function (numba would otherwise specialise
# on every literal argument, multiplying compile time) and compilation at import.
I64_1D = int64[::1]
I64_2D = int64[:, ::1]
F64_1D = float64[::1]
U64_1D = uint64[::1]
BOOK = types.Tuple((I64_1D, I64_2D, I64_2D, I64_2D, I64_2D))

# One record per message. Prices are ITCH units (1/10000 $); chars are ASCII codes.
(
    COL_TYPE,
    COL_LOCATE,
    COL_TS,
    COL_REF,
    COL_NEW_REF,
    COL_SHARES,
    COL_PRICE,
    COL_MATCH,
    COL_SIDE,
    COL_MPID,
    COL_CODE,
    COL_CODE2,
    COL_AUX,
    COL_PRICE2,
    COL_PRICE3,
    COL_PRICE4,
    COL_PRICE5,
) = range(17)
N_COLS = 17

# Global state slots (int64 array ``g``).
(
    G_NEXT_REF,
    G_NEXT_MATCH,
    G_LAST_TS,
    G_SEG_DONE,
    G_SEG_TOTAL,
    G_SEG_T0,
    G_SEG_SPAN,
    G_N_HALTS,
    G_SCHED_NEXT,
    G_SEED_NEXT,
) = range(10)
G_SIZE = 10

# Admin kinds in the schedule.
ADMIN_HALT, ADMIN_LULD, ADMIN_OP_HALT, ADMIN_Y, ADMIN_L, ADMIN_N = 1, 2, 3, 4, 5, 6
ADMIN_K, ADMIN_O, ADMIN_W, ADMIN_B = 7, 8, 9, 10
ADMIN_KINDS = 10

# H reason codes by index (the encoder owns the 4-byte strings).
REASON_NONE, REASON_NEWS, REASON_LULD = 0, 1, 2
REASONS = ("    ", "T1  ", "LUDP")

CAPACITY = 512  # live orders per symbol the simulation can hold
TARGET_LIVE = 160  # above this, makers cancel instead of adding
MIN_SIDE = 3  # a side thinner than this is replenished before anything else happens
RECENT = 8  # recent adds per symbol that fleeting-order cancels choose from
MAX_HALTS = 4
MAX_FILLS = 12  # executions one taker order may generate
MAX_LEVELS = 3  # price levels one taker order may sweep
SEED_ORDERS = 6  # opening book per symbol: three levels each side
MIN_TICKS = 150  # fair value floor ($1.50): keeps every price in the $0.01-tick regime
F_SHARE = 0.10  # share of adds carrying MPID attribution
C_SHARE = 0.04  # share of executions reported with a price (C)
TAKER_NOISE = 0.006  # uninformed marketable orders per event, each side

# ASCII codes of the field values the jitted code writes (numba folds these globals).
_CH_0, _CH_1, _CH_A, _CH_B, _CH_H, _CH_N, _CH_Q, _CH_S, _CH_T, _CH_Y = (
    ord(c) for c in "01ABHNQSTY"
)
_RPII_FLAGS = (_CH_B, _CH_A, _CH_S, _CH_N)
_A, _F, _E, _C, _X, _D, _U, _P = (ord(c) for c in "AFECXDUP")
_H, _h, _Y, _L, _N, _J, _K, _O, _W, _B = (ord(c) for c in "HhYLNJKOWB")
_BUY, _SELL = _CH_B, _CH_S


@njit(uint64(U64_1D), cache=True)
def _next_u64(rng):
    # splitmix64: tiny, fast, and identical on every platform numba runs on.
    rng[0] += np.uint64(0x9E3779B97F4A7C15)
    z = rng[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(float64(U64_1D), cache=True)
def _uniform(rng):
    return float(_next_u64(rng) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(int64(U64_1D, int64), cache=True)
def _randint(rng, n):
    return min(int(_uniform(rng) * n), n - 1)


@njit(float64(U64_1D), cache=True)
def _normal(rng):
    u1 = 1.0 - _uniform(rng)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * _uniform(rng))


@njit(int64(U64_1D), cache=True)
def _draw_size(rng):
    """Order size: mostly round lots of 100 (small ones most common), some odd and mixed lots."""
    u = _uniform(rng)
    if u < 0.07:
        return 1 + _randint(rng, 99)
    if u < 0.11:
        return 100 * (1 + _randint(rng, 4)) + 1 + _randint(rng, 99)
    v = _uniform(rng)
    if v < 0.45:
        lots = 1
    elif v < 0.62:
        lots = 2
    elif v < 0.70:
        lots = 3
    elif v < 0.75:
        lots = 4
    elif v < 0.85:
        lots = 5
    elif v < 0.92:
        lots = 10
    else:
        lots = 6 + int(-np.log(1.0 - _uniform(rng)) * 12.0)
    return 100 * lots


@njit(int64(U64_1D, I64_1D, F64_1D), cache=True)
def _event_ts(rng, g, ginv):
    # The segment's k-th message lands at the intraday-activity quantile (k + u) / total, so
    # arrivals are random, U-shaped over the day, and the segment ends on time exactly.
    q = (g[G_SEG_DONE] + _uniform(rng)) / g[G_SEG_TOTAL]
    pos = q * (ginv.shape[0] - 1)
    i = int(pos)
    if i >= ginv.shape[0] - 1:
        x = ginv[ginv.shape[0] - 1]
    else:
        x = ginv[i] + (pos - i) * (ginv[i + 1] - ginv[i])
    ts = g[G_SEG_T0] + int(x * g[G_SEG_SPAN])
    if ts < g[G_LAST_TS]:
        ts = g[G_LAST_TS]
    g[G_LAST_TS] = ts
    return ts


@njit(void(I64_2D, int64, int64, int64, int64), cache=True)
def _row(out, n, typ, loc, ts):
    for c in range(N_COLS):
        out[n, c] = 0
    out[n, COL_TYPE] = typ
    out[n, COL_LOCATE] = loc
    out[n, COL_TS] = ts


@njit(types.UniTuple(int64, 4)(int64, I64_1D, I64_2D, I64_2D), cache=True)
def _touch(s, live_n, o_side, o_px):
    """Best bid, best ask (ticks; -1 if empty) and the number of orders on each side."""
    bb = -1
    ba = -1
    nb = 0
    na = 0
    for i in range(live_n[s]):
        p = o_px[s, i]
        if o_side[s, i] == 0:
            nb += 1
            if p > bb:
                bb = p
        else:
            na += 1
            if ba < 0 or p < ba:
                ba = p
    return bb, ba, nb, na


@njit(int64(int64, int64, I64_1D, I64_2D), cache=True)
def _find(s, ref, live_n, o_ref):
    for i in range(live_n[s]):
        if o_ref[s, i] == ref:
            return i
    return -1


@njit(void(int64, int64, I64_1D, I64_2D, I64_2D, I64_2D, I64_2D), cache=True)
def _remove(s, i, live_n, o_ref, o_side, o_px, o_sh):
    last = live_n[s] - 1
    o_ref[s, i] = o_ref[s, last]
    o_side[s, i] = o_side[s, last]
    o_px[s, i] = o_px[s, last]
    o_sh[s, i] = o_sh[s, last]
    live_n[s] = last


@njit(void(int64, int64, I64_2D, I64_1D), cache=True)
def _remember(s, ref, recent, recent_pos):
    recent[s, recent_pos[s] % RECENT] = ref
    recent_pos[s] += 1


@njit(int64(U64_1D, int64, float64, int64, int64, int64), cache=True)
def _quote_price(rng, side, fv, spread, bb, ba):
    """A maker's limit price in ticks: fair-value quote, a few ticks behind, never crossing."""
    u = _uniform(rng)
    if u < 0.55:
        k = 0
    elif u < 0.80:
        k = 1
    elif u < 0.90:
        k = 2
    elif u < 0.96:
        k = 3 + _randint(rng, 3)
    else:
        k = 6 + _randint(rng, 40)
    bid_quote = int(np.floor(fv - 0.5 * spread + 0.5))
    if side == 0:
        p = bid_quote - k
        if ba > 0 and p >= ba:
            p = ba - 1
    else:
        p = bid_quote + spread + k
        if bb > 0 and p <= bb:
            p = bb + 1
    return max(p, 100)


@njit(
    int64(
        I64_2D,
        int64,
        int64,
        int64,
        int64,
        int64,
        int64,
        int64,
        I64_1D,
        I64_1D,
        I64_2D,
        I64_2D,
        I64_2D,
        I64_2D,
    ),
    cache=True,
)
def _emit_add(out, n, ts, s, side, px, sh, mpid, g, live_n, o_ref, o_side, o_px, o_sh):
    ref = g[G_NEXT_REF]
    g[G_NEXT_REF] = ref + 1
    i = live_n[s]
    o_ref[s, i] = ref
    o_side[s, i] = side
    o_px[s, i] = px
    o_sh[s, i] = sh
    live_n[s] = i + 1
    _row(out, n, _F if mpid >= 0 else _A, s, ts)
    out[n, COL_REF] = ref
    out[n, COL_SIDE] = _BUY if side == 0 else _SELL
    out[n, COL_SHARES] = sh
    out[n, COL_PRICE] = px * 100
    out[n, COL_MPID] = mpid
    return ref


@njit(
    int64(
        I64_2D,
        int64,
        int64,
        U64_1D,
        int64,
        int64,
        F64_1D,
        I64_1D,
        I64_2D,
        I64_1D,
        I64_2D,
        I64_1D,
        BOOK,
    ),
    cache=True,
)
def _maker_add(out, n, ts, rng, s, side, fair, spread, makers, g, recent, recent_pos, book):
    live_n, o_ref, o_side, o_px, o_sh = book
    bb, ba, nb, na = _touch(s, live_n, o_side, o_px)
    if live_n[s] >= CAPACITY:
        # Out of room (never reached with TARGET_LIVE far below CAPACITY): pull an order
        # from the deeper side instead.
        deep = 0 if nb >= na else 1
        for i in range(live_n[s]):
            if o_side[s, i] == deep:
                _row(out, n, _D, s, ts)
                out[n, COL_REF] = o_ref[s, i]
                _remove(s, i, live_n, o_ref, o_side, o_px, o_sh)
                return 1
    px = _quote_price(rng, side, fair[s], spread[s], bb, ba)
    mpid = makers[s, _randint(rng, makers.shape[1])] if _uniform(rng) < F_SHARE else -1
    ref = _emit_add(
        out, n, ts, s, side, px, _draw_size(rng), mpid, g, live_n, o_ref, o_side, o_px, o_sh
    )
    _remember(s, ref, recent, recent_pos)
    return 1


@njit(int64(U64_1D, int64, float64, boolean, I64_2D, BOOK), cache=True)
def _pick_order(rng, s, fv, stressed, recent, book):
    """An order a maker acts on: a fleeting recent add, a quote fair value has moved through,
    or (the long-lived tail) any resting order."""
    live_n, o_ref, o_side, o_px, o_sh = book
    live = live_n[s]
    u = _uniform(rng)
    if stressed and u < 0.6:
        u = 0.7  # fair value is at the touch: makers pull the quotes it has moved through
    if u < 0.65:
        i = _find(s, recent[s, _randint(rng, RECENT)], live_n, o_ref)
        if i >= 0:
            return i
    elif u < 0.85:
        start = _randint(rng, live)
        for j in range(live):
            i = (start + j) % live
            if (o_side[s, i] == 0 and o_px[s, i] > fv - 0.2) or (
                o_side[s, i] == 1 and o_px[s, i] < fv + 0.2
            ):
                return i
    return _randint(rng, live)


@njit(int64(I64_2D, int64, int64, U64_1D, int64, int64, int64, I64_1D, BOOK), cache=True)
def _taker(out, n, ts, rng, s, hit_side, budget, g, book):
    """A marketable order: executes resting orders of ``hit_side`` in price-time priority."""
    live_n, o_ref, o_side, o_px, o_sh = book
    remaining = _draw_size(rng) * (1 + _randint(rng, 3))
    fills = 0
    levels = 0
    last_px = -1
    max_fills = min(MAX_FILLS, budget)
    while remaining > 0 and fills < max_fills:
        best = -1
        count = 0
        for i in range(live_n[s]):
            if o_side[s, i] != hit_side:
                continue
            count += 1
            if best < 0:
                best = i
                continue
            p, q = o_px[s, i], o_px[s, best]
            better = p > q if hit_side == 0 else p < q
            if better or (p == q and o_ref[s, i] < o_ref[s, best]):
                best = i
        if count <= 1:
            break  # leave the side's last order: the book stays two-sided
        if o_px[s, best] != last_px:
            levels += 1
            if levels > MAX_LEVELS:
                break
            last_px = o_px[s, best]
        qty = min(remaining, o_sh[s, best])
        match = g[G_NEXT_MATCH]
        g[G_NEXT_MATCH] = match + 1
        if _uniform(rng) < C_SHARE:
            # Executed at a price other than the displayed one (e.g. a price-to-comply
            # order ranked one tick better than it displays).
            _row(out, n + fills, _C, s, ts)
            out[n + fills, COL_CODE] = _CH_Y if _uniform(rng) < 0.9 else _CH_N
            step = -1 if hit_side == 0 else 1
            out[n + fills, COL_PRICE] = (o_px[s, best] + step) * 100
        else:
            _row(out, n + fills, _E, s, ts)
        out[n + fills, COL_REF] = o_ref[s, best]
        out[n + fills, COL_SHARES] = qty
        out[n + fills, COL_MATCH] = match
        o_sh[s, best] -= qty
        if o_sh[s, best] == 0:
            _remove(s, best, live_n, o_ref, o_side, o_px, o_sh)
        remaining -= qty
        fills += 1
    return fills


@njit(
    int64(
        I64_2D,
        int64,
        int64,
        U64_1D,
        int64,
        int64,
        I64_1D,
        F64_1D,
        F64_1D,
        I64_1D,
        I64_2D,
        I64_2D,
        I64_1D,
        BOOK,
    ),
    cache=True,
)
def _market_event(out, n, ts, rng, s, budget, g, fair, sigma, spread, makers, recent, rpos, book):
    """One participant action on symbol ``s``; returns the number of messages (1..budget)."""
    live_n, o_ref, o_side, o_px, o_sh = book
    fv = fair[s] * np.exp(sigma[s] * _normal(rng))
    fair[s] = max(fv, float(MIN_TICKS))
    fv = fair[s]
    bb, ba, nb, na = _touch(s, live_n, o_side, o_px)
    if nb < MIN_SIDE:
        return _maker_add(out, n, ts, rng, s, 0, fair, spread, makers, g, recent, rpos, book)
    if na < MIN_SIDE:
        return _maker_add(out, n, ts, rng, s, 1, fair, spread, makers, g, recent, rpos, book)
    # Takers arrive as noise, and more often once fair value is at or through the touch.
    p_buy = TAKER_NOISE + min(0.12, max(0.0, 0.04 * (fv - ba + 0.2)))
    p_sell = TAKER_NOISE + min(0.12, max(0.0, 0.04 * (bb - fv + 0.2)))
    u = _uniform(rng)
    if u < p_buy:
        return _taker(out, n, ts, rng, s, 1, budget, g, book)
    if u < p_buy + p_sell:
        return _taker(out, n, ts, rng, s, 0, budget, g, book)
    live = live_n[s]
    v = _uniform(rng)
    if v < 0.50 and live < TARGET_LIVE:
        side = 0 if _uniform(rng) < 0.5 else 1
        return _maker_add(out, n, ts, rng, s, side, fair, spread, makers, g, recent, rpos, book)
    if v >= 0.99:
        # A hidden (non-displayed) order executes at the midpoint: no visible book change.
        _row(out, n, _P, s, ts)
        out[n, COL_SIDE] = _BUY if _uniform(rng) < 0.5 else _SELL
        out[n, COL_SHARES] = _draw_size(rng)
        out[n, COL_PRICE] = (bb + ba) * 50
        out[n, COL_MATCH] = g[G_NEXT_MATCH]
        g[G_NEXT_MATCH] += 1
        return 1
    stressed = fv > ba - 0.2 or fv < bb + 0.2
    i = _pick_order(rng, s, fv, stressed, recent, book)
    side = o_side[s, i]
    if v < 0.88:
        # A delete; never of a side's last MIN_SIDE orders (replenish that side instead).
        if (nb if side == 0 else na) <= MIN_SIDE:
            return _maker_add(out, n, ts, rng, s, side, fair, spread, makers, g, recent, rpos, book)
        _row(out, n, _D, s, ts)
        out[n, COL_REF] = o_ref[s, i]
        _remove(s, i, live_n, o_ref, o_side, o_px, o_sh)
        return 1
    if v < 0.955:
        # Cancel-replace to a fresh quote: new reference, back of the queue.
        px = _quote_price(rng, side, fv, spread[s], bb, ba)
        sh = o_sh[s, i] if _uniform(rng) < 0.7 else _draw_size(rng)
        new_ref = g[G_NEXT_REF]
        g[G_NEXT_REF] = new_ref + 1
        _row(out, n, _U, s, ts)
        out[n, COL_REF] = o_ref[s, i]
        out[n, COL_NEW_REF] = new_ref
        out[n, COL_SHARES] = sh
        out[n, COL_PRICE] = px * 100
        o_ref[s, i] = new_ref
        o_px[s, i] = px
        o_sh[s, i] = sh
        _remember(s, new_ref, recent, rpos)
        return 1
    # A partial cancel that leaves the order resting with whole round lots where it can.
    sh = o_sh[s, i]
    if sh < 2:
        return _maker_add(out, n, ts, rng, s, side, fair, spread, makers, g, recent, rpos, book)
    if sh >= 200:
        cancel = 100 * (1 + _randint(rng, (sh - 1) // 100))
    else:
        cancel = 1 + _randint(rng, sh - 1)
    _row(out, n, _X, s, ts)
    out[n, COL_REF] = o_ref[s, i]
    out[n, COL_SHARES] = cancel
    o_sh[s, i] = sh - cancel
    return 1


@njit(
    int64(I64_2D, int64, int64, U64_1D, I64_1D, F64_1D, I64_1D, I64_2D, I64_2D, I64_1D, BOOK),
    cache=True,
)
def _seed_order(out, n, ts, rng, g, fair, spread, makers, recent, rpos, book):
    """The opening book: three levels a side per symbol, the inside quote attributed."""
    live_n, o_ref, o_side, o_px, o_sh = book
    idx = g[G_SEED_NEXT]
    g[G_SEED_NEXT] = idx + 1
    s = idx // SEED_ORDERS + 1
    j = idx % SEED_ORDERS
    side = j % 2
    level = j // 2
    bid_quote = int(np.floor(fair[s] - 0.5 * spread[s] + 0.5))
    px = bid_quote - level if side == 0 else bid_quote + spread[s] + level
    mpid = makers[s, side] if level == 0 else -1
    sh = 100 * (1 + _randint(rng, 5))
    ref = _emit_add(
        out, n, ts, s, side, max(px, 100), sh, mpid, g, live_n, o_ref, o_side, o_px, o_sh
    )
    _remember(s, ref, recent, rpos)
    return 1


@njit(int64(U64_1D, F64_1D, I64_1D), cache=True)
def _pick_symbol(rng, cum_w, halted):
    nsym = cum_w.shape[0]
    for _ in range(16):
        # First locate whose cumulative activity reaches the draw (searchsorted, left).
        x = _uniform(rng) * cum_w[nsym - 1]
        lo, hi = 0, nsym - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum_w[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        s = lo + 1
        if halted[s] == 0:
            return s
    start = _randint(rng, nsym)
    for j in range(nsym):
        s = (start + j) % nsym + 1
        if halted[s] == 0:
            return s
    return -1


@njit(int64(I64_1D, I64_2D), cache=True)
def _obligations(g, halts):
    owed = 0
    for h in range(g[G_N_HALTS]):
        owed += 1 + (1 if halts[h, 3] >= 0 else 0)
    return owed


@njit(int64(I64_2D, int64, int64, I64_1D, I64_2D, I64_1D, F64_1D, F64_1D, boolean), cache=True)
def _halt_step(out, n, ts, g, halts, halted, fair, luld_pct, force):
    """Emit a due LULD collar (J) or a resumption; returns messages emitted (0 if none due)."""
    done = g[G_SEG_DONE]
    for h in range(g[G_N_HALTS]):
        s = halts[h, 0]
        kind = halts[h, 1]
        if halts[h, 3] >= 0 and (force or halts[h, 3] <= done or halts[h, 2] <= done):
            ref = int(round(fair[s])) * 100
            band = int(round(fair[s] * luld_pct[s])) * 100
            _row(out, n, _J, s, ts)
            out[n, COL_PRICE] = ref
            out[n, COL_PRICE2] = ref + band
            out[n, COL_PRICE3] = ref - band
            out[n, COL_AUX] = 0
            halts[h, 3] = -1
            return 1
        if force or halts[h, 2] <= done:
            if kind == ADMIN_OP_HALT:
                _row(out, n, _h, s, ts)
                out[n, COL_CODE] = _CH_Q
                out[n, COL_CODE2] = _CH_T
            else:
                _row(out, n, _H, s, ts)
                out[n, COL_CODE] = _CH_T
                out[n, COL_AUX] = REASON_NONE
            halted[s] = 0
            last = g[G_N_HALTS] - 1
            for c in range(4):
                halts[h, c] = halts[last, c]
            g[G_N_HALTS] = last
            return 1
    return 0


@njit(int64(U64_1D, I64_1D), cache=True)
def _pick_symbol_uniform(rng, halted):
    nsym = halted.shape[0] - 1
    start = _randint(rng, nsym)
    for j in range(nsym):
        s = (start + j) % nsym + 1
        if halted[s] == 0:
            return s
    return -1


@njit(
    int64(
        I64_2D,
        int64,
        int64,
        U64_1D,
        int64,
        int64,
        I64_1D,
        I64_2D,
        I64_1D,
        F64_1D,
        F64_1D,
        I64_2D,
        float64,
    ),
    cache=True,
)
def _admin(out, n, ts, rng, kind, room, g, halts, halted, fair, open_fair, makers, span_s):
    """A scheduled administrative event; returns messages emitted (0 if it cannot happen now)."""
    nsym = halted.shape[0] - 1
    s = _pick_symbol_uniform(rng, halted)
    if s < 0:
        return 0
    px = int(round(fair[s])) * 100
    if kind == ADMIN_HALT or kind == ADMIN_LULD or kind == ADMIN_OP_HALT:
        if g[G_N_HALTS] >= MAX_HALTS or g[G_N_HALTS] + 1 >= nsym or room < 8:
            return 0
        # News halts last minutes to an hour, LULD pauses five minutes, operational minutes.
        if kind == ADMIN_HALT:
            secs = 600.0 + 1800.0 * _uniform(rng)
        elif kind == ADMIN_LULD:
            secs = 300.0
        else:
            secs = 60.0 + 540.0 * _uniform(rng)
        per_msg = g[G_SEG_TOTAL] / span_s
        dur = max(4, int(secs * per_msg))
        h = g[G_N_HALTS]
        halts[h, 0] = s
        halts[h, 1] = kind
        halts[h, 2] = g[G_SEG_DONE] + dur
        halts[h, 3] = g[G_SEG_DONE] + dur // 2 if kind == ADMIN_LULD else -1
        g[G_N_HALTS] = h + 1
        halted[s] = kind
        if kind == ADMIN_OP_HALT:
            _row(out, n, _h, s, ts)
            out[n, COL_CODE] = _CH_Q
            out[n, COL_CODE2] = _CH_H
        else:
            _row(out, n, _H, s, ts)
            out[n, COL_CODE] = _CH_H
            out[n, COL_AUX] = REASON_LULD if kind == ADMIN_LULD else REASON_NEWS
        return 1
    if kind == ADMIN_Y:
        # Rule 201: the short-sale price test applies after a 10% intraday decline.
        _row(out, n, _Y, s, ts)
        out[n, COL_CODE] = _CH_1 if fair[s] < 0.9 * open_fair[s] else _CH_0
    elif kind == ADMIN_L:
        m = _randint(rng, makers.shape[1])
        _row(out, n, _L, s, ts)
        out[n, COL_MPID] = makers[s, m]
        out[n, COL_CODE] = _CH_Y if m == 0 else _CH_N
        out[n, COL_CODE2] = _CH_N
        out[n, COL_AUX] = _CH_A
    elif kind == ADMIN_N:
        _row(out, n, _N, s, ts)
        out[n, COL_CODE] = _RPII_FLAGS[_randint(rng, 4)]
    elif kind == ADMIN_K:
        _row(out, n, _K, s, ts)
        out[n, COL_AUX] = ts // 1_000_000_000 + 300
        out[n, COL_CODE] = _CH_A
        out[n, COL_PRICE] = px
    elif kind == ADMIN_O:
        _row(out, n, _O, s, ts)
        out[n, COL_CODE] = _CH_N
        out[n, COL_PRICE] = px * 8 // 1000 * 100
        out[n, COL_PRICE2] = px * 12 // 1000 * 100
        out[n, COL_PRICE3] = px
        out[n, COL_AUX] = ts
        out[n, COL_PRICE4] = px * 9 // 1000 * 100
        out[n, COL_PRICE5] = px * 11 // 1000 * 100
    elif kind == ADMIN_W:
        _row(out, n, _W, 0, ts)
        out[n, COL_CODE] = _CH_1
    elif kind == ADMIN_B:
        if g[G_NEXT_MATCH] <= 1:
            return 0
        # A clearly-erroneous bust of a recent trade.
        _row(out, n, _B, 0, ts)
        out[n, COL_MATCH] = g[G_NEXT_MATCH] - 1 - _randint(rng, min(100, g[G_NEXT_MATCH] - 1))
    return 1


@njit(
    int64(
        I64_2D,
        int64,
        U64_1D,
        I64_1D,
        F64_1D,
        F64_1D,
        F64_1D,
        I64_1D,
        F64_1D,
        F64_1D,
        I64_2D,
        I64_1D,
        I64_2D,
        I64_2D,
        I64_2D,
        I64_2D,
        I64_2D,
        I64_1D,
        I64_1D,
        I64_2D,
        I64_2D,
        F64_1D,
    ),
    cache=True,
)
def run_flow(
    out,
    target,
    rng,
    g,
    fair,
    sigma,
    open_fair,
    spread,
    luld_pct,
    cum_w,
    makers,
    live_n,
    o_ref,
    o_side,
    o_px,
    o_sh,
    recent,
    recent_pos,
    halted,
    halts,
    sched,
    ginv,
):
    """Emit at least ``target`` messages of the current segment (fewer if it ends first;
    ``out`` needs MAX_FILLS rows of slack). Returns the number of records written."""
    book = (live_n, o_ref, o_side, o_px, o_sh)
    nsym = live_n.shape[0] - 1
    span_s = g[G_SEG_SPAN] / 1e9
    n = 0
    while n < target and g[G_SEG_DONE] < g[G_SEG_TOTAL]:
        seg_rem = g[G_SEG_TOTAL] - g[G_SEG_DONE]
        ts = _event_ts(rng, g, ginv)
        if g[G_SEED_NEXT] < SEED_ORDERS * nsym:
            k = _seed_order(out, n, ts, rng, g, fair, spread, makers, recent, recent_pos, book)
        else:
            owed = _obligations(g, halts)
            k = _halt_step(out, n, ts, g, halts, halted, fair, luld_pct, seg_rem <= owed)
            if k == 0 and g[G_SCHED_NEXT] < sched.shape[0]:
                if g[G_SEG_DONE] >= sched[g[G_SCHED_NEXT], 0]:
                    kind = sched[g[G_SCHED_NEXT], 1]
                    g[G_SCHED_NEXT] += 1
                    room = seg_rem - owed
                    k = _admin(
                        out, n, ts, rng, kind, room, g, halts, halted, fair, open_fair, makers,
                        span_s,
                    )  # fmt: skip
            if k == 0:
                s = _pick_symbol(rng, cum_w, halted)
                k = _market_event(
                    out, n, ts, rng, s, seg_rem - owed, g, fair, sigma, spread, makers, recent,
                    recent_pos, book,
                )  # fmt: skip
        n += k
        g[G_SEG_DONE] += k
    return n


@njit(void(I64_1D, I64_2D, I64_2D, I64_2D), cache=True)
def touch_all(live_n, o_side, o_px, res):
    """Best bid and best ask (ticks, -1 for an empty side) per locate into ``res[:, 0:2]``."""
    for s in range(1, live_n.shape[0]):
        bb, ba, nb, na = _touch(s, live_n, o_side, o_px)
        res[s, 0] = bb
        res[s, 1] = ba
