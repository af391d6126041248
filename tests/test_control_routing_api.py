"""The routing routes of the control API on a control plane configured with two venues."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from velocimex.control.app import create_app
from velocimex.control.auth import Role, UserStore
from velocimex.control.settings import InstrumentSetting, Settings, VenueSetting

from velocimex.book_contract import FLAG_SEQ_GAP

PASSWORD = "correct horse battery"
PX = 150_0000


def make_client(tmp_path: Path) -> tuple[TestClient, dict[Role, dict[str, str]]]:
    users = UserStore(tmp_path / "users.json", scrypt_n=2**10)
    for role in Role:
        users.add(role.value, PASSWORD, role)
    settings = Settings.load(
        tmp_path,
        instruments=[InstrumentSetting(symbol="AAPL", locate=7)],
        venues=[VenueSetting(name="NYSIM"), VenueSetting(name="BXSIM", fee=5)],
        rate_limit_per_minute=100_000,
        fsync=False,
    )
    client = TestClient(create_app(settings, users=users))
    headers = {}
    for role in Role:
        r = client.post("/auth/token", json={"username": role.value, "password": PASSWORD})
        headers[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return client, headers


def venue_top(client: TestClient, admin: dict, venue: str, ask: int, qty: int, seq: int) -> dict:
    body = {"locate": 7, "seq": seq, "bid_px": PX - 100, "bid_qty": 100, "ask_px": ask,
            "ask_qty": qty}  # fmt: skip
    r = client.post(f"/routing/venues/{venue}/book-tops", json=body, headers=admin)
    assert r.status_code == 200, r.text
    return r.json()


def test_parent_order_through_the_api_is_split_and_cancelled(tmp_path: Path) -> None:
    client, h = make_client(tmp_path)
    admin, trader, viewer = h[Role.ADMIN], h[Role.TRADER], h[Role.VIEWER]
    venue_top(client, admin, "NYSIM", PX + 100, 300, 1)
    assert venue_top(client, admin, "BXSIM", PX, 200, 1)["problem"] is None
    status = client.get("/routing", headers=viewer).json()
    assert [(v["name"], v["session_problem"]) for v in status["venues"]] == [
        ("NYSIM", None),
        ("BXSIM", None),
    ]
    # risk sees the consolidated top: best offer of both venues
    feed = client.get("/feeds", headers=viewer).json()["instruments"][0]
    assert (feed["ask_px"], feed["ask_qty"]) == (PX, 200)

    body = {"symbol": "AAPL", "side": "B", "quantity": 600, "limit_price": PX + 100}
    assert client.post("/routing/orders", json=body, headers=viewer).status_code == 403
    r = client.post("/routing/orders", json=body, headers=trader)
    assert r.status_code == 201, r.text
    parent = r.json()
    assert [
        (c["venue"], c["quantity"], c["price"], c["order_type"]) for c in parent["children"]
    ] == [
        ("BXSIM", 200, PX, "ioc"),
        ("NYSIM", 300, PX + 100, "ioc"),
        ("BXSIM", 100, PX + 100, "limit"),  # BXSIM ranks first: the rest rests there
    ]
    assert (parent["state"], parent["filled_quantity"], parent["working_quantity"]) == (
        "working", 500, 100,
    )  # fmt: skip
    blotter = client.get("/orders", headers=viewer).json()
    assert sorted(o["venue"] for o in blotter) == ["BXSIM", "BXSIM", "NYSIM"]
    positions = client.get("/positions", headers=viewer).json()
    assert [p["quantity"] for p in positions if p["symbol"] == "AAPL"] == [500]

    pid = parent["parent_id"]
    r = client.delete(f"/routing/orders/{pid}", headers=h[Role.RISK_OFFICER])
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "cancelled"
    assert client.get(f"/routing/orders/{pid}", headers=viewer).json()["working_quantity"] == 0
    assert client.delete(f"/routing/orders/{pid}", headers=trader).status_code == 409
    assert client.get("/routing/orders/PR99999999", headers=viewer).status_code == 404


def test_a_stale_venue_is_reported_and_unknown_venues_refused(tmp_path: Path) -> None:
    client, h = make_client(tmp_path)
    admin = h[Role.ADMIN]
    top = venue_top(client, admin, "NYSIM", PX, 100, 1)
    assert top["problem"] is None
    gapped = {"locate": 7, "flags": FLAG_SEQ_GAP, "bid_px": PX - 100, "bid_qty": 1, "ask_px": PX,
              "ask_qty": 1}  # fmt: skip
    r = client.post("/routing/venues/NYSIM/book-tops", json=gapped, headers=admin)
    assert r.json()["problem"] == "sequence gap in market data"
    r = client.post("/routing/venues/NOPE/book-tops", json=gapped, headers=admin)
    assert r.status_code == 404
    body = {
        "symbol": "AAPL",
        "side": "B",
        "quantity": 10,
        "limit_price": PX,
        "time_in_force": "ioc",
    }
    parent = client.post("/routing/orders", json=body, headers=h[Role.TRADER]).json()
    assert parent["children"] == [] and parent["state"] == "cancelled"


def test_serve_venue_option_parses_and_refuses_clearly() -> None:
    import argparse

    import pytest
    from velocimex.control.serve import parse_venue

    v = parse_venue("NY=127.0.0.1:15000,feed=tcp://127.0.0.1:5560,fee=3")
    assert (v.name, v.ouch, v.feed, v.fee) == ("NY", "127.0.0.1:15000", "tcp://127.0.0.1:5560", 3)
    assert parse_venue("P=paper").ouch is None
    for bad in ("NY", "NY=", "NY=paper,fee=x", "NY=paper,color=red", "1X=paper", "NY=host"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_venue(bad)


def test_metrics_show_routing_events_parents_and_venue_usability(tmp_path: Path) -> None:
    client, h = make_client(tmp_path)
    venue_top(client, h[Role.ADMIN], "NYSIM", PX, 300, 1)
    body = {"symbol": "AAPL", "side": "B", "quantity": 100, "limit_price": PX}
    assert client.post("/routing/orders", json=body, headers=h[Role.TRADER]).status_code == 201
    text = client.get("/metrics", headers=h[Role.VIEWER]).text
    assert 'vx_routing_events_total{event="children_sent"} 1.0' in text
    assert 'vx_routing_parents{state="filled"} 1.0' in text
    assert 'vx_routing_venue_usable{symbol="AAPL",venue="NYSIM"} 1.0' in text
    assert 'vx_routing_venue_usable{symbol="AAPL",venue="BXSIM"} 0.0' in text


def test_market_parent_through_the_api(tmp_path: Path) -> None:
    client, h = make_client(tmp_path)
    admin, trader = h[Role.ADMIN], h[Role.TRADER]
    body = {"symbol": "AAPL", "side": "B", "quantity": 250}
    # no fresh top on any venue: refused with the reason, nothing sent
    r = client.post("/routing/orders", json=body, headers=trader)
    assert r.status_code == 422 and "stale_market_data" in r.text, r.text
    assert client.get("/orders", headers=trader).json() == []

    venue_top(client, admin, "NYSIM", PX + 100, 300, 1)
    venue_top(client, admin, "BXSIM", PX, 200, 1)
    r = client.post("/routing/orders", json={**body, "limit_price": None}, headers=trader)
    assert r.status_code == 201, r.text
    parent = r.json()
    assert parent["market"] is True and parent["time_in_force"] == "ioc"
    assert parent["limit_price"] > PX + 100  # the collar edge, through both venues' offers
    assert [(c["venue"], c["quantity"], c["order_type"]) for c in parent["children"]] == [
        ("BXSIM", 200, "ioc"),
        ("NYSIM", 50, "ioc"),
    ]
    assert (parent["filled_quantity"], parent["working_quantity"]) == (250, 0)
