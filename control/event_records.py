"""The order journal's event records in canonical JSON, formatted directly for the hot events.

One ``OrderSubmitted`` record is written per order before it leaves, so its text is built with
one f-string instead of ``event_to_dict`` + ``json.dumps``; every other event (venue reports,
cancels: not on the order path) goes through the generic writer. The fast text is the exact
canonical form (sorted keys, compact, ASCII escapes), so the reader and its CRC check are
unchanged; tests/test_order_manager.py holds the two to byte equality. If ``Order`` gains a
field the fast path is switched off here rather than silently dropping the field.
"""

from __future__ import annotations

from dataclasses import fields
from json.encoder import encode_basestring_ascii as _json_str

from velocimex.control.journal import canonical_json

from velocimex.domain import Order, OrderEvent, OrderSubmitted, event_to_dict

_FAST_ORDER_FIELDS = (
    "account_id",
    "client_order_id",
    "created_ns",
    "order_type",
    "price",
    "quantity",
    "side",
    "strategy_id",
    "symbol",
    "venue",
)
FAST_SUBMITTED = tuple(sorted(f.name for f in fields(Order))) == _FAST_ORDER_FIELDS and tuple(
    sorted(f.name for f in fields(OrderSubmitted))
) == ("client_order_id", "order", "ts_ns")


def event_record_text(event: OrderEvent) -> str:
    """``canonical_json({"type": "event", "event": event_to_dict(event)})``."""
    if FAST_SUBMITTED and type(event) is OrderSubmitted:
        text = _submitted_text(event)
        if text is not None:
            return text
    return canonical_json({"type": "event", "event": event_to_dict(event)})


def _submitted_text(event: OrderSubmitted) -> str | None:
    o = event.order
    price, quantity, created, ts = o.price, o.quantity, o.created_ns, event.ts_ns
    # Only plain ints format like JSON with an f-string (a bool would print as True).
    if not (
        type(quantity) is int
        and type(created) is int
        and type(ts) is int
        and (price is None or type(price) is int)
    ):
        return None
    cid = _json_str(event.client_order_id)
    return (
        f'{{"event":{{"client_order_id":{cid},"kind":"submitted","order":{{'
        f'"account_id":{_json_str(o.account_id)},"client_order_id":{_json_str(o.client_order_id)}'
        f',"created_ns":{created},"order_type":{_json_str(o.order_type)}'
        f',"price":{"null" if price is None else price},"quantity":{quantity}'
        f',"side":{_json_str(o.side)},"strategy_id":{_json_str(o.strategy_id)}'
        f',"symbol":{_json_str(o.symbol)},"venue":{_json_str(o.venue)}}}'
        f',"ts_ns":{ts}}},"type":"event"}}'
    )
