"""`velocimex serve` as a user runs it: a real process on loopback, bootstrap admin, a token,
an order against the paper venue, and a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body: dict | None = None, token: str = "", method: str | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


def test_serve_starts_authenticates_trades_and_stops(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "VELOCIMEX_ADMIN_PASSWORD": "serve-test-password"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "velocimex.cli", "serve", "--port", str(port), "--data-dir",
         str(tmp_path), "--instruments", "AAPL:7", "--log-level", "warning"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        token = ""
        while not token:
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "serve did not come up"
            try:
                creds = {"username": "admin", "password": "serve-test-password"}
                token = call(f"{base}/auth/token", creds)["access_token"]
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        top = {"locate": 7, "bid_px": 1_000_000, "bid_qty": 100, "ask_px": 1_000_100, "ask_qty": 50}
        call(f"{base}/feeds/book-tops", top, token)
        order = {"symbol": "AAPL", "side": "B", "quantity": 50, "price": 1_000_100}
        assert call(f"{base}/orders", order, token)["state"] == "filled"
        assert call(f"{base}/positions", token=token)[0]["quantity"] == 50
        assert (tmp_path / "jwt_secret").stat().st_mode & 0o077 == 0
        assert (tmp_path / "orders.jsonl").exists() and (tmp_path / "audit.jsonl").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0
