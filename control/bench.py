"""Order-path figures: ``python -m velocimex.control.bench [--orders N]``.

Measures, on this machine, with journals in a temporary directory:
- pre-trade checks per second: ``RiskManager.check_order`` on orders that pass every check
  (duplicate detection on, every order distinct), each decision's audit record written to the
  OS; the median and best of several batches, and the CPU time per check; then the same with
  ten of our own sells working above the buys (``risk_checks_with_working_sells``), so the
  self-trade check reads our working orders on every check;
- order path latency p50/p99/p99.9: ``OrderManager.submit`` (what a strategy's intent calls)
  -> risk checks -> audit + write-ahead order journal -> OUCH Enter Order in a SoupBinTCP
  packet written to a socket, in each journal durability mode: ``group`` (records written to
  the OS before the order leaves, fsync batched on a dedicated thread: the default of
  ``TradingCore`` and ``velocimex serve``), ``fsync`` (an fsync per record before the order
  leaves: ``velocimex serve --journal-fsync-per-record``) and ``none`` (no fsync: what the
  backtester uses);
- strategy evaluation latency p50/p99/p99.9 of each shipped signal strategy's ``on_book_top``.

Latencies are wall clock (``perf_counter_ns``); ``cpu_p50_us``/``cpu_p99_us`` are the same calls'
on-CPU time (``thread_time_ns``), which leaves out time the thread spent preempted: on a shared
machine the wall-clock tail is mostly other processes' time slices.
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from velocimex.control.core import TradingCore
from velocimex.control.journal import Journal
from velocimex.control.order_manager import OrderManager
from velocimex.control.risk import RiskLimits, RiskManager
from velocimex.control.strategies.imbalance_taker import ImbalanceParams, ImbalanceTaker
from velocimex.control.strategies.market_maker import InventoryMarketMaker, MarketMakerParams
from velocimex.control.strategies.pairs import PairsParams, PairsTrader
from velocimex.control.strategy import Strategy, StrategyContext, WorkingOrder
from velocimex.control.venue import RecordingVenue, VenueSessionBase

from velocimex.domain import BookTop, Instrument, Order, OrderType, Side
from velocimex.wire import ouch

AAPL = Instrument("AAPL", locate=7)
MSFT = Instrument("MSFT", locate=9)
BID, ASK = 1_500_000, 1_500_100
# Wide enough that every order passes every check (the slow path: nothing short-circuits);
# duplicate detection stays on at its default window and the bench orders are all distinct.
LIMITS = RiskLimits(
    max_messages_per_second=10**9,
    max_open_orders=10**9,
    max_position=10**12,
    max_gross_exposure=10**18,
)
DURABILITY_MODES = {
    # name: (fsync, group_commit)
    "fsync": (True, False),
    "group": (True, True),
    "none": (False, False),
}
DEFAULT_MODE = "group"
# Our own working sells in the second risk figure: a market maker's few quote levels.
SELF_TRADE_SELLS = 10
_SOUP_HEADER = struct.Struct(">Hc")


def bench_order(i: int) -> tuple[int, int]:
    """(price, quantity) of the i-th bench order: distinct for 500,000 orders."""
    return BID - i % 50, 1 + i // 50 % 10_000


class OuchSocketVenue(VenueSessionBase):
    """Each order as an OUCH Enter Order in a SoupBinTCP 'U' packet, written to a socket from
    one reused packet buffer (the OUCH venue session's packer)."""

    name = "bench"

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self.sock = sock
        self.ref = 0
        self.packer = ouch.EnterOrderPacker()
        self.packet = bytearray(_SOUP_HEADER.size + self.packer.size)
        _SOUP_HEADER.pack_into(self.packet, 0, 1 + self.packer.size, b"U")

    def _transmit_order(self, order: Order) -> None:
        self.ref += 1
        ioc = order.order_type is OrderType.IOC
        self.packer.pack_into(
            self.packet, _SOUP_HEADER.size, self.ref, order.side, order.quantity, order.symbol,
            order.price or 0, ouch.TIF_IOC if ioc else ouch.TIF_DAY, order.client_order_id[:14],
        )  # fmt: skip
        self.sock.sendall(self.packet)

    def _transmit_cancel(self, order: Order) -> None:
        pass


def _percentiles(ns: np.ndarray, cpu_ns: np.ndarray | None = None) -> dict[str, float]:
    """Wall-clock percentiles; with ``cpu_ns``, also the thread's on-CPU time per call, which
    leaves out the time the thread was preempted (on a shared machine the wall tail is
    mostly other processes' time slices)."""
    out = {
        "p50_us": round(float(np.percentile(ns, 50)) / 1e3, 2),
        "p99_us": round(float(np.percentile(ns, 99)) / 1e3, 2),
        "p99.9_us": round(float(np.percentile(ns, 99.9)) / 1e3, 2),
    }
    if cpu_ns is not None:
        out["cpu_p50_us"] = round(float(np.percentile(cpu_ns, 50)) / 1e3, 2)
        out["cpu_p99_us"] = round(float(np.percentile(cpu_ns, 99)) / 1e3, 2)
    return out


def bench_risk_checks(
    n: int, tmp: Path, batches: int = 5, working_sells: int = 0
) -> dict[str, float]:
    """Checks per second of buys that pass every check. With ``working_sells``, that many of
    our own sells rest above every bench buy first: the self-trade check then reads the
    working orders on every check (and finds no cross)."""
    name = f"risk_{working_sells}"
    audit = Journal(tmp / f"{name}_audit.jsonl", fsync=False)
    risk = RiskManager(RecordingVenue(), audit, [AAPL], LIMITS)
    risk.on_book_top(BookTop(7, 1, 0, 0, BID, 100, ASK, 100))
    book = OrderManager(Journal(tmp / f"{name}_orders.jsonl", fsync=False), risk)
    # Wired as TradingCore wires them: the self-trade check keeps its index from the events.
    risk.attach_order_book(book, book.cancel_all)
    book.subscribe(risk.on_order_event)
    for k in range(working_sells):
        resting = book.submit("AAPL", Side.SELL, 100, price=ASK + 100 * k, strategy_id="mm")
        if resting.reason:
            raise RuntimeError(f"bench resting sell refused: {resting.reason}")
    per_batch = max(1, n // batches)
    rates, cpu = [], []
    for b in range(batches):
        orders = []
        for i in range(b * per_batch, (b + 1) * per_batch):
            price, qty = bench_order(i)
            orders.append(Order(f"B{i}", "AAPL", Side.BUY, qty, price=price))
        risk.on_book_top(BookTop(7, 1, 0, 0, BID, 100, ASK, 100))
        wall, proc = time.perf_counter(), time.process_time()
        for order in orders:
            if not risk.check_order(order, book).approved:
                raise RuntimeError(f"bench order refused: {order}")
        proc, wall = time.process_time() - proc, time.perf_counter() - wall
        rates.append(per_batch / wall)
        cpu.append(proc / per_batch * 1e6)
    audit.close()
    book.journal.close()
    figures = {
        "median_per_second": round(statistics.median(rates)),
        "best_per_second": round(max(rates)),
        "cpu_us_per_check": round(statistics.median(cpu), 2),
        "checks": per_batch * batches,
    }
    return {**figures, "working_sells": working_sells} if working_sells else figures


def bench_order_path(n: int, tmp: Path, mode: str, *, tune_gc: bool = True) -> dict[str, Any]:
    fsync, group = DURABILITY_MODES[mode]
    ours, theirs = socket.socketpair()
    theirs.setblocking(False)
    core = TradingCore(
        tmp / mode,
        [AAPL],
        OuchSocketVenue(ours),
        LIMITS,
        fsync=fsync,
        group_commit=group,
        tune_gc=tune_gc,
    )
    top = BookTop(7, 1, 0, 0, BID, 100, ASK, 100)
    core.on_book_top(top)
    lat, cpu = np.empty(n), np.empty(n)
    received = 0
    clock, thread_clock = time.perf_counter_ns, time.thread_time_ns
    collections, gc_callback = _gc_recorder()
    gc.callbacks.append(gc_callback)
    for i in range(n):
        price, qty = bench_order(i)
        on_cpu = thread_clock()
        started = clock()
        record = core.orders.submit("AAPL", Side.BUY, qty, price=price)
        lat[i] = clock() - started
        cpu[i] = thread_clock() - on_cpu
        if record.reason:
            raise RuntimeError(f"bench order refused: {record.reason}")
        if i % 64 == 0:
            received += _drain(theirs)
            core.on_book_top(top)  # the feed keeps the market data fresh
    gc.callbacks.remove(gc_callback)
    core.close()  # waits for the last group fsync
    received += _drain(theirs)
    ours.close()
    theirs.close()
    packet = _SOUP_HEADER.size + ouch.EnterOrderPacker().size
    if received != n * packet:
        raise RuntimeError(f"{received} bytes on the wire, expected {n * packet}")
    records = 2 * n  # one audit record and one journal record per order
    return {
        **_percentiles(lat, cpu),
        "orders": n,
        "fsyncs": core.journal.fsyncs + core.audit.fsyncs,
        "records": records,
        "gc_collections": _gc_summary(collections),
    }


def _gc_recorder() -> tuple[list[tuple[int, int]], Callable[[str, dict[str, int]], None]]:
    """(generation, pause ns) of every collection while the callback is registered."""
    collections: list[tuple[int, int]] = []
    started = [0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter_ns()
        else:
            collections.append((info["generation"], time.perf_counter_ns() - started[0]))

    return collections, callback


def _gc_summary(collections: list[tuple[int, int]]) -> dict[str, dict[str, float]]:
    out = {}
    for gen in range(3):
        pauses = [ns for g, ns in collections if g == gen]
        if pauses:
            out[f"gen{gen}"] = {
                "count": len(pauses),
                "median_us": round(statistics.median(pauses) / 1e3, 1),
                "max_us": round(max(pauses) / 1e3, 1),
            }
    return out


def _drain(sock: socket.socket) -> int:
    got = 0
    try:
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
    except BlockingIOError:
        pass
    return got


def _mm_case(n: int) -> tuple[Strategy, list[tuple[str, BookTop]], StrategyContext]:
    mm = InventoryMarketMaker("mm", MarketMakerParams(symbol="AAPL"))
    # Two resting quotes, as the host would pass them: some updates keep them, some requote.
    working = [
        WorkingOrder("VX1", "AAPL", Side.BUY, BID - 100, 100, False),
        WorkingOrder("VX2", "AAPL", Side.SELL, ASK + 100, 100, False),
    ]
    ctx = StrategyContext(0, {"AAPL": 300}, working, {"AAPL": AAPL})
    tops = [
        ("AAPL", BookTop(7, i, i, 0, BID + i % 7 * 100, 100, ASK + i % 7 * 100, 100))
        for i in range(n)
    ]
    return mm, tops, ctx


def _imbalance_case(n: int) -> tuple[Strategy, list[tuple[str, BookTop]], StrategyContext]:
    taker = ImbalanceTaker("imb", ImbalanceParams(symbol="AAPL", cooldown_ns=1_000))
    ctx = StrategyContext(0, {"AAPL": 0}, [], {"AAPL": AAPL})
    tops = [
        ("AAPL", BookTop(7, i, i * 100, 0, BID, 100 + i % 13 * 100, ASK, 100 + i % 7 * 150))
        for i in range(n)
    ]
    return taker, tops, ctx


def _pairs_case(n: int) -> tuple[Strategy, list[tuple[str, BookTop]], StrategyContext]:
    pairs = PairsTrader("pairs", PairsParams(symbol_a="AAPL", symbol_b="MSFT"))
    ctx = StrategyContext(0, {}, [], {"AAPL": AAPL, "MSFT": MSFT})
    tops = []
    for i in range(n):
        wobble = (i * 7919) % 41 * 100 - 2000
        if i % 2:
            tops.append(("MSFT", BookTop(9, i, i, 0, 900_000, 100, 900_100, 100)))
        else:
            tops.append(("AAPL", BookTop(7, i, i, 0, BID + wobble, 100, ASK + wobble, 100)))
    return pairs, tops, ctx


STRATEGY_CASES = {
    "market_maker": _mm_case,
    "imbalance_taker": _imbalance_case,
    "pairs": _pairs_case,
}


def bench_strategy(name: str, n: int) -> dict[str, float]:
    strategy, tops, ctx = STRATEGY_CASES[name](n)
    lat, cpu = np.empty(n), np.empty(n)
    intents = 0
    clock, thread_clock = time.perf_counter_ns, time.thread_time_ns
    for i, (symbol, top) in enumerate(tops):
        on_cpu = thread_clock()
        started = clock()
        out = strategy.on_book_top(symbol, top, ctx)
        lat[i] = clock() - started
        cpu[i] = thread_clock() - on_cpu
        intents += len(out)
    return {**_percentiles(lat, cpu), "updates": n, "intents": intents}


def _load_revision(rev: str) -> None:
    """Rebind the journal and order manager used by the core and this bench to the source of
    ``rev`` (``git show``), so one tree measures both sides of a change to them."""
    import importlib.util
    import subprocess
    import sys

    from velocimex.control import core

    checkout = Path(__file__).resolve().parent.parent
    loaded = {}
    for name in ("journal", "order_manager"):
        source = subprocess.run(
            ["git", "-C", str(checkout), "show", f"{rev}:control/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        module_name = f"velocimex.control.{name}"
        spec = importlib.util.spec_from_loader(module_name, loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # the old order manager imports the old journal
        exec(compile(source, f"{rev}:control/{name}.py", "exec"), module.__dict__)
        loaded[name] = module
    core.Journal = loaded["journal"].Journal  # type: ignore[attr-defined]
    core.OrderManager = loaded["order_manager"].OrderManager  # type: ignore[attr-defined]
    globals()["Journal"] = loaded["journal"].Journal
    globals()["OrderManager"] = loaded["order_manager"].OrderManager


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders per measurement")
    parser.add_argument(
        "--fsync-orders", type=int, default=2_000, help="orders in the fsync-per-record mode"
    )
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    parser.add_argument(
        "--no-tune-gc",
        action="store_true",
        help="keep CPython's default collector thresholds (TradingCore(tune_gc=False))",
    )
    parser.add_argument(
        "--modes",
        default=",".join(DURABILITY_MODES),
        help="durability modes to measure, comma separated (default: all)",
    )
    parser.add_argument(
        "--journal-rev",
        metavar="REV",
        help="A/B against earlier code: the order path with control/journal.py and "
        "control/order_manager.py as of git revision REV of this checkout, the rest as is",
    )
    args = parser.parse_args(argv)
    if args.journal_rev:
        _load_revision(args.journal_rev)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        checks = bench_risk_checks(args.orders, tmp)
        # Quoting both sides: every new buy has our own sells working against it.
        checks_quoting = bench_risk_checks(args.orders, tmp, working_sells=SELF_TRADE_SELLS)
        paths = {
            mode: bench_order_path(
                min(args.orders, args.fsync_orders) if mode == "fsync" else args.orders,
                tmp,
                mode,
                tune_gc=not args.no_tune_gc,
            )
            for mode in args.modes.split(",")
        }
    strategies = {name: bench_strategy(name, args.orders) for name in STRATEGY_CASES}
    figures = {
        "risk_checks": checks,
        "risk_checks_with_working_sells": checks_quoting,
        "order_path": {"default_mode": DEFAULT_MODE, **paths},
        "strategy_evaluation": strategies,
        "orders": args.orders,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
