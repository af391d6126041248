"""Login and user administration."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Request, status
from velocimex.control.auth import Principal
from velocimex.control.routers.deps import Admin, Reader
from velocimex.control.schemas import TokenRequest, TokenResponse, UserIn, UserOut

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={401: {"description": "bad credentials"}, 429: {"description": "too many tries"}},
)
def login(body: TokenRequest, request: Request) -> TokenResponse:
    """The only route without a token: exchanges credentials for one (limited per address)."""
    client = request.client.host if request.client else "unknown"
    if not request.app.state.login_limiter.allow(client):
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many login attempts")
    role = request.app.state.users.verify(body.username, body.password)
    if role is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "bad username or password")
    tokens = request.app.state.tokens
    token = tokens.issue(Principal(body.username, role))
    return TokenResponse(access_token=token, expires_in=tokens.ttl_s, role=role)


@router.get("/me", response_model=UserOut)
def me(principal: Reader) -> UserOut:
    return UserOut(username=principal.username, role=principal.role)


@router.get("/users", response_model=list[UserOut])
def list_users(request: Request, _: Admin) -> list[UserOut]:
    users = request.app.state.users.usernames()
    return [UserOut(username=name, role=role) for name, role in sorted(users.items())]


@router.post("/users", response_model=UserOut, status_code=201)
def add_user(body: UserIn, request: Request, principal: Admin) -> UserOut:
    request.app.state.users.add(body.username, body.password, body.role)
    request.app.state.core.audit.append(
        {
            "ts_ns": time.time_ns(),
            "action": "user_added",
            "actor": principal.username,
            "user": body.username,
            "role": str(body.role),
        }
    )
    return UserOut(username=body.username, role=body.role)
