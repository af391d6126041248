"""The control API in process: roles on every route, login, orders through risk, kill switch,
metrics, rate limiting and the live event stream."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient
from velocimex.control.app import create_app
from velocimex.control.auth import Role, UserStore
from velocimex.control.settings import InstrumentSetting, Settings

BID, ASK = 1_499_900, 1_500_100
PASSWORD = "correct horse battery"
V, T, R, A = Role.VIEWER, Role.TRADER, Role.RISK_OFFICER, Role.ADMIN
EVERYONE = {V, T, R, A}

# The access matrix, written down independently of the code: (method, path, body, roles).
ROUTES: list[tuple[str, str, dict | None, set[Role]]] = [
    ("GET", "/auth/me", None, EVERYONE),
    ("GET", "/auth/users", None, {A}),
    ("POST", "/auth/users", {"username": "newbie", "password": PASSWORD, "role": "viewer"}, {A}),
    ("GET", "/orders", None, EVERYONE),
    ("GET", "/orders/{client_order_id}", None, EVERYONE),
    ("POST", "/orders", {"symbol": "AAPL", "side": "B", "quantity": 1, "price": BID}, {T, A}),
    ("DELETE", "/orders/{client_order_id}", None, {T, R, A}),
    ("POST", "/orders/cancel-all", None, {T, R, A}),
    ("GET", "/positions", None, EVERYONE),
    ("GET", "/positions/account", None, EVERYONE),
    ("GET", "/positions/pnl-history", None, EVERYONE),
    ("GET", "/risk", None, EVERYONE),
    ("GET", "/risk/limits", None, EVERYONE),
    ("PUT", "/risk/limits", {"max_order_quantity": 5000}, {R, A}),
    ("PUT", "/risk/state", {"state": "active"}, {R, A}),
    ("POST", "/risk/kill-switch", {"reason": "drill"}, {R, A}),
    ("DELETE", "/risk/kill-switch", None, {R, A}),
    ("POST", "/risk/breakers/{name}/reset", None, {R, A}),
    ("GET", "/risk/audit", None, {R, A}),
    ("GET", "/strategies/kinds", None, EVERYONE),
    ("GET", "/strategies", None, EVERYONE),
    ("GET", "/strategies/{strategy_id}", None, EVERYONE),
    ("POST", "/strategies", {"strategy_id": "mm2", "kind": "market_maker",
                              "params": {"symbol": "AAPL"}}, {T, A}),
    ("PUT", "/strategies/{strategy_id}/params", {"params": {"quote_size": 50}}, {T, A}),
    ("POST", "/strategies/{strategy_id}/start", None, {T, A}),
    ("POST", "/strategies/{strategy_id}/stop", None, {T, A}),
    ("GET", "/feeds", None, EVERYONE),
    ("POST", "/feeds/book-tops", {"locate": 7, "bid_px": BID, "bid_qty": 100, "ask_px": ASK,
                                  "ask_qty": 100}, {A}),
    ("GET", "/system/status", None, EVERYONE),
    ("GET", "/system/hardware", None, EVERYONE),
    ("GET", "/system/latency", None, EVERYONE),
    ("GET", "/market/fills", None, EVERYONE),
    ("GET", "/market/{symbol}/tops", None, EVERYONE),
    ("GET", "/market/{symbol}/trades", None, EVERYONE),
    ("POST", "/feeds/trades", {"symbol": "AAPL", "quantity": 100, "price": BID}, {A}),
    ("GET", "/routing", None, EVERYONE),
    ("POST", "/routing/orders", {"symbol": "AAPL", "side": "B", "quantity": 1,
                                 "limit_price": BID}, {T, A}),
    ("GET", "/routing/orders/{parent_id}", None, EVERYONE),
    ("DELETE", "/routing/orders/{parent_id}", None, {T, R, A}),
    ("POST", "/routing/venues/{venue}/book-tops", {"locate": 7, "bid_px": BID, "bid_qty": 100,
                                                   "ask_px": ASK, "ask_qty": 100}, {A}),
    ("GET", "/metrics", None, EVERYONE),
]  # fmt: skip
PUBLIC = {("POST", "/auth/token")}


def make_client(tmp_path: Path, **settings) -> tuple[TestClient, dict[Role, str]]:
    users = UserStore(tmp_path / "users.json", scrypt_n=2**10)  # cheap hashes for tests
    for role in Role:
        users.add(role.value, PASSWORD, role)
    base = {"rate_limit_per_minute": 100_000, "fsync": False}
    cfg = Settings.load(
        tmp_path, instruments=[InstrumentSetting(symbol="AAPL", locate=7)], **{**base, **settings}
    )
    client = TestClient(create_app(cfg, users=users))
    tokens = {}
    for role in Role:
        r = client.post("/auth/token", json={"username": role.value, "password": PASSWORD})
        assert r.status_code == 200, r.text
        tokens[role] = r.json()["access_token"]
    return client, tokens


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quote(client: TestClient, tokens: dict[Role, str], bid: int = BID, ask: int = ASK) -> None:
    body = {"locate": 7, "bid_px": bid, "bid_qty": 100, "ask_px": ask, "ask_qty": 100}
    assert client.post("/feeds/book-tops", json=body, headers=auth(tokens[A])).status_code == 200


def test_route_table_covers_every_route_of_the_app(tmp_path: Path) -> None:
    client, _ = make_client(tmp_path)
    spec = client.get("/openapi.json").json()
    app_routes = {(m.upper(), path) for path, ops in spec["paths"].items() for m in ops}
    assert app_routes == {(m, p) for m, p, _, _ in ROUTES} | PUBLIC


@pytest.mark.parametrize("role", list(Role))
def test_every_route_enforces_its_roles(tmp_path: Path, role: Role) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    order = client.post(
        "/orders",
        json={"symbol": "AAPL", "side": "B", "quantity": 1, "price": BID - 100},
        headers=auth(tokens[A]),
    ).json()
    client.post(
        "/strategies",
        json={"strategy_id": "mm", "kind": "market_maker", "params": {"symbol": "AAPL"}},
        headers=auth(tokens[A]),
    )
    ids = {
        "client_order_id": order["client_order_id"],
        "strategy_id": "mm",
        "name": "loss_limit",
        "symbol": "AAPL",
        "parent_id": "PR00000001",
        "venue": "A",
    }
    for method, path, body, allowed in ROUTES:
        url = path.format(**ids)
        r = client.request(method, url, json=body, headers=auth(tokens[role]))
        if role in allowed:
            assert r.status_code not in (401, 403), (method, path, role, r.text)
            assert r.status_code < 500, (method, path, role, r.text)
        else:
            assert r.status_code == 403, (method, path, role, r.status_code)


def test_every_route_refuses_missing_bad_and_forged_tokens(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    forged = jwt.encode({"sub": "admin", "role": "admin", "exp": 2**40}, "guess", "HS256")
    expired = jwt.encode(
        {"sub": "admin", "role": "admin", "exp": 1},
        client.app.state.settings.jwt_secret.get_secret_value(),
        "HS256",
    )
    for method, path, body, _ in ROUTES:
        url = path.format(
            client_order_id="X",
            strategy_id="mm",
            name="loss_limit",
            symbol="AAPL",
            parent_id="PR00000001",
            venue="A",
        )
        for headers in ({}, auth("not-a-jwt"), auth(forged), auth(expired)):
            r = client.request(method, url, json=body, headers=headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)


def test_login_rejects_bad_password_and_is_rate_limited(tmp_path: Path) -> None:
    client, _ = make_client(tmp_path, login_attempts_per_minute=8)
    codes = [
        client.post("/auth/token", json={"username": "admin", "password": "wrong!"}).status_code
        for _ in range(6)
    ]
    assert set(codes) == {401, 429}  # 4 logins of make_client + 4 wrong, then limited
    assert codes[-1] == 429


def test_per_user_rate_limit_returns_429(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path, rate_limit_per_minute=5)
    codes = [client.get("/risk", headers=auth(tokens[V])).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    assert codes[5:] == [429, 429]
    # Another user has their own budget.
    assert client.get("/risk", headers=auth(tokens[T])).status_code == 200


def test_order_through_api_fills_on_paper_venue_and_shows_in_positions(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    r = client.post(
        "/orders",
        json={"symbol": "AAPL", "side": "B", "quantity": 40, "price": ASK},
        headers=auth(tokens[T]),
    )
    assert r.status_code == 201
    assert r.json()["state"] == "filled"
    pos = client.get("/positions", headers=auth(tokens[V])).json()
    assert pos[0]["quantity"] == 40
    assert pos[0]["average_price"] == ASK
    # A risk reject is an order in state rejected, with the reason.
    r = client.post(
        "/orders",
        json={"symbol": "AAPL", "side": "B", "quantity": 1, "price": ASK * 2},
        headers=auth(tokens[T]),
    )
    assert r.json()["state"] == "rejected"
    assert r.json()["reason"].startswith("price_collar")


def test_kill_switch_in_one_call_stops_strategies_and_cancels_orders(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    h = auth(tokens[T])
    resting = client.post(
        "/orders", json={"symbol": "AAPL", "side": "B", "quantity": 5, "price": BID - 500},
        headers=h,
    ).json()  # fmt: skip
    client.post(
        "/strategies",
        json={"strategy_id": "mm", "kind": "market_maker", "params": {"symbol": "AAPL"}},
        headers=h,
    )
    client.post("/strategies/mm/start", headers=h)
    quote(client, tokens, BID + 100, ASK + 100)
    assert client.get("/strategies/mm", headers=h).json()["open_orders"] == 2

    r = client.post("/risk/kill-switch", json={"reason": "drill"}, headers=auth(tokens[R]))
    assert r.status_code == 200
    assert resting["client_order_id"] in r.json()["cancelled"]
    assert len(r.json()["cancelled"]) == 3
    assert client.get("/orders?open_only=true", headers=h).json() == []
    assert client.get("/strategies/mm", headers=h).json()["running"] is False
    again = client.post(
        "/orders", json={"symbol": "AAPL", "side": "B", "quantity": 1, "price": BID}, headers=h
    )
    assert again.json()["reason"].startswith("kill_switch")
    audit = client.get("/risk/audit", headers=auth(tokens[R])).json()
    assert any(a["action"] == "kill_switch" and a["actor"] == "risk_officer" for a in audit)


def test_metrics_expose_latency_counters_and_risk_state(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    client.post(
        "/orders",
        json={"symbol": "AAPL", "side": "S", "quantity": 1, "price": ASK},
        headers=auth(tokens[T]),
    )
    text = client.get("/metrics", headers=auth(tokens[V])).text
    assert 'vx_risk_trading_state{state="active"} 1.0' in text
    assert 'vx_risk_checks_total{result="approved"} 1.0' in text
    assert "vx_order_submit_seconds_bucket" in text
    assert 'vx_http_request_seconds_count{method="POST",route="/orders"} 1.0' in text
    assert "vx_risk_kill_switch 0.0" in text


def test_websocket_streams_order_and_risk_events(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    with client.websocket_connect(f"/ws/events?token={tokens[V]}") as ws:
        assert ws.receive_json()["channel"] == "hello"
        client.post(
            "/orders",
            json={"symbol": "AAPL", "side": "B", "quantity": 3, "price": BID},
            headers=auth(tokens[T]),
        )
        seen = [ws.receive_json() for _ in range(3)]
    channels = [(m["channel"], m["event"].get("kind") or m["event"].get("action")) for m in seen]
    assert ("risk", "order_check") in channels
    assert ("orders", "accepted") in channels


def test_only_admins_may_load_strategies_by_module_path(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    body = {"strategy_id": "x", "kind": "velocimex.control.strategies.market_maker:"
            "InventoryMarketMaker", "params": {"symbol": "AAPL"}}  # fmt: skip
    assert client.post("/strategies", json=body, headers=auth(tokens[T])).status_code == 403
    assert client.post("/strategies", json=body, headers=auth(tokens[A])).status_code == 201
    bad = {**body, "strategy_id": "y", "kind": "os:path"}
    assert client.post("/strategies", json=bad, headers=auth(tokens[A])).status_code == 422


def test_websocket_accepts_token_as_subprotocol(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    with client.websocket_connect("/ws/events", subprotocols=["bearer", tokens[V]]) as ws:
        assert ws.receive_json()["event"]["user"] == "viewer"
        assert ws.accepted_subprotocol == "bearer"


def test_websocket_refuses_bad_token(tmp_path: Path) -> None:
    from starlette.websockets import WebSocketDisconnect

    client, _ = make_client(tmp_path)
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws/events?token=bad") as ws:
        ws.receive_json()


def test_state_survives_a_control_plane_restart(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    client.post(
        "/orders",
        json={"symbol": "AAPL", "side": "B", "quantity": 7, "price": ASK},
        headers=auth(tokens[T]),
    )
    client.put("/risk/state", json={"state": "reducing_only"}, headers=auth(tokens[R]))
    client.app.state.core.close()
    again, tokens2 = make_client(tmp_path)
    assert again.get("/positions", headers=auth(tokens2[V])).json()[0]["quantity"] == 7
    assert again.get("/risk", headers=auth(tokens2[V])).json()["state"] == "reducing_only"
    # The secret is per install and persistent, so old tokens still work after a restart.
    assert again.get("/auth/me", headers=auth(tokens[V])).status_code == 200


def test_install_secret_is_random_per_install(tmp_path: Path) -> None:
    a = Settings.load(tmp_path / "a").jwt_secret.get_secret_value()
    b = Settings.load(tmp_path / "b").jwt_secret.get_secret_value()
    assert a != b and len(a) >= 32
    assert Settings.load(tmp_path / "a").jwt_secret.get_secret_value() == a
    assert (tmp_path / "a" / "jwt_secret").stat().st_mode & 0o077 == 0


def test_pnl_history_samples_realised_and_unrealised(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    quote(client, tokens)
    client.post(
        "/orders",
        json={"symbol": "AAPL", "side": "B", "quantity": 100, "price": ASK},
        headers=auth(tokens[T]),
    )
    history = client.app.state.pnl_history
    first = history.sample(1)
    quote(client, tokens, BID + 1000, ASK + 1000)  # mark up 10 cents on 100 shares
    second = history.sample(2)
    assert second.unrealised_usd - first.unrealised_usd == pytest.approx(10.0)
    points = client.get("/positions/pnl-history?since_ns=1", headers=auth(tokens[V])).json()
    assert [p["ts_ns"] for p in points] == [2]


def test_hardware_view_shows_the_feed_engine_counters_when_attached(tmp_path: Path) -> None:
    client, tokens = make_client(tmp_path)
    view = client.get("/system/hardware", headers=auth(tokens[V])).json()
    assert view["attached"] is False and set(view["counters"]) >= {"messages", "records"}
    client.app.state.engine_counters = lambda: ("feed test", {"messages": 12, "records": 3})
    view = client.get("/system/hardware", headers=auth(tokens[V])).json()
    assert view["attached"] is True and view["engine"] == "feed test"
    assert view["counters"]["messages"] == 12 and view["counters"]["seq_gaps"] is None
