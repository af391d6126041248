"""Synthetic NASDAQ TotalView-ITCH 5.0 trading sessions (``velocimex generate``).

Attributes load on first use: the numba simulation compiles (or loads its cache) at import,
which other subcommands registering next to ``generate`` should not pay for.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fixed_messages": "velocimex.generate.session",
    "generate_session": "velocimex.generate.session",
    "minimum_messages": "velocimex.generate.session",
    "plan_flow": "velocimex.generate.session",
    "make_universe": "velocimex.generate.universe",
    "write_session": "velocimex.generate.write",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'velocimex.generate' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
