"""OUCH 5.0 layouts: round trips of every message, published lengths, option TLVs, errors."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.wire import ouch

_CHARS = st.sampled_from(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


def _value(kind: str):
    if kind == "c":
        return _CHARS
    if kind.startswith("a"):
        return st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", max_size=int(kind[1:])).map(
            lambda s, n=int(kind[1:]): s.ljust(n)
        )
    bits = {"u1": 8, "u2": 16, "u4": 32, "u8": 64, "p8": 64, "ts": 64}[kind]
    return st.integers(0, (1 << bits) - 1)


def _option_value(kind: str):
    if kind == "s4":
        return st.integers(-(1 << 31), (1 << 31) - 1)
    return _value(kind)


_OPTIONS = st.dictionaries(
    st.sampled_from(sorted(ouch.OPTION_BY_NAME)), st.just(None), max_size=5
).flatmap(
    lambda d: st.fixed_dictionaries(
        {name: _option_value(ouch.OPTION_BY_NAME[name][1]) for name in d}
    )
)


@st.composite
def _message(draw):
    direction, msg_type = draw(st.sampled_from(sorted(ouch.SPECS)))
    spec = ouch.SPECS[(direction, msg_type)]
    fields = {name: draw(_value(kind)) for name, kind in spec.fields}
    return direction, msg_type, fields, draw(_OPTIONS)


@settings(max_examples=200, deadline=None)
@given(_message())
def test_every_message_round_trips_with_options(case):
    direction, msg_type, fields, options = case
    raw = ouch.encode(direction, msg_type, options, **fields)
    decoded = ouch.decode(direction, raw)
    assert decoded.pop("type") == msg_type
    assert decoded.pop("options") == options
    assert decoded == fields
    assert len(raw) == ouch.fixed_length(direction, msg_type) + len(ouch.encode_options(options))


# Fixed lengths (type byte through Appendage Length) from the OUCH 5.0 message tables.
@pytest.mark.parametrize(
    ("direction", "msg_type", "length"),
    [
        (ouch.INBOUND, "O", 47),
        (ouch.INBOUND, "U", 40),
        (ouch.INBOUND, "X", 11),
        (ouch.INBOUND, "M", 12),
        (ouch.OUTBOUND, "S", 12),
        (ouch.OUTBOUND, "A", 64),
        (ouch.OUTBOUND, "U", 68),
        (ouch.OUTBOUND, "C", 20),
        (ouch.OUTBOUND, "E", 36),
        (ouch.OUTBOUND, "J", 31),
        (ouch.OUTBOUND, "I", 15),
    ],
)
def test_fixed_lengths_match_the_specification(direction, msg_type, length):
    assert ouch.fixed_length(direction, msg_type) == length


def test_enter_order_field_offsets_are_the_specified_ones():
    raw = ouch.encode(
        ouch.INBOUND,
        "O",
        user_ref_num=7,
        side="B",
        quantity=100,
        symbol="AAPL",
        price=123_4500,
        time_in_force="0",
        display="Y",
        capacity="A",
        intermarket_sweep_eligibility="N",
        cross_type="N",
        cl_ord_id="CL1",
    )
    assert raw[0:1] == b"O"
    assert struct.unpack(">I", raw[1:5]) == (7,)
    assert raw[5:6] == b"B"
    assert struct.unpack(">I", raw[6:10]) == (100,)
    assert raw[10:18] == b"AAPL    "
    assert struct.unpack(">Q", raw[18:26]) == (123_4500,)
    assert raw[26:31] == b"0YANN"
    assert raw[31:45] == b"CL1".ljust(14)
    assert raw[45:47] == b"\x00\x00"


def test_option_tlv_layout_is_length_tag_value():
    assert ouch.encode_options({"min_qty": 300}) == bytes([5, 3]) + struct.pack(">I", 300)
    assert ouch.encode_options({"firm": "GSCO"}) == bytes([5, 2]) + b"GSCO"
    assert ouch.encode_options({"peg_offset": -5}) == bytes([5, 7]) + struct.pack(">i", -5)


def test_unknown_option_tags_are_kept_raw():
    assert ouch.decode_options(bytes([3, 99, 1, 2])) == {"tag_99": b"\x01\x02"}


def test_truncated_and_inconsistent_messages_raise_clear_errors():
    good = ouch.encode(ouch.INBOUND, "X", user_ref_num=1, quantity=0)
    with pytest.raises(ouch.OuchError, match="at least 11 bytes"):
        ouch.decode(ouch.INBOUND, good[:-1])
    with pytest.raises(ouch.OuchError, match="appendage"):
        ouch.decode(ouch.INBOUND, good + b"\x00")
    with pytest.raises(ouch.OuchError, match="unknown inbound"):
        ouch.decode(ouch.INBOUND, b"Q" + good[1:])
    with pytest.raises(ouch.OuchError, match="empty"):
        ouch.decode(ouch.OUTBOUND, b"")
    bad_tlv = good[:-2] + struct.pack(">H", 3) + bytes([9, 3, 0])
    with pytest.raises(ouch.OuchError, match="does not fit"):
        ouch.decode(ouch.INBOUND, bad_tlv)
    short_value = good[:-2] + struct.pack(">H", 3) + bytes([2, 3, 0])
    with pytest.raises(ouch.OuchError, match="min_qty must be 4 bytes"):
        ouch.decode(ouch.INBOUND, short_value)


def test_encode_rejects_values_that_do_not_fit():
    with pytest.raises(ouch.OuchError, match="does not fit"):
        ouch.encode(ouch.INBOUND, "X", user_ref_num=1 << 32)
    with pytest.raises(ouch.OuchError, match="longer than 8"):
        ouch.encode(ouch.INBOUND, "O", symbol="TOOLONGSYM")
    with pytest.raises(ouch.OuchError, match="no field"):
        ouch.encode(ouch.INBOUND, "X", price=1)
    with pytest.raises(ouch.OuchError, match="unknown OUCH option"):
        ouch.encode_options({"nope": 1})


@settings(max_examples=400, deadline=None)
@given(
    ref=st.integers(0, 0xFFFF_FFFF),
    side=st.sampled_from("BSTE"),
    quantity=st.integers(0, 0xFFFF_FFFF),
    symbol=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=8),
    price=st.integers(0, 2**64 - 1),
    tif=st.sampled_from("03"),
    cl_ord_id=st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=14),
    display=st.sampled_from("YN"),
)
def test_enter_order_packer_writes_the_bytes_of_the_generic_encoder(
    ref, side, quantity, symbol, price, tif, cl_ord_id, display
):
    generic = ouch.encode(
        ouch.INBOUND, "O", user_ref_num=ref, side=side, quantity=quantity, symbol=symbol,
        price=price, time_in_force=tif, display=display, capacity="A",
        intermarket_sweep_eligibility="N", cross_type="N", cl_ord_id=cl_ord_id,
    )  # fmt: skip
    packer = ouch.EnterOrderPacker()
    assert packer.pack(ref, side, quantity, symbol, price, tif, cl_ord_id, display=display) == (
        generic
    )
    buf = bytearray(3 + packer.size)
    packer.pack_into(buf, 3, ref, side, quantity, symbol, price, tif, cl_ord_id, display=display)
    assert bytes(buf[3:]) == generic and buf[:3] == b"\0\0\0"
    assert ouch.decode(ouch.INBOUND, generic)["cl_ord_id"] == cl_ord_id.ljust(14)


@pytest.mark.parametrize(
    "override",
    [
        {"symbol": "TOOLONGSYM"},
        {"cl_ord_id": "X" * 15},
        {"cl_ord_id": "é"},
        {"side": "BS"},
        {"side": ""},
        {"quantity": -1},
        {"quantity": 1 << 32},
        {"user_ref_num": 1 << 32},
        {"price": -1},
        {"price": 1 << 64},
    ],
)
def test_enter_order_packer_refuses_what_the_generic_encoder_refuses(override) -> None:
    fields = {
        "user_ref_num": 1, "side": "B", "quantity": 100, "symbol": "AAPL", "price": 1_500_000,
        "time_in_force": "0", "cl_ord_id": "VX1", **override,
    }  # fmt: skip
    with pytest.raises((ouch.OuchError, ValueError)):
        ouch.encode(ouch.INBOUND, "O", **fields)
    with pytest.raises((ouch.OuchError, ValueError)):
        ouch.EnterOrderPacker().pack(**fields)
