"""Users, passwords, JWT tokens, role checks and per-user rate limiting.

Every route declares the roles it admits through :func:`require`; the dependency also applies
the per-user rate limit, so no route can be authenticated without being limited.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


class Role(enum.StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    RISK_OFFICER = "risk_officer"
    ADMIN = "admin"


# Who may do what. Risk officers can cancel (reducing risk) but not place orders; traders
# cannot touch limits, trading state or the kill switch.
READ = (Role.VIEWER, Role.TRADER, Role.RISK_OFFICER, Role.ADMIN)
TRADE = (Role.TRADER, Role.ADMIN)
CANCEL = (Role.TRADER, Role.RISK_OFFICER, Role.ADMIN)
RISK = (Role.RISK_OFFICER, Role.ADMIN)
ADMIN = (Role.ADMIN,)


@dataclass(frozen=True)
class Principal:
    username: str
    role: Role


DEFAULT_SCRYPT_N = 2**14


def _hash_password(password: str, salt: bytes, n: int = DEFAULT_SCRYPT_N) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32, maxmem=2**26)


class UserStore:
    """Users in ``users.json`` (0600): scrypt password hashes, never the passwords."""

    def __init__(self, path: Path, scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        self.path = path
        self.scrypt_n = scrypt_n  # work factor for new hashes; each record keeps its own
        self._lock = threading.Lock()
        self._users: dict[str, dict[str, str | int]] = {}
        if path.exists():
            self._users = json.loads(path.read_text())

    def __len__(self) -> int:
        return len(self._users)

    def usernames(self) -> dict[str, Role]:
        return {name: Role(str(u["role"])) for name, u in self._users.items()}

    def add(self, username: str, password: str, role: Role) -> None:
        salt = secrets.token_bytes(16)
        digest = _hash_password(password, salt, self.scrypt_n)
        record: dict[str, str | int] = {
            "role": str(role),
            "salt": salt.hex(),
            "hash": digest.hex(),
            "n": self.scrypt_n,
        }
        with self._lock:
            self._users[username] = record
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(self._users, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)

    def verify(self, username: str, password: str) -> Role | None:
        record = self._users.get(username)
        if record is None:
            # Same work for unknown users, so timing does not reveal which names exist.
            _hash_password(password, b"\0" * 16, self.scrypt_n)
            return None
        n = int(record.get("n", DEFAULT_SCRYPT_N))
        digest = _hash_password(password, bytes.fromhex(record["salt"]), n)
        if hmac.compare_digest(digest.hex(), str(record["hash"])):
            return Role(str(record["role"]))
        return None


class TokenIssuer:
    def __init__(self, secret: str, algorithm: str, ttl_s: int) -> None:
        self._secret = secret
        self.algorithm = algorithm
        self.ttl_s = ttl_s

    def issue(self, principal: Principal) -> str:
        now = int(time.time())
        claims = {"sub": principal.username, "role": str(principal.role), "iat": now}
        claims["exp"] = now + self.ttl_s
        return jwt.encode(claims, self._secret, algorithm=self.algorithm)

    def verify(self, token: str) -> Principal:
        """Raises ``jwt.InvalidTokenError`` for a bad, expired or tampered token."""
        claims = jwt.decode(
            token, self._secret, algorithms=[self.algorithm], options={"require": ["exp", "sub"]}
        )
        try:
            return Principal(str(claims["sub"]), Role(claims["role"]))
        except (KeyError, ValueError) as exc:
            raise jwt.InvalidTokenError("token without a valid role") from exc


class RateLimiter:
    """Token bucket per key: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.limited = 0

    def allow(self, key: str) -> bool:
        now = self.clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                self.limited += 1
                return False
            self._buckets[key] = (tokens - 1.0, now)
            return True


_bearer = HTTPBearer(auto_error=False, description="JWT from POST /auth/token")


def require(*roles: Role) -> Callable[..., Principal]:
    allowed = frozenset(roles)

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            principal = request.app.state.tokens.verify(credentials.credentials)
        except jwt.InvalidTokenError as exc:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                f"invalid token: {exc}",
                headers={"WWW-Authenticate": "Bearer"},
            ) from None
        if principal.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"role {principal.role} may not do this")
        if not request.app.state.rate_limiter.allow(principal.username):
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS, "rate limit", headers={"Retry-After": "1"}
            )
        return principal

    dependency.__name__ = "require_" + "_".join(sorted(str(r) for r in allowed))
    return dependency
