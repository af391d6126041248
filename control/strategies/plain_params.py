"""A strategy's parameters as plain attributes, for its per-update path.

Reading a field off a pydantic model goes through the model's ``__getattr__`` hook, several
times the cost of an ordinary attribute on CPython 3.11, and a strategy reads a dozen per book
update. The copy is keyed on the params object itself, so ``StrategyHost.set_params`` (which
replaces it) is picked up on the next update.
"""

from __future__ import annotations

from types import SimpleNamespace

from velocimex.control.strategy import Strategy


def plain_params(strategy: Strategy) -> SimpleNamespace:
    plain = strategy.__dict__.get("_plain_params")
    if plain is None or plain.source is not strategy.params:
        plain = SimpleNamespace(**strategy.params.model_dump(), source=strategy.params)
        strategy.__dict__["_plain_params"] = plain
    return plain
