"""Prints the ITCH 5.0 message table of docs/wire-formats.md from SPECS.

Run ``python -m velocimex.wire.doc_tables`` and paste the output between the markers in the
document; tests/test_itch_codec.py fails while the document and SPECS disagree.
"""

from __future__ import annotations

from velocimex.wire.itch import SPECS

_KIND_TEXT = {"u1": "u8", "u2": "u16", "u4": "u32", "u8": "u64", "ts": "ts48", "c": "char"}
_KIND_TEXT.update({"p4": "price4", "p8": "price8"})


def _kind(kind: str) -> str:
    return f"alpha{kind[1:]}" if kind.startswith("a") else _KIND_TEXT[kind]


def itch_message_table() -> str:
    """Markdown table: type, name, length and the body fields after the common header."""
    lines = [
        "| Type | Name | Length | Fields after the header (offset name:kind) |",
        "|------|------|-------:|--------------------------------------------|",
    ]
    for spec in SPECS.values():
        body = ", ".join(f"{f.offset} {f.name}:{_kind(f.kind)}" for f in spec.fields[3:])
        lines.append(f"| `{spec.type}` | {spec.name} | {spec.length} | {body} |")
    return "\n".join(lines)


def main() -> None:
    print(itch_message_table())


if __name__ == "__main__":
    main()
