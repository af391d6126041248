"""Positions and account PnL."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from velocimex.control.routers.deps import Core, Reader
from velocimex.control.schemas import AccountOut, PnlPointOut, PositionOut

router = APIRouter(prefix="/positions", tags=["positions"])


@router.get("", response_model=list[PositionOut])
def list_positions(core: Core, _: Reader) -> list[PositionOut]:
    marks = core.risk.marks()
    return [PositionOut.of(p, marks.get(s)) for s, p in sorted(core.orders.positions().items())]


@router.get("/account", response_model=AccountOut)
def account(core: Core, _: Reader) -> AccountOut:
    marks = core.risk.marks()
    acct = core.orders.account()
    return AccountOut(
        account_id=acct.account_id,
        realised_pnl_usd=float(acct.realised_pnl()) / 10_000,
        unrealised_pnl_usd=float(acct.unrealised_pnl(marks)) / 10_000,
        gross_exposure_usd=acct.gross_exposure(marks) / 10_000,
        open_orders=len(core.orders.open_records()),
        positions=[PositionOut.of(p, marks.get(s)) for s, p in sorted(acct.positions.items())],
    )


@router.get("/pnl-history", response_model=list[PnlPointOut])
def pnl_history(
    request: Request,
    _: Reader,
    since_ns: int = Query(0, ge=0, le=2**63 - 1),
    limit: int = Query(3600, ge=1, le=86_400),
) -> list[PnlPointOut]:
    """Account PnL sampled once a second (oldest first), after ``since_ns``."""
    points = request.app.state.pnl_history.since(since_ns, limit)
    return [PnlPointOut(**vars(p)) for p in points]
