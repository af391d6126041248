"""Market data as the core sees it, and a way for a feed bridge to push book tops in."""

from __future__ import annotations

from fastapi import APIRouter
from velocimex.control.routers.deps import Admin, Core, Reader
from velocimex.control.schemas import BookTopIn, FeedInstrumentOut, FeedsOut, book_top_out

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
