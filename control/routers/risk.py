"""Risk: limits, trading state, breakers, the kill switch and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query, status
from velocimex.control.risk import RiskLimits
from velocimex.control.routers.deps import Core, Reader, RiskOfficer
from velocimex.control.schemas import (
    AuditRecordOut,
    BreakerOut,
    KillSwitchIn,
    KillSwitchOut,
    RiskStatusOut,
    TradingStateIn,
)

router = APIRouter(prefix="/risk", tags=["risk"])


def _status(core) -> RiskStatusOut:  # type: ignore[no-untyped-def]
    risk = core.risk
    return RiskStatusOut(
        state=risk.state,
        kill_switch=risk.kill_switch,
        breakers=[BreakerOut(**vars(b)) for b in risk.breakers.values()],
        limits=risk.limits.model_dump(),
        checked=risk.counters.checked,
        approved=risk.counters.approved,
        rejected=risk.counters.rejected,
        cancels_sent=risk.counters.cancels_sent,
        reject_reasons=dict(risk.counters.reject_reasons),
    )


@router.get("", response_model=RiskStatusOut)
def risk_status(core: Core, _: Reader) -> RiskStatusOut:
    return _status(core)


@router.get("/limits", response_model=RiskLimits)
def get_limits(core: Core, _: Reader) -> RiskLimits:
    return core.risk.limits


@router.put("/limits", response_model=RiskLimits)
def set_limits(body: RiskLimits, core: Core, principal: RiskOfficer) -> RiskLimits:
    with core.lock:
        core.risk.set_limits(body, actor=principal.username)
    return core.risk.limits


@router.put("/state", response_model=RiskStatusOut, responses={409: {}})
def set_state(body: TradingStateIn, core: Core, principal: RiskOfficer) -> RiskStatusOut:
    with core.lock:
        try:
            core.risk.set_state(body.state, actor=principal.username, reason=body.reason)
        except PermissionError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return _status(core)


@router.post("/kill-switch", response_model=KillSwitchOut)
def engage_kill_switch(body: KillSwitchIn, core: Core, principal: RiskOfficer) -> KillSwitchOut:
    """Stop every strategy, block every new order and cancel every open order, in one call."""
    cancelled = core.kill(principal.username, body.reason)
    return KillSwitchOut(kill_switch=True, state=core.risk.state, cancelled=cancelled)


@router.delete("/kill-switch", response_model=KillSwitchOut)
def reset_kill_switch(core: Core, principal: RiskOfficer) -> KillSwitchOut:
    """Release the kill switch. Trading stays halted until the state is set explicitly."""
    with core.lock:
        core.risk.reset_kill_switch(principal.username)
    return KillSwitchOut(kill_switch=False, state=core.risk.state, cancelled=[])


@router.post("/breakers/{name}/reset", response_model=RiskStatusOut, responses={404: {}})
def reset_breaker(name: str, core: Core, principal: RiskOfficer) -> RiskStatusOut:
    with core.lock:
        try:
            core.risk.reset_breaker(name, principal.username)
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no breaker {name!r}") from None
    return _status(core)


@router.get("/audit", response_model=list[AuditRecordOut])
def audit_log(
    core: Core, _: RiskOfficer, limit: int = Query(200, ge=1, le=10_000)
) -> list[AuditRecordOut]:
    return [AuditRecordOut(**r) for r in core.audit.tail(limit)]
