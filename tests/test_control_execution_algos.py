"""TWAP, VWAP, POV and iceberg execution strategies through risk and the paper venue, and
traded volume read from a capture."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest
from pydantic import ValidationError
from velocimex.control.core import TradingCore
from velocimex.control.paper_venue import PaperVenue
from velocimex.control.risk import RiskLimits
from velocimex.control.strategies.execution import IcebergParams, PovParams, VwapParams
from velocimex.control.trade_prints import load_trades, trades_for, volume_profile

from tests.manual_clock import ManualClock
from velocimex.domain import BookTop, Instrument, OrderState, Trade
from velocimex.wire import itch

AAA = Instrument("AAA", locate=1)
LIMITS = RiskLimits(duplicate_window_ms=0, max_messages_per_second=10**6)
SEC = 1_000_000_000


def make_core(tmp_path: Path) -> TradingCore:
    return TradingCore(tmp_path, [AAA], PaperVenue([AAA]), LIMITS, fsync=False)


def top(ts: int, bid: int = 100_0000, ask: int = 100_0100, qty: int = 1000) -> BookTop:
    return BookTop(1, ts, ts, 0, bid, qty, ask, qty)


def test_twap_sends_one_slice_per_interval_and_carries_shortfalls(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "twap",
        "twap",
        {"symbol": "AAA", "side": "B", "quantity": 300, "duration_ns": 3 * SEC, "slices": 3},
    )
    core.strategies.start("twap")
    core.on_book_top(top(10 * SEC))
    assert core.orders.position("AAA").quantity == 100
    core.on_book_top(top(10 * SEC + SEC // 2))  # same slice: nothing more
    assert core.orders.position("AAA").quantity == 100
    core.on_book_top(top(11 * SEC, qty=40))  # second slice, only 40 shown: IOC gets 40
    assert core.orders.position("AAA").quantity == 140
    core.on_book_top(top(12 * SEC))  # third slice catches up to the full 300
    assert core.orders.position("AAA").quantity == 300
    core.on_book_top(top(20 * SEC))
    assert core.orders.position("AAA").quantity == 300  # never more than the parent


def test_twap_respects_its_limit_price(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "twap",
        "twap",
        {"symbol": "AAA", "side": "B", "quantity": 100, "duration_ns": SEC, "slices": 1,
         "limit_price": 100_0050},
    )  # fmt: skip
    core.strategies.start("twap")
    core.on_book_top(top(SEC))  # offer 100.01 above the limit
    assert core.orders.position("AAA").quantity == 0
    core.on_book_top(top(2 * SEC, bid=99_9900, ask=100_0000))
    assert core.orders.position("AAA").quantity == 100


def test_iceberg_shows_display_size_and_replenishes_until_done(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    core.strategies.add(
        "ice",
        "iceberg",
        {"symbol": "AAA", "side": "S", "quantity": 250, "display": 100, "price": 100_0100},
    )
    core.strategies.start("ice")
    core.on_book_top(top(1))
    shown = core.orders.open_records()
    assert [(r.order.quantity, r.order.price) for r in shown] == [(100, 100_0100)]
    # Buyers lift our price three times; each time only the shown child trades.
    for ts in (2, 3, 4):
        core.on_book_top(top(ts, bid=100_0100, ask=100_0200, qty=100))
    assert core.orders.position("AAA").quantity == -250
    sizes = [r.order.quantity for r in core.orders.records()]
    assert sizes == [100, 100, 50]
    assert all(r.state is OrderState.FILLED for r in core.orders.records())


def test_iceberg_display_cannot_exceed_parent() -> None:
    with pytest.raises(ValidationError):
        IcebergParams(symbol="AAA", side="B", quantity=10, display=20, price=1)


# ----------------------------------------------------------------------------- VWAP


def add_vwap(core: TradingCore, **params) -> None:  # type: ignore[no-untyped-def]
    base = {"symbol": "AAA", "side": "B", "quantity": 800, "duration_ns": 4 * SEC,
            "profile": [1, 3, 0, 4]}  # fmt: skip
    core.strategies.add("vwap", "vwap", {**base, **params})
    core.strategies.start("vwap")


def test_vwap_schedule_follows_the_profile_and_completes_the_parent(tmp_path: Path) -> None:
    core = make_core(tmp_path)
    add_vwap(core, min_child=10)
    start = 10 * SEC
    sent_by: dict[int, int] = {}
    for step in range(0, 25):  # every 250 ms from the start to one second past the end
        ts = start + step * SEC // 4
        core.on_book_top(top(ts, qty=10_000))
        sent_by[ts - start] = core.orders.position("AAA").quantity
    # cumulative profile at each bucket edge: 0, 1/8, 4/8, 4/8, 8/8 of 800
    assert [sent_by[k * SEC] for k in range(5)] == [0, 100, 400, 400, 800]
    # inside a bucket the schedule is linear: a quarter into bucket 2 (weight 3) -> 100 + 75
    assert sent_by[SEC + SEC // 4] == 175
    # the empty bucket sends nothing
    assert sent_by[2 * SEC + SEC // 2] == 400
    assert sent_by[5 * SEC] == 800  # never more than the parent
    assert all(r.state is OrderState.FILLED for r in core.orders.records())
    assert all(r.order.quantity >= 10 for r in core.orders.records())


def test_vwap_respects_its_limit_and_catches_up_when_the_price_comes_back(
    tmp_path: Path,
) -> None:
    core = make_core(tmp_path)
    add_vwap(core, limit_price=100_0050, profile=[1, 1])
    core.on_book_top(top(0, qty=10_000))
    core.on_book_top(top(SEC, qty=10_000))  # offer 100.01 is above the limit: nothing
    assert core.orders.position("AAA").quantity == 0
    core.on_book_top(top(3 * SEC, bid=99_9900, ask=100_0000, qty=10_000))
    assert core.orders.position("AAA").quantity == 600  # 3/4 of the window, all at 100.00
    core.on_book_top(top(4 * SEC, bid=99_9900, ask=100_0000, qty=10_000))
    assert core.orders.position("AAA").quantity == 800
    assert {r.order.price for r in core.orders.records()} == {100_0000}


# ----------------------------------------------------------------------------- POV


def trade(qty: int, ts: int = 0) -> Trade:
    return Trade("AAA", qty, 100_0000, ts)


def test_pov_tracks_the_traded_volume_fraction_and_never_exceeds_the_parent(
    tmp_path: Path,
) -> None:
    core = make_core(tmp_path)
    params = {"symbol": "AAA", "side": "B", "quantity": 3000, "participation": 0.2,
              "min_child": 10, "max_child": 50,
              "repeat_window_ms": LIMITS.duplicate_window_ms}  # fmt: skip
    core.strategies.add("pov", "pov", params)
    core.strategies.start("pov")
    rng = random.Random(7)
    volume = 0
    core.on_book_top(top(1, qty=100_000))
    for step in range(400):
        size = rng.randint(1, 250)  # 0.2 * 250 = 50: one max child can keep up
        volume += size
        core.on_trade(trade(size, step))
        if step % 10 == 0:
            core.on_book_top(top(step + 2, qty=100_000))
        filled = core.orders.position("AAA").quantity
        target = min(3000, int(volume * 0.2))
        assert target - 10 < filled <= target, (step, filled, target)
    assert core.orders.position("AAA").quantity == 3000
    for step in range(20):
        core.on_trade(trade(500, 1000 + step))
        core.on_book_top(top(2000 + step, qty=100_000))
    assert core.orders.position("AAA").quantity == 3000
    sizes = [r.order.quantity for r in core.orders.records()]
    assert min(sizes[:-1]) >= 10 and max(sizes) <= 50  # the parent's last shares may be fewer


def test_pov_holds_back_beyond_its_limit_then_catches_up_in_capped_children(
    tmp_path: Path,
) -> None:
    core = make_core(tmp_path)
    params = {"symbol": "AAA", "side": "S", "quantity": 500, "participation": 0.5,
              "max_child": 40, "limit_price": 100_0000,
              "repeat_window_ms": LIMITS.duplicate_window_ms}  # fmt: skip
    core.strategies.add("pov", "pov", params)
    core.strategies.start("pov")
    core.on_book_top(top(1, bid=99_9900, ask=100_0100, qty=10_000))  # bid below the limit
    core.on_trade(trade(200))
    assert core.orders.records() == []
    for ts in range(2, 6):  # the bid comes back to the limit: 100 owed, 40 a child
        core.on_book_top(top(ts, bid=100_0000, ask=100_0100, qty=10_000))
    assert [r.order.quantity for r in core.orders.records()] == [40, 40, 20]
    assert core.orders.position("AAA").quantity == -100


def pov_under_the_duplicate_window(tmp_path: Path, **params: object) -> tuple[TradingCore, object]:
    """A POV child per print of 10 shares at 10%: every child is 1 share at the same touch,
    inside the risk manager's default 250 ms duplicate window of the ones before."""
    clock = ManualClock(10**12)
    limits = RiskLimits(max_messages_per_second=10**6)  # duplicate_window_ms at its default
    assert limits.duplicate_window_ms == 250
    core = TradingCore(tmp_path, [AAA], PaperVenue([AAA]), limits, fsync=False, clock_ns=clock)
    core.strategies.add("pov", "pov", {"symbol": "AAA", "side": "B", "quantity": 100,
                                       "participation": 0.1, **params})  # fmt: skip
    core.strategies.start("pov")
    return core, clock


