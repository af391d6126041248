"""The control plane's one typed settings object."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from velocimex.domain import Instrument


class InstrumentSetting(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str = Field(min_length=1, max_length=8)
    locate: int = Field(ge=0, le=0xFFFF)
    tick: int = Field(1, ge=1)

    def to_domain(self) -> Instrument:
        return Instrument(self.symbol, self.locate, self.tick)


class VenueSetting(BaseModel):
    """One venue the smart order router trades on: its order session and its own feed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=16, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    ouch: str | None = Field(
        None,
        pattern=r"^[^:\s]*:[0-9]{1,5}$",
        description="HOST:PORT of an OUCH 5.0 / SoupBinTCP session; none: a paper venue",
    )
    ouch_user: str = "trader"
    ouch_password: SecretStr = SecretStr("secret")
    feed: str | None = Field(
        None, description="pyzmq endpoint of this venue's feed handler bus (book tops)"
    )
    fee: int = Field(0, description="ITCH units per share taken: routing tie-breaker")


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data_dir: Path = Path("var/control")
    jwt_secret: SecretStr
    jwt_algorithm: str = "HS256"
    token_ttl_s: int = Field(8 * 3600, ge=60)
    rate_limit_per_minute: int = Field(1200, ge=1, description="requests per user per minute")
    login_attempts_per_minute: int = Field(20, ge=1, description="per client address")
    instruments: list[InstrumentSetting] = Field(default_factory=list)
    # Two or more: the core holds a session to each and routes parent orders across them
    # (control/routing.py). None: one venue (paper, or serve --ouch).
    venues: list[VenueSetting] = Field(default_factory=list)
    max_venue_data_age_ms: int | None = Field(
        None,
        ge=1,
        description="a venue's top older than this is not routed on (default: "
        "the risk limit max_market_data_age_ms)",
    )
    fsync: bool = True
    journal_group_commit: bool = Field(
        True,
        description="journals written to the OS per record, fsync batched on a thread; "
        "false: an fsync per record before each order leaves (docs/control-plane.md: what a "
        "power loss can lose, and how orders at the venue are recovered from its replay)",
    )

    @field_validator("venues")
    @classmethod
    def _distinct_venue_names(cls, venues: list[VenueSetting]) -> list[VenueSetting]:
        names = [v.name for v in venues]
        if len(set(names)) != len(names):
            raise ValueError(f"venue names must be distinct: {names}")
        return venues

    @classmethod
    def load(cls, data_dir: str | Path = "var/control", **overrides: object) -> Settings:
        """Settings for an install in ``data_dir``.

        The JWT secret comes from ``VELOCIMEX_JWT_SECRET`` or from ``data_dir/jwt_secret``,
        which is created with a random value on first use: two installs never share a secret,
        and a restart does not log everyone out.
        """
        data_dir = Path(data_dir)
        secret = os.environ.get("VELOCIMEX_JWT_SECRET") or _install_secret(data_dir)
        return cls(data_dir=data_dir, jwt_secret=SecretStr(secret), **overrides)  # type: ignore[arg-type]

    def domain_instruments(self) -> list[Instrument]:
        return [i.to_domain() for i in self.instruments]


def _install_secret(data_dir: Path) -> str:
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    return secret
