"""Seeded random ITCH streams of chosen shapes for differential tests of the book engines.

Unlike the realistic generator, these aim at the corners: duplicate references across
instruments, unknown references, zero shares and prices, over-executions, replace chains,
and orders added before their instrument's directory message.
"""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

import numpy as np

from velocimex.wire.itch import encode


@dataclass(frozen=True)
class Shape:
    locates: int = 4
    ticks: int = 10  # distinct price ticks either side of the mid
    p_add: float = 0.45
    p_delete: float = 0.2
    p_execute: float = 0.12
    p_cancel: float = 0.08
    p_replace: float = 0.1
    p_noise: float = 0.05  # faults: dup refs, unknown refs, zero shares/prices, other types
    directory_late: bool = False  # R messages arrive after the first orders


def stream(seed: int, n: int, shape: Shape = Shape()) -> tuple[bytes, np.ndarray]:
    rnd = random.Random(seed)
    msgs: list[bytes] = []
    live: dict[int, int] = {}  # ref -> locate
    next_ref = 1
    names = [f"T{loc:03d}" for loc in range(shape.locates + 1)]
    directory = [
        encode("R", stock_locate=loc, stock=names[loc]) for loc in range(1, shape.locates + 1)
    ]
    if not shape.directory_late:
        msgs += directory
    ts = 0

    def pick_live() -> int:
        keys = list(live)
        return keys[-1 - min(len(keys) - 1, int(rnd.expovariate(0.2)))]

    for i in range(n):
        if shape.directory_late and i == n // 3:
            msgs += directory
        ts += rnd.randint(0, 1000)
        r = rnd.random()
        if r < shape.p_add or not live:
            loc = rnd.randint(1, shape.locates)
            side = rnd.choice("BS")
            off = rnd.randint(0, shape.ticks)
            px = 100_000 - off * 100 if side == "B" else 100_100 + off * 100
            shares = rnd.choice((100, 200, 300, 500, 1000, 37, 1))
            kind = "A" if rnd.random() < 0.8 else "F"
            msgs.append(
                encode(
                    kind,
                    stock_locate=loc,
                    order_ref=next_ref,
                    side=side,
                    shares=shares,
                    stock=names[loc],
                    price=px,
                    timestamp=ts,
                )
            )
            live[next_ref] = loc
            next_ref += 1
            continue
        r -= shape.p_add
        ref = pick_live()
        loc = live[ref]
        if r < shape.p_delete:
            msgs.append(encode("D", stock_locate=loc, order_ref=ref, timestamp=ts))
            del live[ref]
        elif r < shape.p_delete + shape.p_execute:
            kind = rnd.choice("EC")
            extra = {"printable": "Y", "execution_price": 100_000} if kind == "C" else {}
            msgs.append(
                encode(
                    kind,
                    stock_locate=loc,
                    order_ref=ref,
                    timestamp=ts,
                    executed_shares=rnd.choice((1, 100, 200, 5000)),
                    **extra,
                )
            )
        elif r < shape.p_delete + shape.p_execute + shape.p_cancel:
            msgs.append(
                encode(
                    "X",
                    stock_locate=loc,
                    order_ref=ref,
                    timestamp=ts,
                    cancelled_shares=rnd.choice((1, 100, 5000)),
                )
            )
        elif r < shape.p_delete + shape.p_execute + shape.p_cancel + shape.p_replace:
            off = rnd.randint(0, shape.ticks)
            msgs.append(
                encode(
                    "U",
                    stock_locate=loc,
                    original_order_ref=ref,
                    new_order_ref=next_ref,
                    shares=rnd.choice((100, 200, 400)),
                    price=100_000 + (off - shape.ticks // 2) * 100,
                    timestamp=ts,
                )
            )
            del live[ref]
            live[next_ref] = loc
            next_ref += 1
        else:
            fault = rnd.randrange(6)
            other = rnd.randint(1, shape.locates)
            if fault == 0:  # duplicate reference onto a live order, maybe another instrument
                msgs.append(
                    encode(
                        "A",
                        stock_locate=other,
                        order_ref=ref,
                        side=rnd.choice("BS"),
                        shares=100,
                        stock=names[other],
                        price=100_000,
                        timestamp=ts,
                    )
                )
                live[ref] = other
            elif fault == 1:  # unknown reference
                msgs.append(
                    encode(
                        rnd.choice("DXE"),
                        stock_locate=loc,
                        order_ref=next_ref + 10**6,
                        timestamp=ts,
                    )
                )
            elif fault == 2:  # zero shares or zero price
                msgs.append(
                    encode(
                        "A",
                        stock_locate=loc,
                        order_ref=next_ref,
                        side="B",
                        shares=rnd.choice((0, 100)),
                        stock=names[loc],
                        price=0 if rnd.random() < 0.5 else 100_000,
                        timestamp=ts,
                    )
                )
                next_ref += 1  # may or may not be live: left to the engines
            elif fault == 3:  # replace onto a live reference (maybe another instrument)
                target = pick_live()
                if target != ref:
                    msgs.append(
                        encode(
                            "U",
                            stock_locate=other,
                            original_order_ref=ref,
                            new_order_ref=target,
                            shares=rnd.choice((0, 100)),
                            price=99_900,
                            timestamp=ts,
                        )
                    )
                    live[target] = loc
                    del live[ref]
            elif fault == 4:  # messages that leave the book alone
                msgs.append(encode(rnd.choice("SHPQI"), stock_locate=loc, timestamp=ts))
            else:  # replace keeping the same reference
                msgs.append(
                    encode(
                        "U",
                        stock_locate=loc,
                        original_order_ref=ref,
                        new_order_ref=ref,
                        shares=100,
                        price=100_000 - 100,
                        timestamp=ts,
                    )
                )
    data = b"".join(struct.pack(">H", len(m)) + m for m in msgs)
    return data, np.arange(1, len(msgs) + 1, dtype=np.uint64)
