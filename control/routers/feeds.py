"""Market data as the core sees it, and a way for a feed bridge to push book tops in."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from velocimex.control.routers.deps import Admin, Core, Reader
from velocimex.control.schemas import BookTopIn, FeedInstrumentOut, FeedsOut, book_top_out

from velocimex.domain import MAX_ITCH_PRICE, Trade

router = APIRouter(prefix="/feeds", tags=["feeds"])


@router.get("", response_model=FeedsOut)
def feeds(core: Core, _: Reader) -> FeedsOut:
    out = []
    for symbol, inst in sorted(core.instruments.items()):
        top = core.risk.market_top(symbol)
        out.append(book_top_out(symbol, inst.locate, top, core.risk.market_data_problem(symbol)))
    return FeedsOut(book_tops_received=core.book_tops_received, instruments=out)


@router.post("/book-tops", response_model=FeedInstrumentOut | None)
def push_book_top(body: BookTopIn, core: Core, _: Admin) -> FeedInstrumentOut | None:
    """Apply one top-of-book record (RECORD_DTYPE fields). Unknown locates are ignored."""
    top = body.to_domain()
    core.on_book_top(top)
    for symbol, inst in core.instruments.items():
        if inst.locate == top.locate:
            return book_top_out(symbol, inst.locate, top, core.risk.market_data_problem(symbol))
    return None


class TradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=8)
    quantity: int = Field(ge=1, le=0xFFFF_FFFF)
    price: int = Field(0, ge=0, le=MAX_ITCH_PRICE, description="ITCH units; 0 if unknown")
    timestamp: int = Field(0, ge=0, le=2**64 - 1, description="ITCH ns since midnight")


class TradeAccepted(BaseModel):
    trades_received: int


@router.post("/trades", response_model=TradeAccepted, responses={404: {}})
def push_trade(body: TradeIn, core: Core, _: Admin) -> TradeAccepted:
    """Apply one trade printed on a feed (market volume, e.g. for POV strategies). The feed
    handler's prints arrive over the bus (`serve --feed`); this is for any other source."""
    if body.symbol not in core.instruments:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown instrument {body.symbol!r}")
    core.on_trade(Trade(body.symbol, body.quantity, body.price, body.timestamp))
    return TradeAccepted(trades_received=core.trades_received)
