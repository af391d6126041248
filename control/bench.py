"""Order-path figures: ``python -m velocimex.control.bench [--orders N]``.

Measures, on this machine, with journals in a temporary directory:
- pre-trade checks per second (RiskManager.check_order, audit log written, no fsync);
- order path latency, strategy decision -> risk -> journal -> OUCH bytes on a socket, p50/p99,
  with and without fsync of the journal;
- strategy evaluation latency (the market maker's on_book_top), p50/p99.
"""

from __future__ import annotations

import argparse
import json
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal
from velocimex.control.order_manager import OrderManager
from velocimex.control.risk import RiskLimits, RiskManager
from velocimex.control.strategies.market_maker import InventoryMarketMaker, MarketMakerParams
from velocimex.control.strategy import StrategyContext
from velocimex.control.venue import RecordingVenue, VenueSessionBase

from velocimex.domain import BookTop, Instrument, Order, Side
from velocimex.wire import ouch

AAPL = Instrument("AAPL", locate=7)
BID, ASK = 1_500_000, 1_500_100
# Wide limits so every order passes every check (the slow path): the bench orders repeat
# prices, which the duplicate check would otherwise cut short.
LIMITS = RiskLimits(
    duplicate_window_ms=0,
    max_messages_per_second=10**9,
    max_open_orders=10**9,
    max_position=10**12,
    max_gross_exposure=10**18,
)


class OuchSocketVenue(VenueSessionBase):
    """Encodes each order as an OUCH Enter Order in a SoupBinTCP 'U' packet onto a socket."""

    name = "bench"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.ref = 0

    def _transmit_order(self, order: Order) -> None:
        self.ref += 1
        body = ouch.encode(
            ouch.INBOUND, "O", user_ref_num=self.ref, side=str(order.side),
            quantity=order.quantity, symbol=order.symbol, price=order.price or 0,
            time_in_force="0", display="Y", capacity="A", intermarket_sweep_eligibility="N",
            cross_type="N", cl_ord_id=order.client_order_id[:14],
        )  # fmt: skip
        self.sock.sendall(len(body).to_bytes(2, "big") + b"U" + body)

    def _transmit_cancel(self, order: Order) -> None:
        pass


def bench_risk_checks(n: int, tmp: Path) -> float:
    audit = Journal(tmp / "risk_audit.jsonl", fsync=False)
    risk = RiskManager(RecordingVenue(), audit, [AAPL], LIMITS)
    risk.on_book_top(BookTop(7, 1, 0, 0, BID, 100, ASK, 100))
    book = OrderManager(Journal(tmp / "risk_orders.jsonl", fsync=False), risk)
    orders = [Order(f"B{i}", "AAPL", Side.BUY, 100, price=BID - i % 50) for i in range(n)]
    started = time.perf_counter()
    for order in orders:
        risk.check_order(order, book)
    return n / (time.perf_counter() - started)


def bench_order_path(n: int, tmp: Path, fsync: bool) -> np.ndarray:
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    sub = tmp / ("fsync" if fsync else "nofsync")
    core = TradingCore(sub, [AAPL], OuchSocketVenue(ours), LIMITS, fsync=fsync)
    core.on_book_top(BookTop(7, 1, 0, 0, BID, 100, ASK, 100))
    lat = np.empty(n)
    for i in range(n):
        started = time.perf_counter_ns()
        core.orders.submit("AAPL", Side.BUY, 100, price=BID - i % 50)
        lat[i] = time.perf_counter_ns() - started
        if i % 64 == 0:
            try:
                while theirs.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
    core.close()
    return lat


def bench_strategy(n: int) -> np.ndarray:
    mm = InventoryMarketMaker("mm", MarketMakerParams(symbol="AAPL"))
    ctx = StrategyContext(0, {"AAPL": 0}, [], {"AAPL": AAPL})
    tops = [BookTop(7, i, 0, 0, BID + i % 7 * 100, 100, ASK + i % 7 * 100, 100) for i in range(n)]
    lat = np.empty(n)
    for i, top in enumerate(tops):
        started = time.perf_counter_ns()
        mm.on_book_top("AAPL", top, ctx)
        lat[i] = time.perf_counter_ns() - started
    return lat


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders per measurement")
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        checks = bench_risk_checks(args.orders, tmp)
        path = bench_order_path(args.orders, tmp, fsync=False)
        path_fsync = bench_order_path(min(args.orders, 2_000), tmp, fsync=True)
    strat = bench_strategy(args.orders)

    def pct(a: np.ndarray) -> dict[str, float]:
        return {
            "p50_us": float(np.percentile(a, 50) / 1e3),
            "p99_us": float(np.percentile(a, 99) / 1e3),
        }

    figures = {
        "risk_checks_per_second": round(checks),
        "order_path_no_fsync": pct(path),
        "order_path_fsync": pct(path_fsync),
        "strategy_evaluation": pct(strat),
        "orders": args.orders,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
