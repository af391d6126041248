"""One synthetic NASDAQ trading day: session structure around the simulated order flow.

Layout (timestamps are nanoseconds since midnight)::

  09:25:00  S 'O', S 'S', V, R x N (locates 1..N), H 'T' x N
  09:25:01  pre-market order flow (opening books seeded first)
  09:29:59  I x N (opening NOII)            09:30:00  Q 'O' x N, S 'Q'
  09:30:00  continuous order flow, admin events, halts (until 15:59:59.9)
  15:59:59  I x N (closing NOII)            16:00:00  Q 'C' x N, S 'M'
  16:05:00  S 'E', S 'C'
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from velocimex.generate import market as m
from velocimex.generate.encode import encode_records
from velocimex.generate.universe import MPIDS, ROUND_LOT, TICK, Universe, make_universe
from velocimex.wire import itch

NS = 1_000_000_000
SESSION_START = (9 * 3600 + 25 * 60) * NS
PREMARKET_FLOW = SESSION_START + 1 * NS
OPENING_NOII = (9 * 3600 + 29 * 60 + 59) * NS
MARKET_OPEN = (9 * 3600 + 30 * 60) * NS
CLOSING_NOII = (15 * 3600 + 59 * 60 + 59) * NS + 900_000_000
MARKET_CLOSE = 16 * 3600 * NS
SESSION_END = (16 * 3600 + 5 * 60) * NS
ADMIN_GAP = 1_000  # ns between consecutive administrative messages

MAX_SYMBOLS = 10_000  # bounds the simulation's per-symbol order arrays (~16 KiB each)
CHUNK_MESSAGES = 1 << 18  # messages per encoded chunk: bounds memory for any session size
# Intraday activity is U-shaped: this many times busier at the open and close than midday.
OPEN_CLOSE_ACTIVITY = 3.0
PREMARKET_SHARE = 1 / 40  # of the order flow, in the five pre-market minutes


def fixed_messages(symbols: int) -> int:
    """Messages of a session that are not order flow: six S, one V, and per symbol R, H and an
    I and a Q at each cross."""
    return 6 * symbols + 7


def minimum_messages(symbols: int) -> int:
    """Smallest session: fixed messages, the seeded opening books, a little trading."""
    return fixed_messages(symbols) + (m.SEED_ORDERS + 1) * symbols + 2 * symbols


def plan_flow(symbols: int, messages: int) -> tuple[int, int]:
    """Split the order-flow messages into (pre-market, continuous trading)."""
    if not 1 <= symbols <= MAX_SYMBOLS:
        raise ValueError(f"symbols must be in 1..{MAX_SYMBOLS}, got {symbols}")
    if messages < minimum_messages(symbols):
        raise ValueError(
            f"{messages} messages cannot hold a session of {symbols} symbols: the structure "
            f"alone takes {fixed_messages(symbols)}; use at least {minimum_messages(symbols)}"
        )
    flow = messages - fixed_messages(symbols)
    premarket = max((m.SEED_ORDERS + 1) * symbols, int(flow * PREMARKET_SHARE))
    return premarket, flow - premarket


def intraday_quantiles(points: int = 4097, activity: float = OPEN_CLOSE_ACTIVITY) -> np.ndarray:
    """Inverse CDF of a U-shaped intensity 1 + (activity - 1)(2x - 1)^2 over the day [0, 1]."""
    x = np.linspace(0.0, 1.0, points)
    intensity = 1.0 + (activity - 1.0) * (2.0 * x - 1.0) ** 2
    cdf = np.concatenate([[0.0], np.cumsum((intensity[1:] + intensity[:-1]) * 0.5)])
    cdf /= cdf[-1]
    return np.interp(x, cdf, x)


@dataclass
class _Market:
    """The simulation's state arrays (see market.run_flow) for one session."""

    universe: Universe
    seed: int
    continuous: int
    rng: np.ndarray = field(init=False)
    g: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        u = self.universe
        n = u.symbols + 1
        self.rng = np.array([self.seed * 0x9E3779B97F4A7C15 % (1 << 64)], dtype=np.uint64)
        self.g = np.zeros(m.G_SIZE, dtype=np.int64)
        self.g[m.G_NEXT_REF] = 1
        self.g[m.G_NEXT_MATCH] = 1
        self.g[m.G_LAST_TS] = SESSION_START
        self.fair = u.open_ticks.astype(np.float64).copy()
        self.open_fair = self.fair.copy()
        # Per-event volatility: the symbol's events over the day compound to its daily vol.
        events = np.maximum(1.0, self.continuous * u.activity)
        self.sigma = u.daily_vol / np.sqrt(events)
        self.spread = u.spread_ticks.copy()
        self.luld_pct = np.where(u.luld_tier == 1, 0.05, 0.10).astype(np.float64)
        self.cum_w = np.cumsum(u.activity[1:])
        self.makers = u.makers
        self.live_n = np.zeros(n, dtype=np.int64)
        shape = (n, m.CAPACITY)
        self.o_ref, self.o_side = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        self.o_px, self.o_sh = np.zeros(shape, np.int64), np.zeros(shape, np.int64)
        self.recent = np.zeros((n, m.RECENT), dtype=np.int64)
        self.recent_pos = np.zeros(n, dtype=np.int64)
        self.halted = np.zeros(n, dtype=np.int64)
        self.halts = np.zeros((m.MAX_HALTS, 4), dtype=np.int64)
        self.sched = np.zeros((0, 2), dtype=np.int64)
        self.ginv = np.linspace(0.0, 1.0, 2)
        self.records = np.zeros((CHUNK_MESSAGES + m.MAX_FILLS + 1, m.N_COLS), dtype=np.int64)

    def start_segment(
        self, total: int, t0: int, t1: int, ginv: np.ndarray, sched: np.ndarray
    ) -> None:
        self.g[m.G_SEG_DONE] = 0
        self.g[m.G_SEG_TOTAL] = total
        self.g[m.G_SEG_T0] = t0
        self.g[m.G_SEG_SPAN] = t1 - t0
        self.g[m.G_SCHED_NEXT] = 0
        self.ginv = np.ascontiguousarray(ginv, dtype=np.float64)
        self.sched = np.ascontiguousarray(sched, dtype=np.int64)

    def segment_done(self) -> bool:
        return bool(self.g[m.G_SEG_DONE] >= self.g[m.G_SEG_TOTAL])

    def run(self, target: int) -> np.ndarray:
        count = m.run_flow(
            self.records, target, self.rng, self.g, self.fair, self.sigma, self.open_fair,
            self.spread, self.luld_pct, self.cum_w, self.makers, self.live_n, self.o_ref,
            self.o_side, self.o_px, self.o_sh, self.recent, self.recent_pos, self.halted,
            self.halts, self.sched, self.ginv,
        )  # fmt: skip
        return self.records[:count]

    def touch(self) -> np.ndarray:
        """[locate, 0] best bid, [locate, 1] best ask, in ticks."""
        res = np.zeros((self.universe.symbols + 1, 2), dtype=np.int64)
        m.touch_all(self.live_n, self.o_side, self.o_px, res)
        return res

    def take_match(self) -> int:
        match = int(self.g[m.G_NEXT_MATCH])
        self.g[m.G_NEXT_MATCH] = match + 1
        return match

    @property
    def last_ts(self) -> int:
        return int(self.g[m.G_LAST_TS])


