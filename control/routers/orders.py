"""Orders: blotter, submit (through risk), cancel."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query, Request, status
from velocimex.control.order_manager import OrderError
from velocimex.control.routers.deps import Canceller, Core, Reader, Trader
from velocimex.control.schemas import CancelAllOut, OrderIn, OrderOut

from velocimex.domain import OrderState, Side

router = APIRouter(prefix="/orders", tags=["orders"])


@router.get("", response_model=list[OrderOut])
def list_orders(
    core: Core,
    _: Reader,
    state: OrderState | None = None,
    symbol: str | None = Query(None, max_length=8),
    side: Side | None = None,
    strategy_id: str | None = Query(None, max_length=64),
    open_only: bool = False,
    limit: int = Query(500, ge=1, le=10_000),
) -> list[OrderOut]:
    out = []
    for rec in reversed(core.orders.records()):
        if state is not None and rec.state is not state:
            continue
        if open_only and not rec.state.is_open:
            continue
        if symbol is not None and rec.order.symbol != symbol:
            continue
        if side is not None and rec.order.side is not side:
            continue
        if strategy_id is not None and rec.order.strategy_id != strategy_id:
            continue
        out.append(OrderOut.of(rec))
        if len(out) >= limit:
            break
    return out


@router.get("/{client_order_id}", response_model=OrderOut, responses={404: {}})
def get_order(client_order_id: str, core: Core, _: Reader) -> OrderOut:
    try:
        return OrderOut.of(core.orders.get(client_order_id))
    except OrderError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.post("", response_model=OrderOut, status_code=201, responses={409: {}, 422: {}})
def submit_order(body: OrderIn, core: Core, request: Request, principal: Trader) -> OrderOut:
    """Submit an order. A risk rejection is a 201 with state ``rejected`` and the reason."""
    started = time.perf_counter()
    try:
        rec = core.orders.submit(
            body.symbol,
            body.side,
            body.quantity,
            order_type=body.order_type,
            price=body.price,
            strategy_id=body.strategy_id,
            client_order_id=body.client_order_id,
        )
    except OrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    finally:
        request.app.state.metrics.order_submit_latency.observe(time.perf_counter() - started)
    return OrderOut.of(rec)


@router.delete("/{client_order_id}", response_model=OrderOut, responses={404: {}, 409: {}})
def cancel_order(client_order_id: str, core: Core, _: Canceller) -> OrderOut:
    if not core.orders.has_order(client_order_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown order {client_order_id!r}")
    try:
        core.orders.cancel(client_order_id, reason="api")
    except OrderError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return OrderOut.of(core.orders.get(client_order_id))


@router.post("/cancel-all", response_model=CancelAllOut)
def cancel_all(core: Core, _: Canceller) -> CancelAllOut:
    return CancelAllOut(cancelled=core.orders.cancel_all("api cancel-all"))
