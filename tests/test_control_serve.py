"""`velocimex serve` as a user runs it: a real process on loopback, bootstrap admin, a token,
an order against the paper venue, and a clean stop."""

from __future__ import annotations

from pathlib import Path

from tests.serve_process import admin_token, call, free_port, spawn_serve, stop_process


def test_serve_starts_authenticates_trades_and_stops(tmp_path: Path) -> None:
    port = free_port()
    proc = spawn_serve(
        port, "serve-test-password", "--data-dir", str(tmp_path), "--instruments", "AAPL:7",
        "--log-level", "warning",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        token = admin_token(proc, base, "serve-test-password")
        top = {"locate": 7, "bid_px": 1_000_000, "bid_qty": 100, "ask_px": 1_000_100, "ask_qty": 50}
        call(f"{base}/feeds/book-tops", top, token)
        order = {"symbol": "AAPL", "side": "B", "quantity": 50, "price": 1_000_100}
        assert call(f"{base}/orders", order, token)["state"] == "filled"
        assert call(f"{base}/positions", token=token)[0]["quantity"] == 50
        assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0
        assert (tmp_path / "orders.jsonl").exists() and (tmp_path / "audit.jsonl").exists()
    finally:
        stop_process(proc)
    assert proc.returncode == 0