def test_pov_children_alike_inside_the_duplicate_window_are_not_held_back(
    tmp_path: Path,
) -> None:
    # Each child equal to the last (1 share at the touch) was refused as duplicate_order and
    # the POV stayed short until a print made the next child differ.
    core, clock = pov_under_the_duplicate_window(tmp_path)
    core.on_book_top(top(1, qty=1000))
    for step in range(1, 31):
        clock.now += 100_000_000
        core.on_trade(trade(10, step * 100_000_000))  # a print every 100 ms (feed and wall)
        assert core.orders.position("AAA").quantity == step  # at the target after every print
    records = core.orders.records()
    assert [r.state for r in records] == [OrderState.FILLED] * 30
    assert core.risk.counters.reject_reasons == {}
    # Every share traded at the touch: the repeats went a tick through it, within its size.
    assert core.orders.position("AAA").average_price == 100_0100
    assert {r.order.price for r in records} == {100_0100, 100_0101, 100_0102}


@pytest.mark.parametrize(
    ("params", "shown"),
    [({"limit_price": 100_0100}, 1000), ({}, 1)],
    ids=["touch_is_the_limit", "one_share_shown"],
)
def test_pov_repeat_with_no_free_price_waits_instead_of_being_refused(
    tmp_path: Path, params: dict, shown: int
) -> None:
    # No tick through the limit, and none past the displayed size (it could sweep the next
    # level): the alike child waits, and goes once the window has passed.
    core, clock = pov_under_the_duplicate_window(tmp_path, **params)
    core.on_book_top(top(1, qty=shown))
    core.on_trade(trade(10, 10_000_000))
    clock.now += 10_000_000
    core.on_trade(trade(10, 20_000_000))
    assert [r.order.price for r in core.orders.records()] == [100_0100]
    assert core.risk.counters.reject_reasons == {}
    clock.now += 300_000_000
    core.on_book_top(top(320_000_000, qty=shown))
    assert [r.order.price for r in core.orders.records()] == [100_0100, 100_0100]
    assert core.orders.position("AAA").quantity == 2


