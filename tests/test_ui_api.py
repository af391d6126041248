"""The API the web UI adds: recent book tops and fills, the latency report, and serving the
built UI (or a clear message when it is not built) without shadowing any API route."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from velocimex.control.app import create_app
from velocimex.control.auth import Role, UserStore
from velocimex.control.settings import InstrumentSetting, Settings

from velocimex.domain import Trade

PASSWORD = "correct horse battery"
BID, ASK = 1_499_900, 1_500_100


def make_client(tmp_path: Path, ui_dir: Path) -> tuple[TestClient, dict[str, str]]:
    users = UserStore(tmp_path / "users.json", scrypt_n=2**10)
    users.add("admin", PASSWORD, Role.ADMIN)
    users.add("viewer", PASSWORD, Role.VIEWER)
    cfg = Settings.load(
        tmp_path / "state",
        instruments=[InstrumentSetting(symbol="AAPL", locate=7)],
        rate_limit_per_minute=100_000,
        fsync=False,
    )
    client = TestClient(create_app(cfg, users=users, ui_dir=ui_dir))
    headers = {}
    for name in ("admin", "viewer"):
        r = client.post("/auth/token", json={"username": name, "password": PASSWORD})
        headers[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return client, headers


def push_top(client: TestClient, admin: dict[str, str], bid: int, ask: int) -> None:
    body = {"locate": 7, "bid_px": bid, "bid_qty": 300, "ask_px": ask, "ask_qty": 200}
    assert client.post("/feeds/book-tops", json=body, headers=admin).status_code == 200


def test_recent_tops_are_kept_per_instrument_oldest_first(tmp_path: Path) -> None:
    client, h = make_client(tmp_path, tmp_path / "no-ui")
    for i in range(5):
        push_top(client, h["admin"], BID + 100 * i, ASK + 100 * i)
    tops = client.get("/market/AAPL/tops?limit=3", headers=h["viewer"]).json()
    assert [t["bid_px"] for t in tops] == [BID + 200, BID + 300, BID + 400]
    assert tops[-1] == {**tops[-1], "ask_px": ASK + 400, "bid_qty": 300, "ask_qty": 200}
    assert tops[0]["ts_ns"] <= tops[1]["ts_ns"] <= tops[2]["ts_ns"]
    assert client.get("/market/MSFT/tops", headers=h["viewer"]).status_code == 404


def test_fills_tape_lists_each_execution_once(tmp_path: Path) -> None:
    client, h = make_client(tmp_path, tmp_path / "no-ui")
    push_top(client, h["admin"], BID, ASK)
    order = {"symbol": "AAPL", "side": "B", "quantity": 50, "price": ASK}
    assert client.post("/orders", json=order, headers=h["admin"]).json()["state"] == "filled"
    resting = {"symbol": "AAPL", "side": "S", "quantity": 30, "price": ASK + 500}
    assert client.post("/orders", json=resting, headers=h["admin"]).json()["state"] != "filled"
    fills = client.get("/market/fills", headers=h["viewer"]).json()
    assert len(fills) == 1
    assert fills[0] | {"quantity": 50, "price": ASK, "side": "B", "symbol": "AAPL"} == fills[0]
    push_top(client, h["admin"], ASK + 600, ASK + 700)  # trades through the resting sell
    fills = client.get("/market/fills?symbol=AAPL", headers=h["viewer"]).json()
    assert [(f["side"], f["quantity"]) for f in fills] == [("B", 50), ("S", 30)]
    assert len({f["execution_id"] for f in fills}) == 2


def test_latency_report_reads_the_bench_quantiles(tmp_path: Path) -> None:
    client, h = make_client(tmp_path, tmp_path / "no-ui")
    q = {"p50": 7364.0, "p90": 14067.9, "p99": 26269.5, "p99_9": 51797.0, "max": 1.9e6}
    hw = {"p50": 32.0, "p90": 32.0, "p99": 32.0, "p99_9": 32.0, "max": 32.0, "count": 2000}
    report = {
        "meta": {"command": "velocimex bench --messages 200000", "date": "2026-11-25"},
        "software": {"per_message_ns": {**q, "count": 200000}},
        "hardware": {"clocks": {"nominal": {"mhz": 156.25, "latency_ns": hw}}},
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(report))
    client.app.state.latency_report_path = path
    out = client.get("/system/latency", headers=h["viewer"]).json()
    assert out["available"] and out["command"] == "velocimex bench --messages 200000"
    engines = {e["name"]: e for e in out["engines"]}
    assert engines["sw"]["latency_ns"]["p99"] == 26269.5
    assert engines["hw_nominal"]["latency_ns"]["p50"] == 32.0
    assert "156.25 MHz" in engines["hw_nominal"]["label"]


def test_latency_report_missing_or_damaged_says_why(tmp_path: Path) -> None:
    client, h = make_client(tmp_path, tmp_path / "no-ui")
    client.app.state.latency_report_path = tmp_path / "absent.json"
    out = client.get("/system/latency", headers=h["viewer"]).json()
    assert out["available"] is False and "FileNotFoundError" in out["error"]
    damaged = tmp_path / "damaged.json"
    damaged.write_text('{"software": {"per_message_ns": {"p50": "fast"}}')
    client.app.state.latency_report_path = damaged
    out = client.get("/system/latency", headers=h["viewer"]).json()
    assert out["available"] is False and out["error"]
    damaged.write_text('{"software": {"per_message_ns": {"p50": "fast"}}}')
    out = client.get("/system/latency", headers=h["viewer"]).json()
    assert out == {**out, "available": False, "engines": []}


def test_unbuilt_ui_explains_how_to_build_and_api_still_answers(tmp_path: Path) -> None:
    ui = tmp_path / "dist"
    client, h = make_client(tmp_path, ui)
    r = client.get("/")
    assert r.status_code == 503 and "make install" in r.text
    assert client.get("/orders", headers=h["viewer"]).status_code == 200
    assert client.get("/orders").status_code == 401  # the mount never bypasses auth
    # A build made while the server runs is served without a restart.
    ui.mkdir()
    (ui / "index.html").write_text("<!doctype html><title>velocimex</title>")
    (ui / "assets").mkdir()
    (ui / "assets" / "app.js").write_text("console.log(1)")
    r = client.get("/")
    assert r.status_code == 200 and "<title>velocimex</title>" in r.text
    assert client.get("/assets/app.js").text == "console.log(1)"
    assert client.get("/positions", headers=h["viewer"]).json() == []
    assert client.get("/openapi.json").status_code == 200


def test_latency_includes_the_live_feed_figures_when_the_feed_reports_them(
    tmp_path: Path,
) -> None:
    client, h = make_client(tmp_path, tmp_path / "no-ui")
    client.app.state.latency_report_path = tmp_path / "absent.json"
    assert client.get("/system/latency", headers=h["viewer"]).json()["live_feed"] is None
    status = {"state": "up", "latency_us": {"samples": 5419, "p50": 2072.6, "p99": 8816.1,
                                            "max": 9100.0}}  # fmt: skip
    client.app.state.feed_status = lambda: ("tcp://127.0.0.1:5560", status)
    live = client.get("/system/latency", headers=h["viewer"]).json()["live_feed"]
    assert live == {"source": "feed tcp://127.0.0.1:5560", "samples": 5419,
                    "p50_ns": 2072600.0, "p99_ns": 8816100.0, "max_ns": 9100000.0}  # fmt: skip
    status["latency_us"] = None  # a feed started without latency measurement
    assert client.get("/system/latency", headers=h["viewer"]).json()["live_feed"] is None


def test_trade_prints_are_kept_per_instrument_and_streamed(tmp_path: Path) -> None:
    client, h = make_client(tmp_path, tmp_path / "no-ui")
    core = client.app.state.core
    token = h["viewer"]["Authorization"].removeprefix("Bearer ")
    with client.websocket_connect(f"/ws/events?token={token}") as ws:
        assert ws.receive_json()["channel"] == "hello"
        for n in range(3):
            core.on_trade(Trade("AAPL", 100 + n, BID + n, 34_200_000_000_000 + n, "SIM", 7 + n))
        core.on_trade(Trade("ZZZZ", 5, BID, 1, "SIM", 99))  # not configured: not kept
        streamed = [ws.receive_json() for _ in range(4)]
    assert [m["channel"] for m in streamed] == ["trades"] * 4
    assert streamed[0]["event"]["match_number"] == 7
    trades = client.get("/market/AAPL/trades?limit=2", headers=h["viewer"]).json()
    assert [(t["quantity"], t["match_number"]) for t in trades] == [(101, 8), (102, 9)]
    assert client.get("/market/ZZZZ/trades", headers=h["viewer"]).status_code == 404
