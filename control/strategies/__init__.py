"""Strategies shipped with Velocimex, by the name the API and the CLI use."""

from __future__ import annotations

from velocimex.control.strategies.execution import Iceberg, Pov, Twap, Vwap
from velocimex.control.strategies.imbalance_taker import ImbalanceTaker
from velocimex.control.strategies.market_maker import InventoryMarketMaker
from velocimex.control.strategies.pairs import PairsTrader
from velocimex.control.strategy import Strategy

BUILTIN_STRATEGIES: dict[str, type[Strategy]] = {
    InventoryMarketMaker.name: InventoryMarketMaker,
    ImbalanceTaker.name: ImbalanceTaker,
    PairsTrader.name: PairsTrader,
    Twap.name: Twap,
    Iceberg.name: Iceberg,
    Vwap.name: Vwap,
    Pov.name: Pov,
}
