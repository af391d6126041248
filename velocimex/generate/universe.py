"""The instruments of a synthetic session and their static market parameters.

Everything here is drawn once per session from ``numpy.random.default_rng(seed)``, so a seed
fixes the tickers, opening prices, volatilities, spreads and activity of every symbol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Real NASDAQ market-maker IDs, used as F-message attribution and in L messages.
MPIDS: tuple[str, ...] = (
    "GSCO", "MSCO", "CDEL", "VIRT", "CITD", "JPMS", "UBSS", "NITE", "HRTF", "SUSQ",
    "JNST", "BOFA", "ETMM", "IMCC", "OPCO", "RBCM", "TMBR", "WEXX", "XTXE", "FLTR",
)  # fmt: skip
MAKERS_PER_SYMBOL = 4
ROUND_LOT = 100
# Price in ITCH units (1/10000 dollar) of one tick for stocks priced at $1 or more.
TICK = 100


@dataclass(frozen=True)
class Universe:
    """Per-symbol parameters; arrays are indexed by stock locate (index 0 unused)."""

    tickers: tuple[str, ...]  # tickers[locate - 1]
    open_ticks: np.ndarray  # opening fair value, in ticks (cents)
    daily_vol: np.ndarray  # standard deviation of the day's log return
    spread_ticks: np.ndarray  # the spread makers quote around fair value, in ticks
    activity: np.ndarray  # share of the order flow, sums to 1 over locates 1..N
    makers: np.ndarray  # [locate, MAKERS_PER_SYMBOL] indices into MPIDS
    luld_tier: np.ndarray  # 1 or 2 (ASCII digit in the R message)

    @property
    def symbols(self) -> int:
        return len(self.tickers)


def make_tickers(rng: np.random.Generator, count: int) -> tuple[str, ...]:
    """Distinct 3- and 4-letter tickers (most NASDAQ listings have four letters)."""
    letters = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        size = 3 if rng.random() < 0.3 else 4
        name = bytes(rng.choice(letters, size)).decode("ascii")
        if name not in seen:
            seen.add(name)
            out.append(name)
    return tuple(out)


def make_universe(symbols: int, seed: int) -> Universe:
    if symbols < 1:
        raise ValueError(f"need at least one symbol, got {symbols}")
    if symbols > 65535:
        raise ValueError(f"ITCH stock locates are 16-bit: at most 65535 symbols, got {symbols}")
    rng = np.random.default_rng([seed, 0x5E551])
    tickers = make_tickers(rng, symbols)
    pad = np.zeros(1)
    # Listed-equity prices are roughly log-normal; keep them in the $1-tick regime.
    dollars = np.clip(np.exp(rng.normal(np.log(40.0), 0.9, symbols)), 3.0, 900.0)
    open_ticks = np.concatenate([pad, np.round(dollars * 100.0)])
    daily_vol = np.concatenate([pad, rng.uniform(0.008, 0.035, symbols)])
    # Quoted spreads are a few basis points of price, never under one tick.
    spread_bps = rng.uniform(2.0, 6.0, symbols)
    spread_ticks = np.concatenate(
        [pad, np.maximum(1.0, np.round(open_ticks[1:] * spread_bps / 1e4))]
    ).astype(np.int64)
    # Activity across stocks is heavy-tailed (Zipf-like): a few names carry most messages.
    weights = 1.0 / np.arange(1, symbols + 1) ** 0.8
    rng.shuffle(weights)
    activity = np.concatenate([pad, weights / weights.sum()])
    makers = np.zeros((symbols + 1, MAKERS_PER_SYMBOL), dtype=np.int64)
    for loc in range(1, symbols + 1):
        makers[loc] = rng.choice(len(MPIDS), MAKERS_PER_SYMBOL, replace=False)
    luld_tier = np.concatenate([[0], np.where(dollars > 20.0, 1, 2)]).astype(np.int64)
    return Universe(tickers, open_ticks, daily_vol, spread_ticks, activity, makers, luld_tier)
