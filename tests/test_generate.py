"""The synthetic session generator: exact, deterministic, valid and realistic output.

Realism is checked by replaying the generated messages through a plain-Python order book
kept here (a dict of orders and per-side price levels), independent of the generator's own.
"""

from __future__ import annotations

import functools
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.cli import main
from velocimex.generate import generate_session, minimum_messages
from velocimex.wire import itch
from velocimex.wire.capture import iter_capture

SYMBOLS = 8
MESSAGES = 60_000
SEED = 11
NS = 1_000_000_000


def split_blocks(data: bytes) -> list[bytes]:
    """Messages of back-to-back length-prefixed blocks; a short tail is an error."""
    out, pos = [], 0
    while pos < len(data):
        assert pos + 2 <= len(data), "truncated length prefix"
        length = int.from_bytes(data[pos : pos + 2], "big")
        assert pos + 2 + length <= len(data), "truncated message"
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    return out


@functools.cache
def session_bytes(symbols: int, messages: int, seed: int) -> bytes:
    return b"".join(generate_session(symbols, messages, seed))


@functools.cache
def decoded(symbols: int = SYMBOLS, messages: int = MESSAGES, seed: int = SEED) -> list[dict]:
    return [itch.decode(m) for m in split_blocks(session_bytes(symbols, messages, seed))]


@dataclass
class Order:
    locate: int
    side: str
    price: int
    shares: int
    born: int  # the symbol's message count when the order was added


@dataclass
class Replay:
    """What a market-microstructure reader measures on a replay of the whole session."""

    adds: int = 0
    add_distance_ticks: list[int] = field(default_factory=list)  # behind the same-side touch
    add_sizes: list[int] = field(default_factory=list)
    delete_lifetimes: list[int] = field(default_factory=list)  # in messages of that symbol
    locked_or_crossed: list[tuple[int, Any]] = field(default_factory=list)
    one_sided: list[tuple[int, int]] = field(default_factory=list)
    live_at_close: list[int] = field(default_factory=list)  # ages of orders still resting


def replay(msgs: list[dict]) -> Replay:
    """Apply every book message; fails on any reference or share count the book rejects."""
    orders: dict[int, Order] = {}
    levels: dict[tuple[int, str], Counter] = defaultdict(Counter)
    per_symbol: Counter = Counter()
    last_ref = 0
    market_open = False
    r = Replay()

    def take(order: Order, shares: int) -> None:
        book = levels[order.locate, order.side]
        book[order.price] -= shares
        if book[order.price] == 0:
            del book[order.price]
        order.shares -= shares

    def add(ref: int, locate: int, side: str, price: int, shares: int) -> None:
        nonlocal last_ref
        assert ref > last_ref, f"order reference {ref} after {last_ref}"
        assert shares > 0 and price > 0 and price % 100 == 0, (ref, shares, price)
        last_ref = ref
        orders[ref] = Order(locate, side, price, shares, per_symbol[locate])
        levels[locate, side][price] += shares

    for i, m in enumerate(msgs):
        t = m["type"]
        if t == "S":
            market_open = market_open or m["event_code"] == "Q"
            if m["event_code"] == "M":
                market_open = False
        if t not in itch.BOOK_TYPES:
            continue
        if t in "AF":
            loc, side = m["stock_locate"], m["side"]
            book = levels[loc, side]
            if market_open and book:
                touch = max(book) if side == "B" else min(book)
                behind = touch - m["price"] if side == "B" else m["price"] - touch
                r.add_distance_ticks.append(behind // 100)
            add(m["order_ref"], loc, side, m["price"], m["shares"])
            r.adds += 1
            r.add_sizes.append(m["shares"])
        elif t == "U":
            old = orders.pop(m["original_order_ref"])
            loc = old.locate
            take(old, old.shares)
            add(m["new_order_ref"], loc, old.side, m["price"], m["shares"])
        else:
            ref = m["order_ref"]
            assert ref in orders, f"message {i} ({t}) names unknown order {ref}"
            order = orders[ref]
            loc = order.locate
            assert m["stock_locate"] == loc
            shares = {
                "E": m.get("executed_shares"),
                "C": m.get("executed_shares"),
                "X": m.get("cancelled_shares"),
                "D": order.shares,
            }[t]
            assert 0 < shares <= order.shares, f"message {i} ({t}) takes {shares} of {order}"
            if t == "X":
                assert shares < order.shares, "a partial cancel must leave shares resting"
            take(order, shares)
            if order.shares == 0:
                del orders[ref]
                if t == "D":
                    r.delete_lifetimes.append(per_symbol[loc] - order.born)
        per_symbol[loc] += 1
        if market_open:
            bids, asks = levels[loc, "B"], levels[loc, "S"]
            if not bids or not asks:
                r.one_sided.append((i, loc))
            elif max(bids) >= min(asks):
                r.locked_or_crossed.append((i, (max(bids), min(asks))))
    r.live_at_close = [per_symbol[o.locate] - o.born for o in orders.values()]
    return r


@functools.cache
def replayed() -> Replay:
    return replay(decoded())


def test_same_seed_gives_byte_identical_session_and_other_seeds_differ():
    first = b"".join(generate_session(SYMBOLS, 20_000, 3))
    again = b"".join(generate_session(SYMBOLS, 20_000, 3))
    other = b"".join(generate_session(SYMBOLS, 20_000, 4))
    assert first == again
    assert first != other


@pytest.mark.parametrize("symbols, messages", [(1, None), (3, 5_000), (8, 20_001), (50, 4_000)])
def test_session_has_exactly_the_requested_number_of_messages(symbols, messages):
    messages = messages or minimum_messages(symbols)
    assert len(split_blocks(session_bytes(symbols, messages, 5))) == messages


def test_too_few_messages_or_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="at least"):
        list(generate_session(8, minimum_messages(8) - 1, 1))
    with pytest.raises(ValueError, match="symbols"):
        list(generate_session(0, 10_000, 1))
    with pytest.raises(ValueError, match="seed"):
        list(generate_session(2, 10_000, -1))


