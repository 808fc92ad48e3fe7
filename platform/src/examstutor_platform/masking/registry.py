"""The one registry of masking strategies: names the retention policy may use, and their classes.

Adding a strategy means adding it here, nowhere else. An unknown name raises
:class:`UnknownStrategyError` listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from examstutor_platform.errors import UnknownStrategyError
from examstutor_platform.masking.base import MaskingStrategy
from examstutor_platform.masking.strategies import (
    GeneraliseDateStrategy,
    HmacPseudonymStrategy,
    NullStrategy,
    RandomStringStrategy,
    RedactStrategy,
    TruncateIpStrategy,
)

__all__ = ["STRATEGIES", "get_strategy", "strategy_names"]

STRATEGIES: Mapping[str, type[MaskingStrategy[Any]]] = MappingProxyType(
    {
        "null": NullStrategy,
        "redact": RedactStrategy,
        "hmac_pseudonym": HmacPseudonymStrategy,
        "generalise_date": GeneraliseDateStrategy,
        "truncate_ip": TruncateIpStrategy,
        "random_string": RandomStringStrategy,
    }
)


def strategy_names() -> tuple[str, ...]:
    """Every registered strategy name, in registry order."""
    return tuple(STRATEGIES)


def get_strategy(name: str, **config: object) -> MaskingStrategy[Any]:
    """The strategy registered as ``name``, configured with ``config``.

    :class:`UnknownStrategyError` if no strategy has that name;
    :class:`~examstutor_platform.errors.MaskingError` naming the field if the
    config does not fit.
    """
    try:
        strategy = STRATEGIES[name]
    except (KeyError, TypeError):
        raise UnknownStrategyError(
            f"unknown masking strategy {name!r}; valid: {', '.join(STRATEGIES)}"
        ) from None
    return strategy.from_config(**config)