def admin_schedule(rng: np.random.Generator, symbols: int, continuous: int) -> np.ndarray:
    """(position in the continuous segment, admin kind) rows, sorted by position.

    Every kind occurs once, so every ITCH type appears in a long enough session, plus a
    per-session number in proportion to the symbols (halts and notices are rare per stock).
    """
    per_symbol_rate = {
        m.ADMIN_HALT: 0.01,
        m.ADMIN_LULD: 0.03,
        m.ADMIN_OP_HALT: 0.002,
        m.ADMIN_Y: 0.05,
        m.ADMIN_L: 0.1,
        m.ADMIN_N: 0.2,
        m.ADMIN_B: 0.02,
    }
    kinds = list(range(1, m.ADMIN_KINDS + 1))
    for kind, rate in per_symbol_rate.items():
        kinds += [kind] * int(rng.poisson(rate * symbols))
    at = rng.uniform(0.03, 0.9, len(kinds)) * continuous
    sched = np.array([at.astype(np.int64), kinds], dtype=np.int64).T
    return sched[np.argsort(sched[:, 0], kind="stable")]


class _AdminWriter:
    """Encodes the session-structure messages with ``itch.encode``, timestamps non-decreasing."""

    def __init__(self, market: _Market) -> None:
        self.market = market
        self.blocks: list[bytes] = []

    def add(self, msg_type: str, ts: int, **fields: object) -> None:
        ts = max(ts, self.market.last_ts)
        self.market.g[m.G_LAST_TS] = ts
        msg = itch.encode(msg_type, timestamp=ts, **fields)
        self.blocks.append(len(msg).to_bytes(2, "big") + msg)

    def take(self) -> bytes:
        out = b"".join(self.blocks)
        self.blocks = []
        return out


