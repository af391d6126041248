"""Market-data bus subscriber: book-update records and trade prints from the feed handler
into the core.

The bus contract is the feed handler's (``velocimex.feed.bus``): topic = symbol + NUL, then
40-byte ``book_contract.RECORD_DTYPE`` records (one per message there; several are accepted
here). Status messages (topic ``_status``, JSON) are kept as ``last_status``. A record frame
that is not a whole number of records is counted as malformed. Given ``on_trade``, it also
subscribes to the trade prints (topic ``_trade:`` + symbol + NUL, 36-byte
``velocimex.feed.trades.PRINT_DTYPE`` records) and hands each on as a ``domain.Trade``, in the
feed's sequence order with the book tops (one SUB socket, one ordered stream).

Stock locates are assigned per session by the exchange, so when the subscriber is given the
control plane's instruments it subscribes to their topics only and rewrites each record's
locate to the configured one: the symbol in the topic is what identifies the instrument.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace

import numpy as np
import zmq

from velocimex.book_contract import RECORD_BYTES, RECORD_DTYPE
from velocimex.domain import BookTop, Trade
from velocimex.feed.bus import STATUS_TOPIC, TRADE_PREFIX, topic, trade_topic
from velocimex.feed.trades import PRINT_BYTES, PRINT_DTYPE

POLL_MS = 100  # how quickly stop() is noticed


class BookTopSubscriber:
    def __init__(
        self,
        endpoint: str,
        on_book_top: Callable[[BookTop], None],
        locates: Mapping[str, int] | None = None,
        on_trade: Callable[[Trade], None] | None = None,
        venue: str = "",
    ) -> None:
        self.endpoint = endpoint
        self.on_book_top = on_book_top
        self.on_trade = on_trade
        self.venue = venue  # put on each Trade: which venue printed it
        # topic -> configured locate; None: everything, with the feed's own locates.
        self._locates = (
            None if locates is None else {topic(sym): loc for sym, loc in locates.items()}
        )
        if self._locates is None:
            self.topics: tuple[bytes, ...] = (b"",)
        else:
            trades = () if on_trade is None else tuple(trade_topic(s) for s in locates or ())
            self.topics = (*self._locates, *trades, STATUS_TOPIC)
        self.last_status: dict | None = None  # the feed handler's latest status message
        self.messages = 0
        self.records = 0
        self.trades = 0
        self.malformed = 0
        self.errors = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._context = zmq.Context.instance()

    def start(self) -> None:
        # The socket is created on the subscriber thread: zmq sockets are not thread safe.
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="md-bus", daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self, ready: threading.Event) -> None:
        sock = self._context.socket(zmq.SUB)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            for topic in self.topics:
                sock.setsockopt(zmq.SUBSCRIBE, topic)
            sock.connect(self.endpoint)
            ready.set()
            while not self._stop.is_set():
                if not sock.poll(POLL_MS):
                    continue
                self._handle(sock.recv_multipart(copy=True))
        finally:
            ready.set()
            sock.close()

    def _handle(self, frames: list[bytes]) -> None:
        if frames[0] == STATUS_TOPIC:
            try:
                self.last_status = json.loads(frames[-1])
            except ValueError:
                self.malformed += 1
            return
        if frames[0].startswith(TRADE_PREFIX):
            self._handle_trade(frames)
            return
        self.messages += 1
        payload = frames[-1]
        if len(frames) < 2 or not payload or len(payload) % RECORD_BYTES:
            self.malformed += 1
            return
        locate = None if self._locates is None else self._locates.get(frames[0])
        for record in np.frombuffer(payload, dtype=RECORD_DTYPE):
            self.records += 1
            try:
                top = BookTop.from_record(record)
                if locate is not None and top.locate != locate:
                    top = replace(top, locate=locate)
                self.on_book_top(top)
            except Exception as exc:  # a bad record must not stop the market data
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"

    def _handle_trade(self, frames: list[bytes]) -> None:
        if self.on_trade is None:
            return  # subscribed to everything, but nobody here follows volume
        self.messages += 1
        payload = frames[-1]
        symbol = frames[0][len(TRADE_PREFIX) :].rstrip(b"\0").decode("latin-1")
        if len(frames) < 2 or not payload or len(payload) % PRINT_BYTES or not symbol:
            self.malformed += 1
            return
        for row in np.frombuffer(payload, dtype=PRINT_DTYPE):
            self.trades += 1
            try:
                self.on_trade(
                    Trade(
                        symbol,
                        int(row["shares"]),
                        int(row["price"]),
                        int(row["timestamp"]),
                        self.venue,
                        int(row["match_number"]),
                    )
                )
            except Exception as exc:  # a bad print must not stop the market data
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