@pytest.mark.parametrize("kind", ["vwap", "pov"])
def test_algorithm_sends_nothing_after_the_kill_switch(tmp_path: Path, kind: str) -> None:
    core = make_core(tmp_path)
    if kind == "vwap":
        add_vwap(core)
    else:
        core.strategies.add("pov", "pov", {"symbol": "AAA", "side": "B", "quantity": 800,
                                           "participation": 0.5})  # fmt: skip
        core.strategies.start("pov")
    core.on_book_top(top(0, qty=10_000))
    core.on_trade(trade(200, 1))
    core.on_book_top(top(SEC + SEC // 2, qty=10_000))
    before = core.orders.position("AAA").quantity
    assert 0 < before < 800
    orders_before = len(core.orders.records())
    core.kill("risk_officer", "drill")
    assert not core.strategies.slots[kind].running
    for step in range(2, 10):
        core.on_trade(trade(500, step * SEC))
        core.on_book_top(top(step * SEC, qty=10_000))
    assert len(core.orders.records()) == orders_before  # not even a refused attempt
    assert core.orders.position("AAA").quantity == before
    assert core.orders.open_records() == []


def test_stopping_an_algorithm_cancels_its_working_child_and_sends_no_more(
    tmp_path: Path,
) -> None:
    # A child that does not fill at once (nothing shown at the touch) stays working until
    # the stop cancels it.
    core = make_core(tmp_path)
    core.strategies.add("pov", "pov", {"symbol": "AAA", "side": "B", "quantity": 800,
                                       "participation": 0.5})  # fmt: skip
    core.strategies.start("pov")
    core.on_book_top(top(0, qty=0))
    core.on_trade(trade(100, 1))
    assert core.orders.position("AAA").quantity == 0
    core.strategies.stop("pov")
    count = len(core.orders.records())
    core.on_trade(trade(400, 2))
    core.on_book_top(top(3, qty=10_000))
    assert len(core.orders.records()) == count
    assert core.orders.open_records() == []


# ----------------------------------------------------------------------------- profiles


def write_binaryfile(path: Path, messages: list[bytes]) -> None:
    path.write_bytes(b"".join(struct.pack(">H", len(m)) + m for m in messages))


def test_trade_prints_and_volume_profile_from_a_capture(tmp_path: Path) -> None:
    e = itch.encode
    capture = tmp_path / "day.itch"
    write_binaryfile(capture, [
        e("R", stock_locate=1, timestamp=1, stock="AAA"),
        e("R", stock_locate=2, timestamp=1, stock="BBB"),
        e("A", stock_locate=1, timestamp=2, order_ref=1, side="S", shares=500, stock="AAA",
          price=100_0100),
        e("E", stock_locate=1, timestamp=10, order_ref=1, executed_shares=100, match_number=1),
        e("C", stock_locate=1, timestamp=30, order_ref=1, executed_shares=50, match_number=2,
          printable="Y", execution_price=100_0000),
        e("C", stock_locate=1, timestamp=31, order_ref=1, executed_shares=70, match_number=3,
          printable="N", execution_price=100_0000),  # not printable: not volume
        e("P", stock_locate=1, timestamp=35, order_ref=0, side="B", shares=250, stock="AAA",
          price=100_0200, match_number=4),
        e("P", stock_locate=2, timestamp=12, order_ref=0, side="B", shares=999, stock="BBB",
          price=5_0000, match_number=5),
        e("Q", stock_locate=1, timestamp=39, shares=10_000, stock="AAA", cross_price=100_0000,
          match_number=6, cross_type="C"),  # an auction, not continuous volume
    ])  # fmt: skip
    trades, names = load_trades(capture, ["AAA"])
    assert names == {1: "AAA", 2: "BBB"}
    assert [tuple(int(x) for x in row) for row in trades] == [
        (10, 1, 100, 100_0100),
        (30, 1, 50, 100_0000),
        (35, 1, 250, 100_0200),
    ]
    assert [t.quantity for t in trades_for(trades, names)] == [100, 50, 250]
    assert volume_profile(trades, 1, 0, 40, 4) == [0.0, 0.25, 0.0, 0.75]
    assert volume_profile(trades, 2, 0, 40, 2) == [0.5, 0.5]  # filtered out: flat
    VwapParams(symbol="AAA", side="B", quantity=1, duration_ns=1,
               profile=volume_profile(trades, 1, 0, 40, 4))  # fmt: skip


def test_vwap_profile_and_pov_bounds_are_validated() -> None:
    with pytest.raises(ValidationError):
        VwapParams(symbol="AAA", side="B", quantity=1, duration_ns=1, profile=[0, 0])
    with pytest.raises(ValidationError):
        VwapParams(symbol="AAA", side="B", quantity=1, duration_ns=1, profile=[-1, 2])
    with pytest.raises(ValidationError):
        PovParams(symbol="AAA", side="B", quantity=1, participation=1.5)
    with pytest.raises(ValidationError):
        PovParams(symbol="AAA", side="B", quantity=1, participation=0.1, min_child=5,
                  max_child=2)  # fmt: skip


def test_pov_in_a_backtest_participates_in_the_captures_printed_volume(tmp_path: Path) -> None:
    from velocimex.control.backtest import BacktestConfig, load_book_tops, run_backtest

    from velocimex.cli import main as cli

    capture = tmp_path / "day.itch"
    assert cli(["generate", "--symbols", "2", "--messages", "20000", "--seed", "5",
                "--out", str(capture)]) == 0  # fmt: skip
    records, symbols = load_book_tops(capture)
    symbol = symbols[1]
    trades, _ = load_trades(capture, [symbol])
    volume = int(trades["shares"].sum())
    limits = RiskLimits(
        duplicate_window_ms=0, max_market_data_age_ms=10**9, max_messages_per_second=10**9
    )
    for quantity in (2000, 10**6):
        params = {"symbol": symbol, "side": "B", "quantity": quantity, "participation": 0.1}
        config = BacktestConfig("pov", params, (symbol,), limits=limits)
        result = run_backtest(records, symbols, config, trades=trades)
        # Each print is followed by a child at the touch; the simulated exchange fills it
        # from the displayed offer, so the parent ends at its share of the volume, or done.
        assert result.shares_filled == min(quantity, int(volume * 0.1))


def test_backtest_vwap_with_a_profile_from_the_captures_own_volume(tmp_path: Path) -> None:
    import json

    from velocimex.cli import main as cli

    capture = tmp_path / "day.itch"
    assert cli(["generate", "--symbols", "2", "--messages", "20000", "--seed", "5",
                "--out", str(capture)]) == 0  # fmt: skip
    trades, names = load_trades(capture)
    locate, symbol = next(iter(sorted(names.items())))
    params = {"symbol": symbol, "side": "B", "quantity": 3000, "duration_ns": 4 * 3600 * SEC,
              "min_child": 50}  # fmt: skip
    out = tmp_path / "report"
    assert cli(["backtest", str(capture), "--symbols", symbol, "--strategy", "vwap",
                "--params", json.dumps(params), "--profile-from-capture", "4",
                "--out", str(out)]) == 0  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    start = report["params"]["start_ns"]
    expected = volume_profile(trades, locate, start, start + 4 * 3600 * SEC, 4)
    assert report["params"]["profile"] == expected and len(expected) == 4
    # the window ends inside the capture: the parent is complete at the end of the curve
    last = (out / "pnl.csv").read_text().strip().splitlines()[-1].split(",")
    assert int(last[-1]) == 3000
