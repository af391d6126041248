"""Synthetic NASDAQ TotalView-ITCH 5.0 trading sessions (``velocimex generate``)."""

from velocimex.generate.session import (
    fixed_messages,
    generate_session,
    minimum_messages,
    plan_flow,
)
from velocimex.generate.universe import make_universe
from velocimex.generate.write import write_session

__all__ = [
    "fixed_messages",
    "generate_session",
    "make_universe",
    "minimum_messages",
    "plan_flow",
    "write_session",
]