def test_chunks_are_whole_blocks_and_every_message_decodes(monkeypatch):
    from velocimex.generate import session

    monkeypatch.setattr(session, "CHUNK_MESSAGES", 1000)
    for chunk in generate_session(2, 30_000, 9):
        for msg in split_blocks(chunk):
            itch.decode(msg)  # raises ItchError on a bad type or length
    assert len(decoded()) == MESSAGES


def test_session_opens_and_closes_in_the_itch_order():
    msgs = decoded()
    n = SYMBOLS
    assert [m.get("event_code") for m in msgs[:2]] == ["O", "S"]
    assert msgs[2]["type"] == "V"
    directory = msgs[3 : 3 + n]
    assert [m["type"] for m in directory] == ["R"] * n
    assert [m["stock_locate"] for m in directory] == list(range(1, n + 1))
    tickers = [m["stock"].strip() for m in directory]
    assert len(set(tickers)) == n
    assert all(3 <= len(t) <= 4 and t.isalpha() and t.isupper() for t in tickers)
    assert all(m["round_lot_size"] == 100 for m in directory)
    actions = msgs[3 + n : 3 + 2 * n]
    assert [(m["type"], m["trading_state"]) for m in actions] == [("H", "T")] * n

    open_at = next(i for i, m in enumerate(msgs) if m.get("event_code") == "Q")
    opening = msgs[open_at - 2 * n : open_at]
    assert [m["type"] for m in opening] == ["I"] * n + ["Q"] * n
    assert {m["cross_type"] for m in opening} == {"O"}
    closing = msgs[-3 - 2 * n :]
    assert [m["type"] for m in closing[: 2 * n]] == ["I"] * n + ["Q"] * n
    assert {m["cross_type"] for m in closing[: 2 * n]} == {"C"}
    assert [m["event_code"] for m in closing[2 * n :]] == ["M", "E", "C"]
    # Order flow happens only between start of system hours and end of market hours.
    flow = [i for i, m in enumerate(msgs) if m["type"] in itch.BOOK_TYPES]
    assert 3 + 2 * n <= flow[0] and flow[-1] < len(msgs) - 3 - 2 * n


def test_timestamps_never_decrease_and_span_the_trading_day():
    ts = [m["timestamp"] for m in decoded()]
    assert all(a <= b for a, b in zip(ts, ts[1:], strict=False))
    assert ts[0] == (9 * 3600 + 25 * 60) * NS
    assert ts[-1] <= (16 * 3600 + 5 * 60) * NS + NS
    opened = next(m["timestamp"] for m in decoded() if m.get("event_code") == "Q")
    closed = next(m["timestamp"] for m in decoded() if m.get("event_code") == "M")
    assert opened // NS == 9 * 3600 + 30 * 60
    assert closed // NS == 16 * 3600


def test_every_book_message_names_a_live_order_with_enough_shares():
    r = replayed()  # replay() asserts references, sides, share counts and ref order
    assert r.adds > MESSAGES // 3


def test_books_stay_two_sided_and_uncrossed_through_market_hours():
    r = replayed()
    assert r.one_sided == []
    assert r.locked_or_crossed == []


def test_most_adds_are_within_a_few_ticks_of_the_touch():
    distance = replayed().add_distance_ticks
    near = sum(1 for d in distance if d <= 5) / len(distance)
    at_or_inside = sum(1 for d in distance if d <= 0) / len(distance)
    deep = sum(1 for d in distance if d >= 10) / len(distance)
    assert near >= 0.8
    assert at_or_inside >= 0.3
    assert 0.005 <= deep <= 0.15  # a thin tail of deep, patient orders


def test_order_lifetimes_are_mostly_short_with_a_long_tail():
    lifetimes = replayed().delete_lifetimes
    fleeting = sum(1 for x in lifetimes if x <= 10) / len(lifetimes)
    assert fleeting >= 0.2  # many cancelled within a few of the stock's messages
    assert statistics.median(lifetimes) <= 100
    ages = sorted(lifetimes + replayed().live_at_close)
    assert ages[int(0.99 * len(ages))] >= 20 * statistics.median(lifetimes)


