"""A deliberately naive, unbounded full-depth ITCH book, written only for the tests.

Plain dicts, no capacities: the engines must equal it wherever no capacity flag is set.
Semantics: ../shared/DESIGN.md section 3 and itch-book's fault rules.
"""

from __future__ import annotations

import struct
from collections import defaultdict

from velocimex.wire import itch


class ReferenceBook:
    def __init__(self, symbols: list[str] | None = None) -> None:
        self.orders: dict[int, list] = {}  # ref -> [locate, is_bid, price, shares]
        self.depth: dict[tuple[int, bool], dict[int, int]] = defaultdict(dict)
        self.names: dict[int, str] = {}
        self.subscribed = set(symbols) if symbols else None
        self.tracked: set[int] = set()
        self.rows: list[tuple] = []

    def _top(self, loc: int) -> tuple[int, int, int, int]:
        bids, asks = self.depth[(loc, True)], self.depth[(loc, False)]
        bp = max(bids) if bids else 0
        ap = min(asks) if asks else 0
        return (bp, bids.get(bp, 0), ap, asks.get(ap, 0))

    def _add(self, ref, loc, is_bid, price, shares):
        self.orders[ref] = [loc, is_bid, price, shares]
        level = self.depth[(loc, is_bid)]
        level[price] = level.get(price, 0) + shares

    def _reduce(self, ref, shares):
        loc, is_bid, price, left = self.orders[ref]
        cut = min(shares, left)
        level = self.depth[(loc, is_bid)]
        level[price] -= cut
        if level[price] == 0:
            del level[price]
        if cut == left:
            del self.orders[ref]
        else:
            self.orders[ref][3] -= cut

    def _is_tracked(self, loc: int) -> bool:
        return self.subscribed is None or loc in self.tracked

    def apply(self, seq: int, m: dict) -> None:
        t = m["type"]
        loc = m["stock_locate"]
        if t == "R":
            name = m["stock"].rstrip()
            self.names[loc] = name
            if self.subscribed is not None:
                (self.tracked.add if name in self.subscribed else self.tracked.discard)(loc)
            return
        touched: list[int] = []
        if t in "AF":
            ref = m["order_ref"]
            if m["shares"] == 0 or m["price"] == 0:
                return
            if ref in self.orders:
                touched.append(self.orders[ref][0])
            before = {x: self._top(x) for x in touched + [loc]}
            if ref in self.orders:
                self._reduce(ref, self.orders[ref][3])
            if self._is_tracked(loc):
                self._add(ref, loc, m["side"] == "B", m["price"], m["shares"])
                touched.append(loc)
        elif t in "ECXD":
            ref = m["order_ref"]
            if ref not in self.orders:
                return
            own = self.orders[ref][0]
            touched.append(own)
            before = {own: self._top(own)}
            n = (
                self.orders[ref][3]
                if t == "D"
                else m.get("executed_shares", m.get("cancelled_shares"))
            )
            self._reduce(ref, n)
        elif t == "U":
            old, new = m["original_order_ref"], m["new_order_ref"]
            if old not in self.orders:
                return
            own, is_bid = self.orders[old][0], self.orders[old][1]
            if new != old and new in self.orders:
                touched.append(self.orders[new][0])
            touched.append(own)
            before = {x: self._top(x) for x in touched}
            self._reduce(old, self.orders[old][3])
            if new in self.orders:
                self._reduce(new, self.orders[new][3])
            if m["shares"] and m["price"]:
                self._add(new, own, is_bid, m["price"], m["shares"])
        else:
            return
        seen = []
        for x in touched:
            if x in seen:
                continue
            seen.append(x)
            after = self._top(x)
            if after != before[x]:
                self.rows.append((seq, m["timestamp"], x, self.names.get(x, ""), *after))

    def run(self, data: bytes, seqs) -> list[tuple]:
        pos = 0
        for seq in seqs:
            (n,) = struct.unpack_from(">H", data, pos)
            self.apply(int(seq), itch.decode(data[pos + 2 : pos + 2 + n]))
            pos += 2 + n
        return self.rows

    def csv(self) -> str:
        head = "seq,timestamp,locate,symbol,bid_px,bid_qty,ask_px,ask_qty\n"
        return head + "".join(",".join(map(str, r)) + "\n" for r in self.rows)
