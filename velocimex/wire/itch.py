"""NASDAQ TotalView-ITCH 5.0 message layouts, encoder and decoder.

This table is the single definition of every ITCH message in the project: the software
decoder, the generator, the RTL parameter header (``velocimex.rtl_params``) and the docs
all derive from it. Layouts follow the public specification "NASDAQ TotalView-ITCH 5.0"
(all integers big-endian, timestamps 6-byte nanoseconds since midnight, ``Price(4)`` a
uint32 with four implied decimals, ``Price(8)`` a uint64 with eight).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

# Field kinds: "u1/u2/u4/u8" unsigned ints, "ts" 6-byte timestamp, "c" one ASCII char,
# "aN" left-justified space-padded alpha of N bytes, "p4"/"p8" prices.
_KIND_SIZE = {"u1": 1, "u2": 2, "u4": 4, "u8": 8, "ts": 6, "c": 1, "p4": 4, "p8": 8}

HEADER_FIELDS: tuple[tuple[str, str], ...] = (
    ("stock_locate", "u2"),
    ("tracking_number", "u2"),
    ("timestamp", "ts"),
)


@dataclass(frozen=True)
class Field:
    name: str
    kind: str
    offset: int
    size: int


@dataclass(frozen=True)
class MessageSpec:
    type: str
    name: str
    fields: tuple[Field, ...]
    length: int

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"ITCH {self.type} has no field {name!r}")


def _spec(msg_type: str, name: str, body: tuple[tuple[str, str], ...]) -> MessageSpec:
    fields = []
    offset = 1  # byte 0 is the message type
    for fname, kind in HEADER_FIELDS + body:
        size = int(kind[1:]) if kind.startswith("a") else _KIND_SIZE[kind]
        fields.append(Field(fname, kind, offset, size))
        offset += size
    return MessageSpec(msg_type, name, tuple(fields), offset)


SPECS: dict[str, MessageSpec] = {
    s.type: s
    for s in (
        _spec("S", "system_event", (("event_code", "c"),)),
        _spec(
            "R",
            "stock_directory",
            (
                ("stock", "a8"),
                ("market_category", "c"),
                ("financial_status_indicator", "c"),
                ("round_lot_size", "u4"),
                ("round_lots_only", "c"),
                ("issue_classification", "c"),
                ("issue_subtype", "a2"),
                ("authenticity", "c"),
                ("short_sale_threshold_indicator", "c"),
                ("ipo_flag", "c"),
                ("luld_reference_price_tier", "c"),
                ("etp_flag", "c"),
                ("etp_leverage_factor", "u4"),
                ("inverse_indicator", "c"),
            ),
        ),
        _spec(
            "H",
            "stock_trading_action",
            (("stock", "a8"), ("trading_state", "c"), ("reserved", "c"), ("reason", "a4")),
        ),
        _spec("Y", "reg_sho_restriction", (("stock", "a8"), ("reg_sho_action", "c"))),
        _spec(
            "L",
            "market_participant_position",
            (
                ("mpid", "a4"),
                ("stock", "a8"),
                ("primary_market_maker", "c"),
                ("market_maker_mode", "c"),
                ("market_participant_state", "c"),
            ),
        ),
        _spec("V", "mwcb_decline_level", (("level1", "p8"), ("level2", "p8"), ("level3", "p8"))),
        _spec("W", "mwcb_status", (("breached_level", "c"),)),
        _spec(
            "K",
            "ipo_quoting_period_update",
            (
                ("stock", "a8"),
                ("ipo_quotation_release_time", "u4"),
                ("ipo_quotation_release_qualifier", "c"),
                ("ipo_price", "p4"),
            ),
        ),
        _spec(
            "J",
            "luld_auction_collar",
            (
                ("stock", "a8"),
                ("auction_collar_reference_price", "p4"),
                ("upper_auction_collar_price", "p4"),
                ("lower_auction_collar_price", "p4"),
                ("auction_collar_extension", "u4"),
            ),
        ),
        _spec(
            "h",
            "operational_halt",
            (("stock", "a8"), ("market_code", "c"), ("operational_halt_action", "c")),
        ),
        _spec(
            "A",
            "add_order",
            (
                ("order_ref", "u8"),
                ("side", "c"),
                ("shares", "u4"),
                ("stock", "a8"),
                ("price", "p4"),
            ),
        ),
        _spec(
            "F",
            "add_order_mpid",
            (
                ("order_ref", "u8"),
                ("side", "c"),
                ("shares", "u4"),
                ("stock", "a8"),
                ("price", "p4"),
                ("attribution", "a4"),
            ),
        ),
        _spec(
            "E",
            "order_executed",
            (("order_ref", "u8"), ("executed_shares", "u4"), ("match_number", "u8")),
        ),
        _spec(
            "C",
            "order_executed_with_price",
            (
                ("order_ref", "u8"),
                ("executed_shares", "u4"),
                ("match_number", "u8"),
                ("printable", "c"),
                ("execution_price", "p4"),
            ),
        ),
        _spec("X", "order_cancel", (("order_ref", "u8"), ("cancelled_shares", "u4"))),
        _spec("D", "order_delete", (("order_ref", "u8"),)),
        _spec(
            "U",
            "order_replace",
            (
                ("original_order_ref", "u8"),
                ("new_order_ref", "u8"),
                ("shares", "u4"),
                ("price", "p4"),
            ),
        ),
        _spec(
            "P",
            "trade",
            (
                ("order_ref", "u8"),
                ("side", "c"),
                ("shares", "u4"),
                ("stock", "a8"),
                ("price", "p4"),
                ("match_number", "u8"),
            ),
        ),
        _spec(
            "Q",
            "cross_trade",
            (
                ("shares", "u8"),
                ("stock", "a8"),
                ("cross_price", "p4"),
                ("match_number", "u8"),
                ("cross_type", "c"),
            ),
        ),
        _spec("B", "broken_trade", (("match_number", "u8"),)),
        _spec(
            "I",
            "noii",
            (
                ("paired_shares", "u8"),
                ("imbalance_shares", "u8"),
                ("imbalance_direction", "c"),
                ("stock", "a8"),
                ("far_price", "p4"),
                ("near_price", "p4"),
                ("current_reference_price", "p4"),
                ("cross_type", "c"),
                ("price_variation_indicator", "c"),
            ),
        ),
        _spec("N", "rpii", (("stock", "a8"), ("interest_flag", "c"))),
        _spec(
            "O",
            "direct_listing_capital_raise",
            (
                ("stock", "a8"),
                ("open_eligibility_status", "c"),
                ("minimum_allowable_price", "p4"),
                ("maximum_allowable_price", "p4"),
                ("near_execution_price", "p4"),
                ("near_execution_time", "u8"),
                ("lower_price_range_collar", "p4"),
                ("upper_price_range_collar", "p4"),
            ),
        ),
    )
}

# Lengths by type byte, 0 for an unknown type: the table the vectorised decoder and the RTL
# parser's length ROM are built from.
MESSAGE_LENGTHS = np.zeros(256, dtype=np.uint16)
for _s in SPECS.values():
    MESSAGE_LENGTHS[ord(_s.type)] = _s.length

# Messages that change the visible book (DESIGN.md section 3).
BOOK_TYPES = "AFECXDU"
MAX_MESSAGE_LENGTH = max(s.length for s in SPECS.values())


class ItchError(ValueError):
    """A message that cannot be decoded: unknown type, wrong length, or a bad field value."""


def _struct_format(spec: MessageSpec) -> str:
    codes = {"u1": "B", "u2": "H", "u4": "I", "u8": "Q", "c": "c", "p4": "I", "p8": "Q"}
    parts = ["c"]
    for f in spec.fields:
        if f.kind == "ts":
            parts.append("HI")  # 6 bytes as high 16 + low 32
        elif f.kind.startswith("a"):
            parts.append(f"{f.size}s")
        else:
            parts.append(codes[f.kind])
    return ">" + "".join(parts)


_STRUCTS = {t: struct.Struct(_struct_format(s)) for t, s in SPECS.items()}
for _t, _st in _STRUCTS.items():
    assert _st.size == SPECS[_t].length, _t

MAX_TIMESTAMP = (1 << 48) - 1


def _text_bytes(name: str, value: str) -> bytes:
    # latin-1, the inverse of decode(): any wire byte decodes to one char and re-encodes to
    # the same byte, so decode -> encode round-trips even non-ASCII bytes of a corrupt feed.
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise ItchError(f"{name}={value!r} has a character outside one byte") from exc


def encode(msg_type: str, **fields: Any) -> bytes:
    """Encode one message; missing fields default to zero / spaces.

    Alpha fields take ``str`` or ``bytes`` and are space-padded; ``c`` fields take a
    one-character ``str``.
    """
    spec = SPECS.get(msg_type)
    if spec is None:
        raise ItchError(f"unknown ITCH message type {msg_type!r}")
    unknown = set(fields) - {f.name for f in spec.fields}
    if unknown:
        raise ItchError(f"ITCH {msg_type} has no field(s) {sorted(unknown)}")
    values: list[Any] = [msg_type.encode("ascii")]
    for f in spec.fields:
        v = fields.get(f.name)
        if f.kind == "ts":
            ts = int(v or 0)
            if not 0 <= ts <= MAX_TIMESTAMP:
                raise ItchError(f"timestamp {ts} does not fit 48 bits")
            values += [ts >> 32, ts & 0xFFFFFFFF]
        elif f.kind.startswith("a"):
            raw = _text_bytes(f.name, v) if isinstance(v, str) else (v or b"")
            if len(raw) > f.size:
                raise ItchError(f"{f.name}={v!r} longer than {f.size} bytes")
            values.append(raw.ljust(f.size, b" "))
        elif f.kind == "c":
            raw = _text_bytes(f.name, v) if isinstance(v, str) else (v or b" ")
            if len(raw) != 1:
                raise ItchError(f"{f.name}={v!r} is not one character")
            values.append(raw)
        else:
            iv = int(v or 0)
            if not 0 <= iv < (1 << (8 * f.size)):
                raise ItchError(f"{f.name}={iv} does not fit {f.size} bytes")
            values.append(iv)
    return _STRUCTS[msg_type].pack(*values)


def decode(buf: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode one message (without its length prefix) into a dict with a ``type`` key.

    Alpha fields come back as ``str`` with trailing spaces kept (the wire value); ``c``
    fields as one-character ``str``.
    """
    if len(buf) == 0:
        raise ItchError("empty ITCH message")
    msg_type = chr(buf[0])
    spec = SPECS.get(msg_type)
    if spec is None:
        raise ItchError(f"unknown ITCH message type 0x{buf[0]:02x} ({len(buf)} bytes)")
    if len(buf) != spec.length:
        raise ItchError(
            f"ITCH {msg_type} ({spec.name}) must be {spec.length} bytes, got {len(buf)}"
        )
    raw = _STRUCTS[msg_type].unpack(bytes(buf))
    out: dict[str, Any] = {"type": msg_type}
    i = 1
    for f in spec.fields:
        if f.kind == "ts":
            out[f.name] = (raw[i] << 32) | raw[i + 1]
            i += 2
            continue
        v = raw[i]
        i += 1
        if f.kind.startswith("a") or f.kind == "c":
            v = v.decode("latin-1")
        out[f.name] = v
    return out


def numpy_dtype(msg_type: str) -> np.dtype:
    """Packed big-endian structured dtype of one message, timestamp as raw 6 bytes."""
    spec = SPECS.get(msg_type)
    if spec is None:
        raise ItchError(f"unknown ITCH message type {msg_type!r}")
    names, formats, offsets = ["type"], ["S1"], [0]
    np_codes = {"u1": "u1", "u2": ">u2", "u4": ">u4", "u8": ">u8", "c": "S1", "p4": ">u4"}
    np_codes["p8"] = ">u8"
    for f in spec.fields:
        names.append(f.name)
        offsets.append(f.offset)
        if f.kind == "ts":
            formats.append("V6")
        elif f.kind.startswith("a"):
            formats.append(f"S{f.size}")
        else:
            formats.append(np_codes[f.kind])
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": spec.length}
    )
