"""Durable append-only JSON-lines files: the order journal and the risk audit log.

Each line is one JSON object carrying a CRC-32 of its own canonical body, written with a single
``write`` and ``fsync``'d before the call returns, so a record the caller was told about is on
disk. A crash can only tear the last line; reading drops a torn tail (and truncates it away so
the next append starts on a clean line) but refuses a damaged line anywhere else, because
silently skipping the middle of an order history would corrupt positions.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class JournalCorrupt(RuntimeError):
    pass


def _canonical(body: dict[str, Any]) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


class Journal:
    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.torn_tail_dropped = 0
        self._lock = threading.Lock()
        self._repair_tail()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _repair_tail(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if not data or data.endswith(b"\n"):
            return
        # An unterminated last line is a write torn by a crash: it was never acknowledged.
        keep = data.rfind(b"\n") + 1
        with open(self.path, "r+b") as fh:
            fh.truncate(keep)
            fh.flush()
            os.fsync(fh.fileno())
        self.torn_tail_dropped += 1

    def append(self, body: dict[str, Any], *, durable: bool = True) -> None:
        """Append one record. ``durable=False`` skips the fsync: the record is in the OS (it
        survives a crash of this process) and reaches the disk with the next durable append."""
        text = _canonical(body)
        # Same bytes as _canonical({"body": body, "crc": ...}) (keys sorted), one dumps less.
        line = f'{{"body":{text},"crc":{zlib.crc32(text.encode())}}}\n'
        with self._lock:
            os.write(self._fd, line.encode())
            if self.fsync and durable:
                os.fsync(self._fd)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every record in order. Raises :class:`JournalCorrupt` on a damaged line."""
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="strict") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.endswith("\n"):
                    # Appended concurrently after we opened; not ours to judge yet.
                    return
                try:
                    wrapper = json.loads(line)
                    body = wrapper["body"]
                    ok = wrapper["crc"] == zlib.crc32(_canonical(body).encode())
                except (ValueError, KeyError, TypeError) as exc:
                    raise JournalCorrupt(f"{self.path}:{lineno}: unreadable record") from exc
                if not ok:
                    raise JournalCorrupt(f"{self.path}:{lineno}: checksum mismatch")
                yield body

    def tail(self, limit: int) -> list[dict[str, Any]]:
        return list(deque(self.records(), maxlen=limit))

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