def _header(w: _AdminWriter, u: Universe, rng: np.random.Generator) -> None:
    w.add("S", SESSION_START, event_code="O")
    w.add("S", SESSION_START + ADMIN_GAP, event_code="S")
    # MWCB levels: 7/13/20% below the prior S&P 500 close, 8 implied decimals.
    spx = round(rng.uniform(4000.0, 7000.0), 2)
    w.add(
        "V",
        SESSION_START + 2 * ADMIN_GAP,
        level1=round(spx * 0.93 * 100) * 10**6,
        level2=round(spx * 0.87 * 100) * 10**6,
        level3=round(spx * 0.80 * 100) * 10**6,
    )
    ts = SESSION_START + 3 * ADMIN_GAP
    for loc, ticker in enumerate(u.tickers, start=1):
        w.add(
            "R",
            ts,
            stock_locate=loc,
            stock=ticker,
            market_category="QGS"[loc % 3],
            financial_status_indicator="N",
            round_lot_size=ROUND_LOT,
            round_lots_only="N",
            issue_classification="C",
            issue_subtype="Z",
            authenticity="P",
            short_sale_threshold_indicator="N",
            ipo_flag="N",
            luld_reference_price_tier=str(u.luld_tier[loc]),
            etp_flag="N",
            etp_leverage_factor=0,
            inverse_indicator="N",
        )
    for loc, ticker in enumerate(u.tickers, start=1):
        w.add("H", ts + ADMIN_GAP, stock_locate=loc, stock=ticker, trading_state="T")


def _cross(
    w: _AdminWriter,
    market: _Market,
    rng: np.random.Generator,
    cross_type: str,
    noii_ts: int,
    cross_ts: int,
) -> None:
    """NOII then the cross print per symbol, priced inside each symbol's current quote."""
    u = market.universe
    touch = market.touch()
    prices, volumes = [], []
    for loc, ticker in enumerate(u.tickers, start=1):
        bid, ask = int(touch[loc, 0]), int(touch[loc, 1])
        if ask - bid >= 2:
            cross = (bid + ask) // 2
        else:
            cross = bid if rng.random() < 0.5 else ask
        scale = 2e5 * u.activity[loc] * u.symbols * (2.0 if cross_type == "C" else 1.0)
        paired = max(1, int(rng.lognormal(np.log(scale), 0.6) / ROUND_LOT)) * ROUND_LOT
        imbalance = int(rng.integers(0, paired // 4 // ROUND_LOT + 1)) * ROUND_LOT
        direction = "N" if imbalance == 0 else ("B" if rng.random() < 0.5 else "S")
        far = cross + (1 if direction == "B" else -1 if direction == "S" else 0) * int(
            rng.integers(0, 4)
        )
        prices.append(cross)
        volumes.append(paired)
        w.add(
            "I",
            noii_ts,
            stock_locate=loc,
            paired_shares=paired,
            imbalance_shares=imbalance,
            imbalance_direction=direction,
            stock=ticker,
            far_price=far * TICK,
            near_price=cross * TICK,
            current_reference_price=cross * TICK,
            cross_type=cross_type,
            price_variation_indicator="L",
        )
    for loc, ticker in enumerate(u.tickers, start=1):
        w.add(
            "Q",
            cross_ts,
            stock_locate=loc,
            shares=volumes[loc - 1],
            stock=ticker,
            cross_price=prices[loc - 1] * TICK,
            match_number=market.take_match(),
            cross_type=cross_type,
        )


def _flow(market: _Market) -> Iterator[bytes]:
    stocks = np.array([b""] + [t.encode("ascii") for t in market.universe.tickers], dtype="S8")
    mpids = np.array([s.encode("ascii") for s in MPIDS], dtype="S4")
    while not market.segment_done():
        yield encode_records(market.run(CHUNK_MESSAGES), stocks, mpids)


def generate_session(symbols: int, messages: int, seed: int) -> Iterator[bytes]:
    """A synthetic trading day of exactly ``messages`` ITCH messages for ``symbols`` stocks.

    Yields chunks of back-to-back length-prefixed message blocks (BinaryFILE framing), at most
    about ``CHUNK_MESSAGES`` messages each. The same arguments give byte-identical output.
    """
    if not 0 <= seed < 1 << 63:
        raise ValueError(f"seed must be in 0..2**63-1, got {seed}")
    premarket, continuous = plan_flow(symbols, messages)
    universe = make_universe(symbols, seed)
    rng = np.random.default_rng([seed, 0xC055])
    market = _Market(universe, seed, continuous)
    w = _AdminWriter(market)

    _header(w, universe, rng)
    yield w.take()

    market.start_segment(
        premarket,
        PREMARKET_FLOW,
        OPENING_NOII,
        np.linspace(0.0, 1.0, 2),
        np.zeros((0, 2), np.int64),
    )
    yield from _flow(market)

    _cross(w, market, rng, "O", OPENING_NOII, MARKET_OPEN)
    w.add("S", MARKET_OPEN + ADMIN_GAP, event_code="Q")
    yield w.take()

    market.start_segment(
        continuous,
        MARKET_OPEN + 10 * ADMIN_GAP,
        CLOSING_NOII,
        intraday_quantiles(),
        admin_schedule(rng, symbols, continuous),
    )
    yield from _flow(market)

    _cross(w, market, rng, "C", CLOSING_NOII, MARKET_CLOSE)
    w.add("S", MARKET_CLOSE + ADMIN_GAP, event_code="M")
    w.add("S", SESSION_END, event_code="E")
    w.add("S", SESSION_END + ADMIN_GAP, event_code="C")
    yield w.take()
