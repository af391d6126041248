"""Schemathesis against the control API's own OpenAPI description, in process, with an admin
token: whatever the schema allows a client to send, the server never answers 5xx."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from velocimex.control.app import create_app
from velocimex.control.auth import Principal, Role, UserStore
from velocimex.control.settings import InstrumentSetting, Settings, VenueSetting

_DATA = Path(tempfile.mkdtemp(prefix="vx-fuzz-"))
_SETTINGS = Settings.load(
    _DATA,
    instruments=[InstrumentSetting(symbol="AAPL", locate=7)],
    rate_limit_per_minute=1_000_000,
    fsync=False,
)
APP = create_app(_SETTINGS, users=UserStore(_DATA / "users.json", scrypt_n=2**10))
TOKEN = APP.state.tokens.issue(Principal("fuzzer", Role.ADMIN))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
def test_control_api_never_answers_5xx(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])


# The routing routes again, on an app that has two venues to route over (the app above has
# one and answers them 409).
_ROUTED_DATA = Path(tempfile.mkdtemp(prefix="vx-fuzz-routed-"))
_ROUTED = create_app(
    Settings.load(
        _ROUTED_DATA,
        instruments=[InstrumentSetting(symbol="AAPL", locate=7)],
        venues=[VenueSetting(name="A"), VenueSetting(name="B", fee=10)],
        rate_limit_per_minute=1_000_000,
        fsync=False,
    ),
    users=UserStore(_ROUTED_DATA / "users.json", scrypt_n=2**10),
)
ROUTED_TOKEN = _ROUTED.state.tokens.issue(Principal("fuzzer", Role.ADMIN))
routed_schema = schemathesis.openapi.from_asgi("/openapi.json", _ROUTED).include(
    path_regex="^/routing"
)


@routed_schema.parametrize()
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
def test_routing_api_never_answers_5xx(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {ROUTED_TOKEN}"})
    assert response.status_code < 500, (case.method, case.path, response.text[:500])
