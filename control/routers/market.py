"""Recent market history for the UI: book tops and trade prints per instrument, our fills."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, Request, status
from velocimex.control.market_tape import MarketTape
from velocimex.control.routers.deps import Reader
from velocimex.control.schemas import FillOut, TopSampleOut, TradeOut

router = APIRouter(prefix="/market", tags=["market"])


def _tape_with(request: Request, symbol: str) -> MarketTape:
    """The market tape, once it is known to hold ``symbol`` (404 otherwise)."""
    tape = request.app.state.market_tape
    if not tape.has(symbol):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown instrument {symbol!r}")
    return tape


@router.get("/fills", response_model=list[FillOut])
def recent_fills(
    request: Request,
    _: Reader,
    symbol: str | None = Query(None, max_length=8),
    limit: int = Query(200, ge=1, le=2_000),
) -> list[FillOut]:
    """Executions since the control plane started, oldest first (the journal keeps them all)."""
    return [FillOut.of(f) for f in request.app.state.market_tape.fills(limit, symbol)]


@router.get("/{symbol}/tops", response_model=list[TopSampleOut], responses={404: {}})
def recent_tops(
    symbol: str, request: Request, _: Reader, limit: int = Query(600, ge=1, le=2_000)
) -> list[TopSampleOut]:
    """The instrument's latest book tops, oldest first, stamped with local receive time."""
    tape = _tape_with(request, symbol)
    return [TopSampleOut(**vars(s)) for s in tape.tops(symbol, limit)]


@router.get("/{symbol}/trades", response_model=list[TradeOut], responses={404: {}})
def recent_trades(
    symbol: str, request: Request, _: Reader, limit: int = Query(100, ge=1, le=2_000)
) -> list[TradeOut]:
    """The instrument's latest trade prints from the feed (`serve --feed`), oldest first."""
    tape = _tape_with(request, symbol)
    return [TradeOut(**vars(t)) for t in tape.trades(symbol, limit)]
