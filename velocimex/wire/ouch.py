"""NASDAQ OUCH 5.0 order-entry messages: layouts, encoder and decoder, option TLVs.

This table is the single definition of the OUCH messages in the project. Layouts follow the
public specification "O*U*C*H Version 5.0": integers big-endian and unsigned, ``Price`` an
8-byte integer with four implied decimals, outbound timestamps 8-byte nanoseconds since
midnight, alpha fields left-justified and space-padded. Every message ends with a uint16
Appendage Length and that many bytes of optional fields, each a TLV: one length byte
(counting the tag and the value), one tag byte, the value.

Inbound (client -> exchange): O Enter Order, U Replace Order, X Cancel Order, M Modify Order.
Outbound (exchange -> client): S System Event, A Order Accepted, U Order Replaced,
C Order Canceled, E Order Executed, J Order Rejected, I Cancel Reject, M Order Modified.
Inbound and outbound share type letters (U, M), so the direction is part of every call.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

INBOUND = "in"
OUTBOUND = "out"

# A price of $200,000.0000 on an order means "market order" (the specification's sentinel).
MARKET_PRICE = 200_000_0000
MAX_LIMIT_PRICE = 199_999_9900
MAX_QUANTITY = 1_000_000

_KIND_CODES = {"u1": "B", "u2": "H", "u4": "I", "u8": "Q", "p8": "Q", "ts": "Q", "c": "c"}


class OuchError(ValueError):
    """An OUCH message that cannot be decoded or encoded."""


@dataclass(frozen=True)
class OuchSpec:
    type: str
    direction: str
    name: str
    fields: tuple[tuple[str, str], ...]
    struct: struct.Struct

    @property
    def fixed_length(self) -> int:
        """Bytes before the optional appendage (type byte and Appendage Length included)."""
        return self.struct.size + 2


def _spec(direction: str, msg_type: str, name: str, fields: tuple[tuple[str, str], ...]):
    parts = [">c"]
    for _, kind in fields:
        parts.append(f"{kind[1:]}s" if kind.startswith("a") else _KIND_CODES[kind])
    return OuchSpec(msg_type, direction, name, fields, struct.Struct("".join(parts)))


_ORDER_ECHO = (
    ("side", "c"),
    ("quantity", "u4"),
    ("symbol", "a8"),
    ("price", "p8"),
    ("time_in_force", "c"),
    ("display", "c"),
    ("order_reference_number", "u8"),
    ("capacity", "c"),
    ("intermarket_sweep_eligibility", "c"),
    ("cross_type", "c"),
    ("order_state", "c"),
    ("cl_ord_id", "a14"),
)

SPECS: dict[tuple[str, str], OuchSpec] = {
    (s.direction, s.type): s
    for s in (
        _spec(
            INBOUND,
            "O",
            "enter_order",
            (
                ("user_ref_num", "u4"),
                ("side", "c"),
                ("quantity", "u4"),
                ("symbol", "a8"),
                ("price", "p8"),
                ("time_in_force", "c"),
                ("display", "c"),
                ("capacity", "c"),
                ("intermarket_sweep_eligibility", "c"),
                ("cross_type", "c"),
                ("cl_ord_id", "a14"),
            ),
        ),
        _spec(
            INBOUND,
            "U",
            "replace_order",
            (
                ("orig_user_ref_num", "u4"),
                ("user_ref_num", "u4"),
                ("quantity", "u4"),
                ("price", "p8"),
                ("time_in_force", "c"),
                ("display", "c"),
                ("intermarket_sweep_eligibility", "c"),
                ("cl_ord_id", "a14"),
            ),
        ),
        _spec(INBOUND, "X", "cancel_order", (("user_ref_num", "u4"), ("quantity", "u4"))),
        _spec(
            INBOUND,
            "M",
            "modify_order",
            (("user_ref_num", "u4"), ("side", "c"), ("quantity", "u4")),
        ),
        _spec(OUTBOUND, "S", "system_event", (("timestamp", "ts"), ("event_code", "c"))),
        _spec(
            OUTBOUND,
            "A",
            "order_accepted",
            (("timestamp", "ts"), ("user_ref_num", "u4")) + _ORDER_ECHO,
        ),
        _spec(
            OUTBOUND,
            "U",
            "order_replaced",
            (("timestamp", "ts"), ("orig_user_ref_num", "u4"), ("user_ref_num", "u4"))
            + _ORDER_ECHO,
        ),
        _spec(
            OUTBOUND,
            "C",
            "order_canceled",
            (("timestamp", "ts"), ("user_ref_num", "u4"), ("quantity", "u4"), ("reason", "c")),
        ),
        _spec(
            OUTBOUND,
            "E",
            "order_executed",
            (
                ("timestamp", "ts"),
                ("user_ref_num", "u4"),
                ("quantity", "u4"),
                ("price", "p8"),
                ("liquidity_flag", "c"),
                ("match_number", "u8"),
            ),
        ),
        _spec(
            OUTBOUND,
            "J",
            "order_rejected",
            (
                ("timestamp", "ts"),
                ("user_ref_num", "u4"),
                ("reason", "u2"),
                ("cl_ord_id", "a14"),
            ),
        ),
        _spec(OUTBOUND, "I", "cancel_reject", (("timestamp", "ts"), ("user_ref_num", "u4"))),
        _spec(
            OUTBOUND,
            "M",
            "order_modified",
            (("timestamp", "ts"), ("user_ref_num", "u4"), ("side", "c"), ("quantity", "u4")),
        ),
    )
}

# Option tags of the optional appendage and the kind of their value.
OPTION_TAGS: dict[int, tuple[str, str]] = {
    1: ("secondary_ord_ref_num", "u8"),
    2: ("firm", "a4"),
    3: ("min_qty", "u4"),
    4: ("customer_type", "c"),
    5: ("max_floor", "u4"),
    6: ("price_type", "c"),
    7: ("peg_offset", "s4"),
    9: ("discretion_price", "p8"),
    10: ("discretion_price_type", "c"),
    11: ("discretion_peg_offset", "s4"),
    12: ("post_only", "c"),
    13: ("random_reserves", "u4"),
    14: ("route", "a4"),
    15: ("expire_time", "u4"),
    16: ("trade_now", "c"),
    17: ("handle_inst", "c"),
    18: ("bbo_weight_indicator", "c"),
    22: ("display_quantity", "u4"),
    23: ("display_price", "p8"),
    24: ("group_id", "u2"),
    25: ("shares_located", "c"),
    26: ("locate_broker", "a4"),
    27: ("side", "c"),
    28: ("user_ref_idx", "u1"),
}
OPTION_BY_NAME = {name: (tag, kind) for tag, (name, kind) in OPTION_TAGS.items()}
_OPTION_STRUCTS = {
    "u1": struct.Struct(">B"),
    "u2": struct.Struct(">H"),
    "u4": struct.Struct(">I"),
    "s4": struct.Struct(">i"),
    "u8": struct.Struct(">Q"),
    "p8": struct.Struct(">Q"),
}

# Codes the simulator uses (specification values).
TIF_DAY = "0"
TIF_IOC = "3"
CANCEL_REASON_USER = "U"
CANCEL_REASON_IMMEDIATE = "I"
CANCEL_REASON_SUPERVISORY = "S"
CANCEL_REASON_SYSTEM = "Z"
REJECT_INVALID_QUANTITY = 0x0013
REJECT_INVALID_SYMBOL = 0x0017
REJECT_INVALID_PRICE = 0x001D
REJECT_OTHER = 0x000F
LIQUIDITY_ADDED = "A"
LIQUIDITY_REMOVED = "R"
ORDER_STATE_LIVE = "L"
ORDER_STATE_DEAD = "D"


def _encode_value(kind: str, value: Any, name: str) -> Any:
    if kind.startswith("a"):
        size = int(kind[1:])
        raw = value.encode("ascii") if isinstance(value, str) else (value or b"")
        if len(raw) > size:
            raise OuchError(f"{name}={value!r} is longer than {size} bytes")
        return raw.ljust(size, b" ")
    if kind == "c":
        raw = value.encode("ascii") if isinstance(value, str) else (value or b" ")
        if len(raw) != 1:
            raise OuchError(f"{name}={value!r} is not one character")
        return raw
    iv = int(value or 0)
    if kind == "s4":
        if not -(1 << 31) <= iv < 1 << 31:
            raise OuchError(f"{name}={iv} does not fit a signed 4-byte integer")
        return iv
    bits = {"u1": 8, "u2": 16, "u4": 32, "u8": 64, "p8": 64, "ts": 64}[kind]
    if not 0 <= iv < 1 << bits:
        raise OuchError(f"{name}={iv} does not fit {bits // 8} bytes")
    return iv


def encode_options(options: dict[str, Any] | None) -> bytes:
    """The optional appendage (without its length prefix) for ``{option_name: value}``."""
    out = bytearray()
    for name, value in (options or {}).items():
        if name not in OPTION_BY_NAME:
            raise OuchError(f"unknown OUCH option {name!r}")
        tag, kind = OPTION_BY_NAME[name]
        v = _encode_value(kind, value, name)
        raw = v if isinstance(v, bytes) else _OPTION_STRUCTS[kind].pack(v)
        out += bytes((len(raw) + 1, tag)) + raw
    return bytes(out)


def decode_options(buf: bytes) -> dict[str, Any]:
    """Parse an optional appendage; unknown tags are kept as ``tag_<n>`` raw bytes."""
    out: dict[str, Any] = {}
    i = 0
    while i < len(buf):
        length = buf[i]
        if length < 1 or i + 1 + length > len(buf):
            raise OuchError(
                f"option TLV at appendage offset {i} of length {length} does not fit the "
                f"{len(buf)}-byte appendage"
            )
        tag = buf[i + 1]
        raw = bytes(buf[i + 2 : i + 1 + length])
        i += 1 + length
        if tag not in OPTION_TAGS:
            out[f"tag_{tag}"] = raw
            continue
        name, kind = OPTION_TAGS[tag]
        if kind.startswith("a") or kind == "c":
            size = 1 if kind == "c" else int(kind[1:])
            if len(raw) != size:
                raise OuchError(f"option {name} must be {size} bytes, got {len(raw)}")
            out[name] = raw.decode("latin-1")
        else:
            st = _OPTION_STRUCTS[kind]
            if len(raw) != st.size:
                raise OuchError(f"option {name} must be {st.size} bytes, got {len(raw)}")
            (out[name],) = st.unpack(raw)
    return out


def encode(direction: str, msg_type: str, options: dict[str, Any] | None = None, **fields):
    """Encode one message; missing fields default to zero / spaces."""
    spec = SPECS.get((direction, msg_type))
    if spec is None:
        raise OuchError(f"unknown {direction}bound OUCH message type {msg_type!r}")
    names = {n for n, _ in spec.fields}
    unknown = set(fields) - names
    if unknown:
        raise OuchError(f"OUCH {direction}bound {msg_type} has no field(s) {sorted(unknown)}")
    values = [msg_type.encode("ascii")]
    for name, kind in spec.fields:
        values.append(_encode_value(kind, fields.get(name), name))
    appendage = encode_options(options)
    return spec.struct.pack(*values) + struct.pack(">H", len(appendage)) + appendage


# One-character alpha fields by value: the packer's fast path for the common case.
_ASCII_CHARS = {chr(i): bytes((i,)) for i in range(128)}


class EnterOrderPacker:
    """The order path's one message, an Enter Order without options, packed in one struct call.

    Same bytes as ``encode(INBOUND, "O", ...)`` (the layout is ``SPECS``'s, plus a zero
    Appendage Length), with the same range checks, but no per-field dispatch: alpha fields of
    symbols seen before come from a cache. :meth:`pack_into` writes into a caller's buffer so a
    session can reuse one packet buffer for every order.
    """

    def __init__(self) -> None:
        spec = SPECS[(INBOUND, "O")]
        self.struct = struct.Struct(spec.struct.format + "H")
        self.size = self.struct.size
        self._symbols: dict[str, bytes] = {}

    def _args(
        self,
        user_ref_num: int,
        side: str,
        quantity: int,
        symbol: str,
        price: int,
        time_in_force: str,
        cl_ord_id: str,
        display: str,
        capacity: str,
        intermarket_sweep_eligibility: str,
        cross_type: str,
    ) -> tuple[Any, ...]:
        sym = self._symbols.get(symbol)
        if sym is None:
            sym = _encode_value("a8", symbol, "symbol")
            if len(self._symbols) < 65_536:
                self._symbols[symbol] = sym
        if not (0 <= user_ref_num <= 0xFFFF_FFFF and 0 <= quantity <= 0xFFFF_FFFF):
            raise OuchError(f"user_ref_num={user_ref_num} or quantity={quantity} out of range")
        if not 0 <= price < 1 << 64:
            raise OuchError(f"price={price} does not fit 8 bytes")
        chars = _ASCII_CHARS
        if isinstance(cl_ord_id, str) and cl_ord_id.isascii() and len(cl_ord_id) <= 14:
            cl_ord = cl_ord_id.encode().ljust(14, b" ")
        else:
            cl_ord = _encode_value("a14", cl_ord_id, "cl_ord_id")
        return (
            b"O",
            user_ref_num,
            chars.get(side) or _encode_value("c", side, "side"),
            quantity,
            sym,
            price,
            chars.get(time_in_force) or _encode_value("c", time_in_force, "time_in_force"),
            chars.get(display) or _encode_value("c", display, "display"),
            chars.get(capacity) or _encode_value("c", capacity, "capacity"),
            chars.get(intermarket_sweep_eligibility)
            or _encode_value("c", intermarket_sweep_eligibility, "intermarket_sweep_eligibility"),
            chars.get(cross_type) or _encode_value("c", cross_type, "cross_type"),
            cl_ord,
            0,
        )

    def pack(
        self,
        user_ref_num: int,
        side: str,
        quantity: int,
        symbol: str,
        price: int,
        time_in_force: str = TIF_DAY,
        cl_ord_id: str = "",
        *,
        display: str = "Y",
        capacity: str = "A",
        intermarket_sweep_eligibility: str = "N",
        cross_type: str = "N",
    ) -> bytes:
        return self.struct.pack(
            *self._args(
                user_ref_num, side, quantity, symbol, price, time_in_force, cl_ord_id,
                display, capacity, intermarket_sweep_eligibility, cross_type,
            )
        )  # fmt: skip

    def pack_into(
        self,
        buf: bytearray | memoryview,
        offset: int,
        user_ref_num: int,
        side: str,
        quantity: int,
        symbol: str,
        price: int,
        time_in_force: str = TIF_DAY,
        cl_ord_id: str = "",
        *,
        display: str = "Y",
        capacity: str = "A",
        intermarket_sweep_eligibility: str = "N",
        cross_type: str = "N",
    ) -> None:
        self.struct.pack_into(
            buf,
            offset,
            *self._args(
                user_ref_num, side, quantity, symbol, price, time_in_force, cl_ord_id,
                display, capacity, intermarket_sweep_eligibility, cross_type,
            ),
        )  # fmt: skip


def decode(direction: str, buf: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode one message into a dict with ``type``, its fields and ``options``.

    Alpha fields come back as ``str`` with trailing spaces kept; ``c`` fields as one-char str.
    """
    buf = bytes(buf)
    if not buf:
        raise OuchError("empty OUCH message")
    msg_type = chr(buf[0])
    spec = SPECS.get((direction, msg_type))
    if spec is None:
        raise OuchError(
            f"unknown {direction}bound OUCH message type 0x{buf[0]:02x} ({len(buf)} bytes)"
        )
    if len(buf) < spec.fixed_length:
        raise OuchError(
            f"OUCH {msg_type} ({spec.name}) needs at least {spec.fixed_length} bytes, "
            f"got {len(buf)}"
        )
    raw = spec.struct.unpack_from(buf, 0)
    (app_len,) = struct.unpack_from(">H", buf, spec.struct.size)
    if spec.fixed_length + app_len != len(buf):
        raise OuchError(
            f"OUCH {msg_type} ({spec.name}) announces a {app_len}-byte appendage but "
            f"{len(buf) - spec.fixed_length} bytes follow"
        )
    out: dict[str, Any] = {"type": msg_type}
    for (name, kind), v in zip(spec.fields, raw[1:], strict=True):
        out[name] = v.decode("latin-1") if kind.startswith("a") or kind == "c" else v
    out["options"] = decode_options(buf[spec.fixed_length :])
    return out


def fixed_length(direction: str, msg_type: str) -> int:
    return SPECS[(direction, msg_type)].fixed_length


__all__ = [
    "INBOUND",
    "EnterOrderPacker",
    "MARKET_PRICE",
    "OPTION_TAGS",
    "OUTBOUND",
    "SPECS",
    "OuchError",
    "decode",
    "decode_options",
    "encode",
    "encode_options",
]
