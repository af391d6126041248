"""Shared route dependencies: the authenticated principal per permission, and the core."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from velocimex.control.auth import ADMIN, CANCEL, READ, RISK, TRADE, Principal, require
from velocimex.control.core import TradingCore

Reader = Annotated[Principal, Depends(require(*READ))]
Trader = Annotated[Principal, Depends(require(*TRADE))]
Canceller = Annotated[Principal, Depends(require(*CANCEL))]
RiskOfficer = Annotated[Principal, Depends(require(*RISK))]
Admin = Annotated[Principal, Depends(require(*ADMIN))]


def get_core(request: Request) -> TradingCore:
    return request.app.state.core


Core = Annotated[TradingCore, Depends(get_core)]
