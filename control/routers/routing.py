"""Smart order routing: parent orders split across venues, and each venue's own market data."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Path, status
from pydantic import BaseModel, ConfigDict, Field
from velocimex.control.routers.deps import Admin, Canceller, Core, Reader, Trader
from velocimex.control.routing import ParentOrder, ParentState, RoutingError, SmartRouter
from velocimex.control.schemas import BookTopIn

from velocimex.domain import MAX_ITCH_PRICE, Side

router = APIRouter(prefix="/routing", tags=["routing"])

VenueName = Path(min_length=1, max_length=16, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
ParentId = Path(min_length=1, max_length=32)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParentOrderIn(_Model):
    symbol: str = Field(min_length=1, max_length=8)
    side: Side
    quantity: int = Field(ge=1, le=10**9)
    limit_price: int | None = Field(
        None,
        ge=1,
        le=MAX_ITCH_PRICE,
        description="ITCH units; omitted or null: a market parent, priced once at the risk"
        " collar edge of the best fresh opposite price and always ioc",
    )
    time_in_force: Literal["day", "ioc"] = Field(
        "day", description="day: the rest rests on the best venue; ioc: the rest is cancelled"
    )
    strategy_id: str = Field("router", min_length=1, max_length=64)


class ChildOut(_Model):
    client_order_id: str
    venue: str
    state: str
    order_type: str
    price: int | None
    quantity: int
    filled_quantity: int
    leaves_quantity: int


class ParentOrderOut(_Model):
    parent_id: str
    symbol: str
    side: Side
    quantity: int
    limit_price: int
    market: bool = Field(description="a market parent: limit_price is the collar edge it got")
    time_in_force: str
    strategy_id: str
    state: ParentState
    reason: str
    filled_quantity: int
    working_quantity: int
    excluded_venues: list[str]
    children: list[ChildOut]


class VenueQuoteOut(_Model):
    symbol: str
    bid_px: int | None
    bid_qty: int
    ask_px: int | None
    ask_qty: int
    seq: int
    problem: str | None = Field(description="why the router will not route on it; null: usable")


class VenueOut(_Model):
    name: str
    fee: int
    session_problem: str | None = Field(description="why orders cannot go there now; null: up")
    quotes: list[VenueQuoteOut]


class RoutingOut(_Model):
    max_age_ms: int
    venues: list[VenueOut]
    parents: list[ParentOrderOut]


def _router(core: Core) -> SmartRouter:
    if core.router is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            "smart order routing is not configured (start serve with two --venue options)",
        )
    return core.router


def _parent_out(core: Core, parent: ParentOrder) -> ParentOrderOut:
    children = []
    for cid, venue in parent.children.items():
        rec = core.orders.get(cid)
        children.append(
            ChildOut(
                client_order_id=cid,
                venue=venue,
                state=str(rec.state),
                order_type=str(rec.order.order_type),
                price=rec.order.price,
                quantity=rec.order.quantity,
                filled_quantity=rec.filled_quantity,
                leaves_quantity=rec.leaves_quantity,
            )
        )
    return ParentOrderOut(
        parent_id=parent.parent_id,
        symbol=parent.symbol,
        side=parent.side,
        quantity=parent.quantity,
        limit_price=parent.limit_price,
        market=parent.market,
        time_in_force=parent.time_in_force,
        strategy_id=parent.strategy_id,
        state=parent.state,
        reason=parent.reason,
        filled_quantity=parent.filled,
        working_quantity=parent.working,
        excluded_venues=sorted(parent.excluded),
        children=children,
    )


@router.get("", response_model=RoutingOut)
def routing_status(core: Core, _: Reader) -> RoutingOut:
    """Venues with each one's own top of book (and whether it is usable), and parent orders."""
    smart = _router(core)
    with core.lock:
        venues = []
        for venue in smart.venues:
            quotes = []
            for symbol in sorted(core.instruments):
                top = smart.venue_top(venue.name, symbol)
                if top is None:
                    continue
                quotes.append(
                    VenueQuoteOut(
                        symbol=symbol,
                        bid_px=top.best_bid,
                        bid_qty=top.bid_qty,
                        ask_px=top.best_ask,
                        ask_qty=top.ask_qty,
                        seq=top.seq,
                        problem=smart.quote_problem(venue.name, symbol),
                    )
                )
            venues.append(
                VenueOut(
                    name=venue.name,
                    fee=venue.fee,
                    session_problem=smart.session_problem(venue.name),
                    quotes=quotes,
                )
            )
        parents = [_parent_out(core, smart.snapshot(pid)) for pid in smart.parents]
        return RoutingOut(max_age_ms=smart.max_age_ms, venues=venues, parents=parents)


@router.post(
    "/orders",
    response_model=ParentOrderOut,
    status_code=status.HTTP_201_CREATED,
    responses={409: {}, 422: {}},
)
def submit_parent(body: ParentOrderIn, core: Core, _: Trader) -> ParentOrderOut:
    """Split a parent order across the venues (best price, then displayed size, then fee,
    then name). Every child passes the risk manager; a child refused by risk stops the
    parent (state ``stopped`` with the reason)."""
    smart = _router(core)
    try:
        parent = smart.submit(
            body.symbol,
            body.side,
            body.quantity,
            body.limit_price,
            time_in_force=body.time_in_force,
            strategy_id=body.strategy_id,
        )
    except RoutingError as exc:
        raise HTTPException(422, str(exc)) from exc
    with core.lock:
        return _parent_out(core, parent)


@router.get("/orders/{parent_id}", response_model=ParentOrderOut, responses={404: {}, 409: {}})
def get_parent(core: Core, _: Reader, parent_id: str = ParentId) -> ParentOrderOut:
    smart = _router(core)
    try:
        with core.lock:
            return _parent_out(core, smart.snapshot(parent_id))
    except RoutingError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.delete("/orders/{parent_id}", response_model=ParentOrderOut, responses={404: {}, 409: {}})
def cancel_parent(core: Core, _: Canceller, parent_id: str = ParentId) -> ParentOrderOut:
    """Cancel the parent: every working child is cancelled; nothing new is routed."""
    smart = _router(core)
    with core.lock:
        if parent_id not in smart.parents:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown parent order {parent_id!r}")
        try:
            parent = smart.cancel(parent_id)
        except RoutingError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
        return _parent_out(core, parent)


@router.post("/venues/{venue}/book-tops", response_model=VenueQuoteOut | None, responses={409: {}})
def push_venue_book_top(
    body: BookTopIn, core: Core, _: Admin, venue: str = VenueName
) -> VenueQuoteOut | None:
    """Apply one top-of-book record of one venue's own feed (what ``serve --venue
    NAME=...,feed=ENDPOINT`` does for each record). Unknown locates are ignored."""
    smart = _router(core)
    if venue not in smart.venue_names:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown venue {venue!r}")
    top = body.to_domain()
    smart.on_venue_book_top(venue, top)
    for symbol, inst in core.instruments.items():
        if inst.locate == top.locate:
            return VenueQuoteOut(
                symbol=symbol,
                bid_px=top.best_bid,
                bid_qty=top.bid_qty,
                ask_px=top.best_ask,
                ask_qty=top.ask_qty,
                seq=top.seq,
                problem=smart.quote_problem(venue, symbol),
            )
    return None
