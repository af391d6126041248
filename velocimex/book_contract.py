"""The book engine contract shared by the RTL and the software fallback.

Capacities, the output record layout, the flag bits and the counter indices are defined here
and nowhere else. ``velocimex.rtl_params`` renders them into ``hw/rtl/vx_params.vh``; the
numba kernel reads them from here; ``docs/book-engine.md`` explains them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Capacity:
    """Table sizes of one engine build. The RTL takes them as Verilog parameters."""

    locate_bits: int = 14  # instruments tracked: stock locate 0 .. 2**locate_bits - 1
    levels: int = 64  # price levels held per instrument and side, best first
    order_set_bits: int = 16  # order table sets, indexed by the low bits of the order reference
    order_ways: int = 4  # orders per set (set-associative, searched in parallel)
    sub_symbols: int = 64  # symbol subscription entries (empty table = track everything)

    @property
    def locates(self) -> int:
        return 1 << self.locate_bits

    @property
    def order_sets(self) -> int:
        return 1 << self.order_set_bits

    @property
    def orders(self) -> int:
        return self.order_sets * self.order_ways

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


DEFAULT_CAPACITY = Capacity()
# What `make synth` builds: an ECP5-85 holds this in block RAM.
SYNTH_CAPACITY = Capacity(locate_bits=6, levels=8, order_set_bits=10, order_ways=4, sub_symbols=8)

# Record flags (uint16). See docs/book-engine.md, "Capacity and flags".
# bid side: held levels empty but orders beyond capacity remain, so the best bid is unknown
FLAG_BID_UNKNOWN = 0x0001
FLAG_ASK_UNKNOWN = 0x0002  # same for the ask side
# some side holds orders beyond `levels`; the top shown is still exact
FLAG_DEPTH_TRUNCATED = 0x0004
# sticky per instrument: an add was dropped (order set full or level quantity overflow)
FLAG_ORDERS_LOST = 0x0008
FLAG_SEQ_GAP = 0x0010  # sticky per session: a MoldUDP64 sequence gap was seen before this record
FLAG_NAMES = {
    FLAG_BID_UNKNOWN: "bid_unknown",
    FLAG_ASK_UNKNOWN: "ask_unknown",
    FLAG_DEPTH_TRUNCATED: "depth_truncated",
    FLAG_ORDERS_LOST: "orders_lost",
    FLAG_SEQ_GAP: "seq_gap",
}

# One 40-byte little-endian record per top-of-book change. The RTL emits it as one 320-bit
# AXI-Stream beat with these byte offsets.
RECORD_DTYPE = np.dtype(
    {
        "names": [
            "seq",
            "timestamp",
            "locate",
            "flags",
            "bid_px",
            "bid_qty",
            "ask_px",
            "ask_qty",
            "msg_type",
            "reserved",
        ],
        "formats": ["<u8", "<u8", "<u2", "<u2", "<u4", "<u4", "<u4", "<u4", "u1", "V3"],
        "offsets": [0, 8, 16, 18, 20, 24, 28, 32, 36, 37],
        "itemsize": 40,
    }
)
RECORD_BYTES = RECORD_DTYPE.itemsize

# Counter indices (uint64 each). The RTL exposes the same list, in this order, through the
# AXI-Lite register block; the fallback returns them as an array.
COUNTER_NAMES: tuple[str, ...] = (
    "messages",  # every message block seen by the engine
    "book_messages",  # A F E C X D U with a valid length
    "records",  # book-update records emitted
    "unknown_type",  # type byte not in ITCH 5.0: skipped by its length
    "bad_length",  # known type whose block length differs from the specification
    "unknown_ref",  # E C X D U naming an order reference that is not live
    "rejected_add",  # A F U adding zero shares or at price zero
    "locate_out_of_range",  # stock locate >= 2**locate_bits
    "untracked",  # A F for an instrument not subscribed
    "duplicate_ref",  # A F U adding a reference that was still live (old order replaced)
    "orders_lost",  # add dropped: its order-table set was full
    "qty_overflow",  # add dropped: level aggregate would exceed 2**32 - 1
    "level_evictions",  # worst held level pushed beyond capacity
    "beyond_levels",  # adds placed beyond the held levels of their side
    "seq_gaps",  # MoldUDP64 sequence gaps (messages missing)
    "seq_duplicates",  # messages with a sequence number already seen (dropped)
    "dual_records",  # messages that changed two instruments (duplicate ref across instruments)
)
COUNTER = {name: i for i, name in enumerate(COUNTER_NAMES)}
NUM_COUNTERS = len(COUNTER_NAMES)

CSV_HEADER = "seq,timestamp,locate,symbol,bid_px,bid_qty,ask_px,ask_qty"
