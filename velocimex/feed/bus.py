"""The market-data bus: book-update records on zmq PUB, a snapshot service on zmq REP.

PUB message (two frames): topic = symbol ASCII bytes + ``b"\\0"`` (so a SUB filters one
symbol exactly with the prefix ``b"AAPL\\0"``), then the 40-byte little-endian record of
``velocimex.book_contract.RECORD_DTYPE``. Status: topic ``b"_status\\0"``, JSON body.
Trade prints: topic ``b"_trade:"`` + symbol + ``b"\\0"`` (all prints: the prefix
``b"_trade:"``), then one 36-byte ``velocimex.feed.trades.PRINT_DTYPE`` record; they are sent
in sequence order with the book records.

Snapshot REP: request one frame, a symbol or ``*`` (every symbol with a top) or
``_status``. Reply two frames: JSON ``{"session", "last_seq", "symbols": [...]}`` and the
records (40 bytes each, in the order of ``symbols``); or, for ``_status``, the status JSON
and an empty frame. A bad request gets ``{"error": ...}`` and an empty frame.
"""

from __future__ import annotations

import json

import numpy as np
import zmq

from velocimex import book_contract as bc
from velocimex.feed.trades import PRINT_BYTES

STATUS_TOPIC = b"_status\0"
TRADE_PREFIX = b"_trade:"
ALL_SYMBOLS = b"*"
STATUS_REQUEST = b"_status"
DEFAULT_PUB = "tcp://127.0.0.1:5560"
DEFAULT_SNAPSHOT = "tcp://127.0.0.1:5561"
_SNDMORE = int(zmq.SNDMORE)


def topic(symbol: str) -> bytes:
    # latin-1: a corrupt Stock Directory may carry any byte, and must not stop the feed.
    return symbol.encode("latin-1") + b"\0"


def trade_topic(symbol: str) -> bytes:
    # Not ``symbol + NUL`` first: a book subscriber's prefix must never match a print.
    return TRADE_PREFIX + topic(symbol)


class TopOfBook:
    """Latest record per locate, plus the symbol names the engine has seen."""

    def __init__(self, locates: int) -> None:
        self.records = np.zeros(locates, dtype=bc.RECORD_DTYPE)
        self.present = np.zeros(locates, dtype=bool)
        self.symbols: dict[int, str] = {}
        self.last_seq = 0

    def clear(self) -> None:
        self.records = np.zeros(len(self.records), dtype=bc.RECORD_DTYPE)
        self.present[:] = False
        self.symbols.clear()
        self.last_seq = 0

    def update(self, records: np.ndarray) -> None:
        if not len(records):
            return
        locs = records["locate"]
        # Last record of each locate wins (fancy assignment order is not guaranteed).
        _, first_rev = np.unique(locs[::-1], return_index=True)
        last = len(locs) - 1 - first_rev
        self.records[locs[last]] = records[last]
        self.present[locs[last]] = True

    def select(self, symbol: str) -> tuple[list[str], bytes]:
        if symbol == "*":
            locs = [int(x) for x in np.flatnonzero(self.present)]
        else:
            locs = [loc for loc, s in self.symbols.items() if s == symbol and self.present[loc]]
        return [self.symbols.get(loc, "") for loc in locs], self.records[locs].tobytes()


class MarketDataBus:
    def __init__(
        self,
        pub_endpoint: str = DEFAULT_PUB,
        snapshot_endpoint: str | None = DEFAULT_SNAPSHOT,
        context: zmq.Context | None = None,
        hwm: int = 1_000_000,
    ) -> None:
        self.context = context or zmq.Context.instance()
        self.pub = self.context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.SNDHWM, hwm)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.rep: zmq.Socket | None = None
        try:
            self.pub.bind(pub_endpoint)
            if snapshot_endpoint:
                self.rep = self.context.socket(zmq.REP)
                self.rep.setsockopt(zmq.LINGER, 0)
                self.rep.bind(snapshot_endpoint)
        except zmq.ZMQError:
            self.close()
            raise
        self.published = 0
        self.trades_published = 0
        self.snapshot_requests = 0
        self.bad_requests = 0

    def publish(self, records: np.ndarray, topics: list[bytes]) -> None:
        raw = records.tobytes()
        send = self.pub.send
        # Plain int flags and two send calls: send_multipart's flag enums cost more than
        # the send itself at one message per record.
        more = _SNDMORE
        size = bc.RECORD_BYTES
        for i, t in enumerate(topics):
            send(t, more)
            send(raw[i * size : (i + 1) * size])
        self.published += len(topics)

    def publish_mixed(
        self,
        records: np.ndarray,
        topics: list[bytes],
        prints: np.ndarray,
        print_topics: list[bytes],
        order: list[int],
    ) -> None:
        """Prints and records interleaved: ``order`` indexes prints first, then records."""
        raw = records.tobytes()
        raw_prints = prints.tobytes()
        send = self.pub.send
        more = _SNDMORE
        size = bc.RECORD_BYTES
        n_prints = len(print_topics)
        for k in order:
            if k < n_prints:
                send(print_topics[k], more)
                send(raw_prints[k * PRINT_BYTES : (k + 1) * PRINT_BYTES])
            else:
                i = k - n_prints
                send(topics[i], more)
                send(raw[i * size : (i + 1) * size])
        self.published += len(topics)
        self.trades_published += n_prints

    def publish_status(self, status: dict) -> None:
        self.pub.send_multipart((STATUS_TOPIC, json.dumps(status).encode()))

    def serve_snapshot(self, top: TopOfBook, session: str | None, status: dict) -> None:
        """Answer one pending snapshot request (call when ``rep`` is readable)."""
        assert self.rep is not None
        try:
            frames = self.rep.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        self.snapshot_requests += 1
        request = frames[0] if len(frames) == 1 else b""
        if request == STATUS_REQUEST:
            self.rep.send_multipart((json.dumps(status).encode(), b""))
            return
        try:
            symbol = request.decode("ascii").strip()
            if not symbol or len(symbol) > 8:
                raise ValueError
        except ValueError:
            self.bad_requests += 1
            error = {"error": "request one frame: a symbol of 1-8 ASCII characters, * or _status"}
            self.rep.send_multipart((json.dumps(error).encode(), b""))
            return
        symbols, raw = top.select(symbol)
        head = {"session": session, "last_seq": top.last_seq, "symbols": symbols}
        self.rep.send_multipart((json.dumps(head).encode(), raw))

    def close(self) -> None:
        self.pub.close(0)
        if self.rep is not None:
            self.rep.close(0)
