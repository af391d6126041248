"""Market-data bus subscriber: book-update records from pyzmq into the trading core.

Provisional wire contract until the feed handler documents its own (docs/architecture.md:
"pyzmq PUB, topic = symbol"): a multipart message whose first frame is the topic and whose
last frame is one or more 40-byte ``book_contract.RECORD_DTYPE`` records. A last frame that is
not a whole number of records is counted as malformed and skipped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import numpy as np
import zmq

from velocimex.book_contract import RECORD_BYTES, RECORD_DTYPE
from velocimex.domain import BookTop

POLL_MS = 100  # how quickly stop() is noticed


class BookTopSubscriber:
    def __init__(
        self,
        endpoint: str,
        on_book_top: Callable[[BookTop], None],
        topics: Iterable[bytes] = (b"",),
    ) -> None:
        self.endpoint = endpoint
        self.on_book_top = on_book_top
        self.topics = tuple(topics)
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
        self.messages += 1
        payload = frames[-1]
        if not payload or len(payload) % RECORD_BYTES:
            self.malformed += 1
            return
        for record in np.frombuffer(payload, dtype=RECORD_DTYPE):
            self.records += 1
            try:
                self.on_book_top(BookTop.from_record(record))
            except Exception as exc:  # a bad record must not stop the market data
                self.errors += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
