"""Strategies: the kinds available, instances, parameters, start and stop."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import ValidationError
from velocimex.control.auth import Role
from velocimex.control.routers.deps import Core, Reader, Trader
from velocimex.control.schemas import StrategyIn, StrategyKindOut, StrategyOut, StrategyParamsIn
from velocimex.control.strategies import BUILTIN_STRATEGIES

router = APIRouter(prefix="/strategies", tags=["strategies"])


def _out(core, strategy_id: str) -> StrategyOut:  # type: ignore[no-untyped-def]
    slot = core.strategies.slots[strategy_id]
    open_ids = {r.order.client_order_id for r in core.orders.open_records()}
    return StrategyOut(
        strategy_id=strategy_id,
        kind=slot.kind,
        running=slot.running,
        params=slot.strategy.params.model_dump(),
        intents=slot.intents,
        rejected_intents=slot.rejected_intents,
        last_error=slot.last_error,
        open_orders=len(slot.order_ids & open_ids),
    )


def _known(core, strategy_id: str) -> None:  # type: ignore[no-untyped-def]
    if strategy_id not in core.strategies.slots:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"unknown strategy {strategy_id!r}")


@router.get("/kinds", response_model=list[StrategyKindOut])
def strategy_kinds(_: Reader) -> list[StrategyKindOut]:
    return [
        StrategyKindOut(kind=name, params_schema=cls.Params.model_json_schema())
        for name, cls in sorted(BUILTIN_STRATEGIES.items())
    ]


@router.get("", response_model=list[StrategyOut])
def list_strategies(core: Core, _: Reader) -> list[StrategyOut]:
    return [_out(core, sid) for sid in sorted(core.strategies.slots)]


@router.get("/{strategy_id}", response_model=StrategyOut, responses={404: {}})
def get_strategy(strategy_id: str, core: Core, _: Reader) -> StrategyOut:
    _known(core, strategy_id)
    return _out(core, strategy_id)


@router.post("", response_model=StrategyOut, status_code=201, responses={403: {}, 409: {}, 422: {}})
def add_strategy(body: StrategyIn, core: Core, principal: Trader) -> StrategyOut:
    """Create a stopped strategy instance of a built-in kind (admins also ``module:Class``)."""
    if body.kind not in BUILTIN_STRATEGIES and principal.role is not Role.ADMIN:
        # Loading a module path imports code on the server: an administrator's decision.
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only admins may load module:Class")
    with core.lock:
        if body.strategy_id in core.strategies.slots:
            raise HTTPException(status.HTTP_409_CONFLICT, f"{body.strategy_id!r} exists")
        try:
            core.strategies.add(body.strategy_id, body.kind, body.params)
        except (ValueError, ValidationError, TypeError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return _out(core, body.strategy_id)


@router.put("/{strategy_id}/params", response_model=StrategyOut, responses={404: {}, 422: {}})
def set_params(strategy_id: str, body: StrategyParamsIn, core: Core, _: Trader) -> StrategyOut:
    with core.lock:
        _known(core, strategy_id)
        try:
            core.strategies.set_params(strategy_id, body.params)
        except (ValueError, ValidationError, TypeError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
        return _out(core, strategy_id)


@router.post("/{strategy_id}/start", response_model=StrategyOut, responses={404: {}})
def start(strategy_id: str, core: Core, _: Trader) -> StrategyOut:
    with core.lock:
        _known(core, strategy_id)
        core.strategies.start(strategy_id)
        return _out(core, strategy_id)


@router.post("/{strategy_id}/stop", response_model=StrategyOut, responses={404: {}})
def stop(strategy_id: str, core: Core, _: Trader) -> StrategyOut:
    """Stop a strategy and cancel its open orders."""
    with core.lock:
        _known(core, strategy_id)
        core.strategies.stop(strategy_id)
        return _out(core, strategy_id)
