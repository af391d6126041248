"""The whole live stack on loopback, as the README's walkthrough starts it: the exchange
simulator (ITCH multicast with TTL 0, OUCH), the feed handler (A/B lines, book engine, zmq
bus) and `velocimex serve` trading through OUCH with the feed on its bus. Every port is
picked free and the multicast groups are derived from this process's id, so a run never
meets another test's traffic."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from tests import serve_process
from tests.serve_process import free_port, stop_process

ADMIN_PASSWORD = "ui-test-admin-password"
USER_PASSWORD = "ui-test-user-password"
USERS = {"trader": "trader", "risk": "risk_officer", "viewer": "viewer"}
SYMBOLS = "AAPL,MSFT,NVDA"


def call(url: str, body: dict | None = None, token: str = "", method: str | None = None):  # type: ignore[no-untyped-def]
    # Three processes plus a browser answer more slowly than a lone serve.
    return serve_process.call(url, body, token, method, timeout=10)


@dataclass
class Stack:
    workdir: Path
    base: str = ""
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)
    commands: dict[str, tuple[tuple[str, ...], dict[str, str] | None]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def _spawn(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"{name}.log"
        self.logs.append(log)
        self.commands[name] = (args, env)
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "velocimex.cli", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
            )
        self.procs.append(proc)

    def start(self, timeout: float = 90.0) -> None:
        group = 1 + os.getpid() % 250
        line_a = f"239.77.{group}.1:{free_port(socket.SOCK_DGRAM)}"
        line_b = f"239.77.{group}.2:{free_port(socket.SOCK_DGRAM)}"
        retrans, ouch = free_port(socket.SOCK_DGRAM), free_port()
        pub, snapshot, http = free_port(), free_port(), free_port()
        self._spawn(
            "exchange", "exchange", "--host", "127.0.0.1", "--ouch-port", str(ouch),
            "--line-a", line_a, "--line-b", line_b, "--interface", "127.0.0.1",
            "--retrans-port", str(retrans), "--symbols", SYMBOLS, "--seed", "11",
            "--rate", "200", "--user", "trader:secret",
        )  # fmt: skip
        self._spawn(
            "feed", "feed", "--line-a", line_a, "--line-b", line_b, "--interface", "127.0.0.1",
            "--retrans", f"127.0.0.1:{retrans}", "--pub", f"tcp://127.0.0.1:{pub}",
            "--snapshot", f"tcp://127.0.0.1:{snapshot}",
        )  # fmt: skip
        self._spawn(
            "serve", "serve", "--port", str(http), "--data-dir", str(self.workdir / "state"),
            "--ouch", f"127.0.0.1:{ouch}", "--ouch-user", "trader", "--ouch-password", "secret",
            "--feed", f"tcp://127.0.0.1:{pub}", "--instruments", "AAPL:1,MSFT:2,NVDA:3",
            "--log-level", "warning",
            env={"VELOCIMEX_ADMIN_PASSWORD": ADMIN_PASSWORD},
        )  # fmt: skip
        self.base = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                # Logins are rate limited per address: log in once, then poll with the token.
                token = self.tokens.get("admin") or self.token("admin", ADMIN_PASSWORD)
                self.tokens["admin"] = token
                feeds = call(f"{self.base}/feeds", token=token)
                if all(i["bid_px"] for i in feeds["instruments"]):
                    break
            except (urllib.error.URLError, ConnectionError, KeyError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("live stack did not deliver book tops:\n" + self.tail())
            time.sleep(0.3)
        for username, role in USERS.items():
            body = {"username": username, "password": USER_PASSWORD, "role": role}
            call(f"{self.base}/auth/users", body, token)

    def restart_serve(self, down_s: float = 1.0, timeout: float = 60.0) -> None:
        """Stop the control plane, keep it down ``down_s``, start it again on the same port
        and state directory (users and JWT secret survive, so issued tokens stay valid)."""
        serve = self.procs[2]
        serve.send_signal(signal.SIGINT)
        serve.wait(15)
        time.sleep(down_s)
        args, env = self.commands["serve"]
        self.procs.pop(2)
        self.logs.pop(2)
        self._spawn("serve", *args, env=env)
        self.procs.insert(2, self.procs.pop())
        self.logs.insert(2, self.logs.pop())
        deadline = time.monotonic() + timeout
        while True:
            self._check_alive()
            try:
                self.token("admin", ADMIN_PASSWORD)
                return
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not come back:\n" + self.tail()) from None
                time.sleep(0.3)

    def token(self, username: str, password: str = USER_PASSWORD) -> str:
        body = {"username": username, "password": password}
        return call(f"{self.base}/auth/token", body)["access_token"]

    def api(self, path: str, body: dict | None = None, user: str = "admin", method=None):
        # One login per user: the control plane rate-limits logins per client address, and
        # the browser's own logins come from the same 127.0.0.1.
        if user not in self.tokens:
            password = ADMIN_PASSWORD if user == "admin" else USER_PASSWORD
            self.tokens[user] = self.token(user, password)
        return call(f"{self.base}{path}", body, self.tokens[user], method)

    def _check_alive(self) -> None:
        for proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[3]} exited {proc.returncode}:\n" + self.tail())

    def tail(self, lines: int = 15) -> str:
        out = []
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
            out.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        # serve first (it logs out of OUCH), then the feed, then the exchange.
        for proc in reversed(self.procs):
            stop_process(proc, 15)
