"""Round-trip and error behaviour of the ITCH 5.0 codec for every message type in SPECS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from velocimex.wire import itch
from velocimex.wire.doc_tables import itch_message_table
from velocimex.wire.itch import MESSAGE_LENGTHS, SPECS, ItchError, decode, encode, numpy_dtype

# Lengths as printed in the public "NASDAQ TotalView-ITCH 5.0" specification, typed in
# independently of SPECS so a layout mistake there cannot agree with itself.
PUBLISHED_LENGTHS = {
    "S": 12, "R": 39, "H": 25, "Y": 20, "L": 26, "V": 35, "W": 12, "K": 28, "J": 35, "h": 21,
    "A": 36, "F": 40, "E": 31, "C": 36, "X": 23, "D": 19, "U": 35, "P": 44, "Q": 40, "B": 19,
    "I": 50, "N": 20, "O": 48,
}  # fmt: skip

TYPES = sorted(SPECS)


def _field_strategy(f: itch.Field) -> st.SearchStrategy:
    if f.kind == "ts":
        return st.integers(0, itch.MAX_TIMESTAMP)
    if f.kind == "c":
        return st.characters(min_codepoint=0, max_codepoint=255)
    if f.kind.startswith("a"):
        return st.binary(min_size=0, max_size=f.size)
    return st.integers(0, (1 << (8 * f.size)) - 1)


@st.composite
def _message_fields(draw: st.DrawFn) -> tuple[str, dict]:
    msg_type = draw(st.sampled_from(TYPES))
    spec = SPECS[msg_type]
    # Leaving fields out exercises encode's defaults (zero / spaces).
    names = draw(st.sets(st.sampled_from([f.name for f in spec.fields])))
    fields = {f.name: draw(_field_strategy(f)) for f in spec.fields if f.name in names}
    return msg_type, fields


@st.composite
def _wire_message(draw: st.DrawFn) -> bytes:
    msg_type = draw(st.sampled_from(TYPES))
    body = draw(st.binary(min_size=SPECS[msg_type].length - 1, max_size=SPECS[msg_type].length - 1))
    return msg_type.encode() + body


def test_specs_cover_every_itch50_type_with_published_lengths() -> None:
    assert {t: s.length for t, s in SPECS.items()} == PUBLISHED_LENGTHS
    for t, length in PUBLISHED_LENGTHS.items():
        assert MESSAGE_LENGTHS[ord(t)] == length
    assert int(np.count_nonzero(MESSAGE_LENGTHS)) == len(PUBLISHED_LENGTHS)


def test_fields_tile_each_message_without_gaps_or_overlaps() -> None:
    for spec in SPECS.values():
        offset = 1
        for f in spec.fields:
            assert f.offset == offset, (spec.type, f.name)
            offset += f.size
        assert offset == spec.length


@settings(max_examples=600, deadline=None)
@given(_message_fields())
def test_encode_decode_encode_gives_identical_bytes(case: tuple[str, dict]) -> None:
    msg_type, fields = case
    wire = encode(msg_type, **fields)
    assert len(wire) == SPECS[msg_type].length
    decoded = decode(wire)
    assert decoded["type"] == msg_type
    for f in SPECS[msg_type].fields:
        value = fields.get(f.name)
        if f.kind.startswith("a"):
            assert decoded[f.name] == (value or b"").ljust(f.size, b" ").decode("latin-1")
        elif f.kind == "c":
            assert decoded[f.name] == (value if value is not None else " ")
        else:
            assert decoded[f.name] == (value or 0)
    again = encode(msg_type, **{k: v for k, v in decoded.items() if k != "type"})
    assert again == wire


@settings(max_examples=600, deadline=None)
@given(_wire_message())
def test_any_wire_bytes_of_a_known_type_decode_and_reencode_unchanged(wire: bytes) -> None:
    decoded = decode(wire)
    msg_type = decoded.pop("type")
    assert encode(msg_type, **decoded) == wire


@settings(max_examples=300, deadline=None)
@given(_wire_message())
def test_numpy_dtype_agrees_with_decode(wire: bytes) -> None:
    msg_type = chr(wire[0])
    decoded = decode(wire)
    dtype = numpy_dtype(msg_type)
    assert dtype.itemsize == SPECS[msg_type].length
    rec = np.frombuffer(wire, dtype=dtype)[0]
    assert rec["type"] == msg_type.encode()
    for f in SPECS[msg_type].fields:
        value = rec[f.name]
        if f.kind == "ts":
            assert int.from_bytes(bytes(value), "big") == decoded[f.name]
        elif f.kind.startswith("a") or f.kind == "c":
            # numpy's S type drops trailing NULs; the wire bytes are otherwise the same.
            assert value == decoded[f.name].encode("latin-1").rstrip(b"\0")
        else:
            assert int(value) == decoded[f.name]


def test_numpy_dtype_decodes_an_array_of_one_type() -> None:
    msgs = [encode("A", order_ref=i, side="B", shares=100 + i, stock="MSFT", price=4_000_000 + i)
            for i in range(5)]  # fmt: skip
    arr = np.frombuffer(b"".join(msgs), dtype=numpy_dtype("A"))
    assert arr["order_ref"].tolist() == list(range(5))
    assert arr["shares"].tolist() == [100, 101, 102, 103, 104]
    assert arr["stock"].tolist() == [b"MSFT    "] * 5


def test_unknown_type_raises_itch_error_naming_the_type_byte() -> None:
    with pytest.raises(ItchError, match=r"unknown ITCH message type 0x5a"):
        decode(b"Z" + bytes(20))
    with pytest.raises(ItchError, match=r"unknown ITCH message type 'Z'"):
        encode("Z")
    with pytest.raises(ItchError, match=r"unknown ITCH message type 'Z'"):
        numpy_dtype("Z")


@pytest.mark.parametrize("msg_type", TYPES)
def test_wrong_length_raises_itch_error_with_expected_and_actual(msg_type: str) -> None:
    wire = encode(msg_type)
    length = SPECS[msg_type].length
    with pytest.raises(ItchError, match=rf"must be {length} bytes, got {length - 1}"):
        decode(wire[:-1])
    with pytest.raises(ItchError, match=rf"must be {length} bytes, got {length + 1}"):
        decode(wire + b"\0")


def test_empty_message_raises_itch_error() -> None:
    with pytest.raises(ItchError, match="empty"):
        decode(b"")


def test_out_of_range_field_values_raise_itch_error() -> None:
    with pytest.raises(ItchError, match="timestamp"):
        encode("S", timestamp=1 << 48)
    with pytest.raises(ItchError, match="shares"):
        encode("A", shares=1 << 32)
    with pytest.raises(ItchError, match="stock"):
        encode("A", stock="TOOLONGSYM")
    with pytest.raises(ItchError, match="side"):
        encode("A", side="BS")
    with pytest.raises(ItchError, match="stock"):
        encode("A", stock="\u20ac")
    with pytest.raises(ItchError, match="no field"):
        encode("D", shares=1)


def test_wire_formats_doc_table_is_generated_from_specs() -> None:
    doc = (Path(__file__).parent.parent / "docs" / "wire-formats.md").read_text()
    begin = doc.index("<!-- BEGIN ITCH TABLE")
    table = doc[doc.index("\n", begin) + 1 : doc.index("<!-- END ITCH TABLE -->")]
    assert table.strip() == itch_message_table(), "run python -m velocimex.wire.doc_tables"
