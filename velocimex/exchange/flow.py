"""Background order flow from simulated participants, entered through the matching engine.

Per symbol a latent fair value follows a random walk in ticks. Makers quote around it (most
orders at or one tick behind the touch, a few deeper; some hidden, some attributed to an
MPID), cancel or shrink their oldest orders and re-price them with replaces; takers send
IOC or market orders that cross the spread. The same ideas as ``velocimex.generate``, but
every action is a real order, so the ITCH it produces is the matching engine's own.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from velocimex.exchange.matching import BUY, SELL, TIF_DAY, TIF_IOC, MatchingEngine

TICK = 100  # $0.01 in ITCH price units
ROUND_LOT = 100
MPIDS = ("GSCO", "MSCO", "VIRT", "CITD", "JPMS", "NITE", "SUSQ", "JNST")
FLOW_OWNER = "FLOW"


@dataclass
class _SymbolState:
    locate: int
    fair_ticks: int


class ParticipantFlow:
    """Seeded random participants. ``step()`` performs one action on a random symbol."""

    def __init__(
        self,
        engine: MatchingEngine,
        locates: list[int],
        seed: int = 1,
        start_price: int = 100_0000,
        max_orders_per_symbol: int = 60,
    ) -> None:
        if not locates:
            raise ValueError("participant flow needs at least one symbol")
        self.engine = engine
        self.rng = random.Random(seed)
        self.max_orders = max_orders_per_symbol
        self.symbols = [
            _SymbolState(loc, max(200, start_price // TICK + self.rng.randint(-2000, 2000) * 1))
            for loc in locates
        ]
        self.actions = 0

    def _own_orders(self, locate: int):
        return [o for o in self.engine.resting_orders(locate) if o.owner == FLOW_OWNER and o.shares]

    def step(self) -> None:
        rng = self.rng
        st = rng.choice(self.symbols)
        st.fair_ticks = max(100, st.fair_ticks + rng.choice((-1, 0, 0, 0, 1)))
        own = self._own_orders(st.locate)
        r = rng.random()
        if len(own) > self.max_orders or (own and r < 0.25):
            order = own[0] if rng.random() < 0.7 else rng.choice(own)
            if rng.random() < 0.2 and order.shares > ROUND_LOT:
                self.engine.cancel(order.order_ref, order.shares - ROUND_LOT)
            else:
                self.engine.cancel(order.order_ref)
        elif own and r < 0.35:
            order = rng.choice(own)
            ticks = rng.choice((-1, 1))
            new_price = max(TICK, order.price + ticks * TICK)
            if rng.random() < 0.3:
                new_price, shares = order.price, max(1, order.shares // 2)
            else:
                shares = order.shares
            self.engine.replace(order.order_ref, shares, new_price)
        elif r < 0.45:
            side = rng.choice((BUY, SELL))
            shares = ROUND_LOT * rng.randint(1, 5)
            if rng.random() < 0.3:
                self.engine.submit(st.locate, side, shares, None, owner=FLOW_OWNER)
            else:
                # Marketable limit a tick through fair value: takes the touch if it is there.
                ticks = st.fair_ticks + (1 if side == BUY else -1)
                self.engine.submit(
                    st.locate, side, shares, ticks * TICK, tif=TIF_IOC, owner=FLOW_OWNER
                )
        else:
            side = rng.choice((BUY, SELL))
            away = rng.choice((1, 1, 1, 2, 2, 3, 5, 8))
            ticks = st.fair_ticks - away if side == BUY else st.fair_ticks + away
            hidden = rng.random() < 0.05
            attribution = rng.choice(MPIDS) if rng.random() < 0.2 else None
            self.engine.submit(
                st.locate,
                side,
                ROUND_LOT * rng.randint(1, 10),
                max(1, ticks) * TICK,
                tif=TIF_DAY,
                display=not hidden,
                attribution=attribution,
                owner=FLOW_OWNER,
            )
        self.actions += 1
