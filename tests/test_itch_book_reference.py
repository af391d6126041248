"""itch-book (PyPI, C++ core) as a second, independent reference for the software engine."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from velocimex.sw_fallback.replay import replay_capture

from tests.streams import Shape, stream
from velocimex import book_contract as bc
from velocimex.wire.capture import write_capture

itch_book = pytest.importorskip("itch_book")


def itch_book_rows(path) -> list[tuple[int, ...]]:
    feed = itch_book.open(str(path), price_type="fixed", date=datetime.date(2026, 11, 2))
    rows: list[tuple[int, ...]] = []
    for batch in feed.batches(tables=("bbo",)):
        b = batch.bbo
        cols = [b[c] for c in ("seq", "locate", "bid_px", "bid_sz", "ask_px", "ask_sz")]
        rows += [tuple(int(x) for x in row) for row in zip(*cols, strict=True)]
    return rows


def our_rows(path) -> list[tuple[int, ...]]:
    parts: list[np.ndarray] = []
    replay_capture(path, capacity=bc.Capacity(levels=64), records_out=parts)
    recs = np.concatenate(parts)
    assert not np.any(recs["flags"])
    cols = ("seq", "locate", "bid_px", "bid_qty", "ask_px", "ask_qty")
    return [tuple(int(r[c]) for c in cols) for r in recs]


@pytest.mark.parametrize("shape", [Shape(), Shape(p_noise=0.25), Shape(locates=30, ticks=4)])
def test_software_engine_equals_itch_book_bbo(tmp_path, shape):
    data, _ = stream(seed=11, n=30_000, shape=shape)
    path = tmp_path / "session.itch"
    write_capture(path, [data])
    assert our_rows(path) == itch_book_rows(path)
