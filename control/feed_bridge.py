"""Market-data bus subscriber: book-update records from the feed handler into the core.

The bus contract is the feed handler's (``velocimex.feed.bus``): topic = symbol + NUL, then
40-byte ``book_contract.RECORD_DTYPE`` records (one per message there; several are accepted
here). Status messages (topic ``_status``, JSON) are kept as ``last_status``. A record frame
that is not a whole number of records is counted as malformed.

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
from velocimex.domain import BookTop
from velocimex.feed.bus import STATUS_TOPIC, topic

POLL_MS = 100  # how quickly stop() is noticed


class BookTopSubscriber:
    def __init__(
        self,
        endpoint: str,
        on_book_top: Callable[[BookTop], None],
        locates: Mapping[str, int] | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.on_book_top = on_book_top
        # topic -> configured locate; None: everything, with the feed's own locates.
        self._locates = (
            None if locates is None else {topic(sym): loc for sym, loc in locates.items()}
        )
        self.topics = (b"",) if self._locates is None else (*self._locates, STATUS_TOPIC)
        self.last_status: dict | None = None  # the feed handler's latest status message
        self.messages = 0
        self.records = 0
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