def test_sizes_are_mostly_round_lots_with_some_odd_lots():
    sizes = replayed().add_sizes
    round_lots = sum(1 for s in sizes if s % 100 == 0) / len(sizes)
    odd_lots = sum(1 for s in sizes if s < 100) / len(sizes)
    assert round_lots >= 0.8
    assert 0.02 <= odd_lots <= 0.15


def test_message_mix_is_order_flow_dominated_with_every_itch_type_present():
    counts = Counter(m["type"] for m in decoded())
    assert set(counts) == set(itch.SPECS)
    total = sum(counts.values())
    assert (counts["A"] + counts["F"]) / total >= 0.3
    assert counts["D"] / total >= 0.25
    assert 0.02 <= (counts["E"] + counts["C"]) / total <= 0.15
    assert counts["F"] < counts["A"] and counts["C"] < counts["E"]


def test_halts_resume_and_silence_their_symbol_meanwhile():
    halted: dict[int, str] = {}
    seen = Counter()
    for m in decoded():
        t, loc = m["type"], m["stock_locate"]
        if (
            t == "H"
            and m["trading_state"] == "H"
            or t == "h"
            and m["operational_halt_action"] == "H"
        ):
            halted[loc] = t
            seen[t] += 1
        elif (
            t == "H"
            and m["trading_state"] == "T"
            or t == "h"
            and m["operational_halt_action"] == "T"
        ):
            halted.pop(loc, None)
        elif t in itch.BOOK_TYPES and t not in "EC":
            assert loc not in halted, f"order flow on halted locate {loc}"
    assert halted == {}
    assert seen["H"] >= 1 and seen["h"] >= 1


def test_hidden_trades_print_inside_the_spread_and_cross_prices_are_on_ticks():
    msgs = decoded()
    for m in msgs:
        if m["type"] == "P":
            assert m["order_ref"] == 0 and m["price"] % 50 == 0 and m["side"] in "BS"
        if m["type"] == "Q":
            assert m["cross_price"] % 100 == 0 and m["shares"] % 100 == 0
    matches = [m["match_number"] for m in msgs if m["type"] in "ECPQ"]
    assert len(set(matches)) == len(matches)
    broken = [m["match_number"] for m in msgs if m["type"] == "B"]
    assert broken and set(broken) <= set(matches)


@pytest.mark.parametrize("suffix", [".itch", ".pcap"])
def test_cli_writes_the_generated_session_to_a_capture(tmp_path, suffix):
    out = tmp_path / f"session{suffix}"
    args = ["--symbols", "3", "--messages", "4000", "--seed", "2", "--out", str(out)]
    assert main(["generate", *args]) == 0
    written = b"".join(chunk.data for chunk in iter_capture(out))
    assert written == session_bytes(3, 4000, 2)
    assert main(["generate", *args[:3], "10", *args[4:]]) == 2  # too few messages


def test_independent_itch_book_replays_the_session_without_anomalies(tmp_path):
    itch_book = pytest.importorskip("itch_book")
    import datetime as dt

    path = tmp_path / "session.itch"
    path.write_bytes(session_bytes(SYMBOLS, MESSAGES, SEED))
    feed = itch_book.open(str(path), price_type="fixed", date=dt.date(2026, 11, 2))
    for _ in feed.batches(tables=("bbo",)):
        pass
    stats = feed.stats
    assert stats["messages"] == MESSAGES
    assert stats["unknown"] == stats["malformed"] == stats["pending_bytes"] == 0
    assert stats["missing_ref"] == stats["dup_ref"] == stats["rejected"] == 0
    assert stats["clamped"] == stats["crossed_books"] == 0


def test_output_does_not_depend_on_the_chunk_size(monkeypatch):
    from velocimex.generate import market, session

    reference = session_bytes(SYMBOLS, 20_000, 3)
    monkeypatch.setattr(session, "CHUNK_MESSAGES", 1000)
    chunks = list(generate_session(SYMBOLS, 20_000, 3))
    assert len(chunks) > 20
    assert max(len(split_blocks(c)) for c in chunks) < 1000 + market.MAX_FILLS
    assert b"".join(chunks) == reference


@settings(max_examples=25, deadline=None)
@given(
    symbols=st.integers(1, 12),
    extra=st.integers(0, 3_000),
    seed=st.integers(0, 2**63 - 1),
)
def test_any_small_session_is_exact_valid_and_keeps_books_two_sided(symbols, extra, seed):
    messages = minimum_messages(symbols) + extra
    msgs = [
        itch.decode(m) for m in split_blocks(b"".join(generate_session(symbols, messages, seed)))
    ]
    assert len(msgs) == messages
    r = replay(msgs)
    assert r.one_sided == [] and r.locked_or_crossed == []
    ts = [m["timestamp"] for m in msgs]
    assert all(a <= b for a, b in zip(ts, ts[1:], strict=False))
