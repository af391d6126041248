"""`velocimex serve` as a real process on loopback for tests: a free port, JSON calls to its
HTTP API, waiting for the bootstrap admin's token, and a clean SIGINT stop."""

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


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(  # type: ignore[no-untyped-def]
    url: str,
    body: dict | None = None,
    token: str = "",
    method: str | None = None,
    timeout: float = 5.0,
):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read())


def spawn_serve(port: int, admin_password: str, *args: str) -> subprocess.Popen:
    """`velocimex serve --port PORT ARGS...` with its output piped, for failure messages."""
    env = {**os.environ, "VELOCIMEX_ADMIN_PASSWORD": admin_password}
    return subprocess.Popen(
        [sys.executable, "-m", "velocimex.cli", "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def admin_token(proc: subprocess.Popen, base: str, password: str, timeout: float = 60) -> str:
    """Logs in as the bootstrap admin once serve answers; fails with its output if it dies."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        assert time.monotonic() < deadline, "serve did not come up"
        try:
            creds = {"username": "admin", "password": password}
            return call(f"{base}/auth/token", creds)["access_token"]
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGINT (a clean shutdown), then a kill if it has not exited within `timeout`."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
