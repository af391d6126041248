"""A strategy's parameters as plain attributes, for its per-update path.

Reading a field off a pydantic model goes through the model's ``__getattr__`` hook, several
times the cost of an ordinary attribute on CPython 3.11, and a strategy reads a dozen per book
update. The copy is keyed on the params object itself, so ``StrategyHost.set_params`` (which
replaces it) is picked up on the next update.

The copy is an instance of a ``__slots__`` class made once per params class: CPython 3.11
specialises attribute reads on slots (and on ordinary instances) but not on a
``SimpleNamespace``, whose every read takes the generic lookup.
"""

from __future__ import annotations

from typing import Any

from velocimex.control.strategy import Strategy, StrategyParams

_PLAIN_TYPES: dict[type[StrategyParams], type] = {}


def _plain_type(params_type: type[StrategyParams], names: tuple[str, ...]) -> type:
    plain_type = _PLAIN_TYPES.get(params_type)
    if plain_type is None:
        slots = (*names, "source")
        plain_type = type(f"Plain{params_type.__name__}", (), {"__slots__": slots})
        _PLAIN_TYPES[params_type] = plain_type
    return plain_type


def plain_params(strategy: Strategy) -> Any:
    plain = strategy._plain_params
    if plain is None or plain.source is not strategy.params:
        params = strategy.params
        values = params.model_dump()
        plain = _plain_type(type(params), tuple(values))()
        for name, value in values.items():
            setattr(plain, name, value)
        plain.source = params
        strategy._plain_params = plain
    return plain
