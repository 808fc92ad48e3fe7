"""The masking strategy contract: a ``name``, a typed frozen config, and ``mask(value)``.

A strategy is built from keyword options by :meth:`MaskingStrategy.from_config`
(usually through :func:`examstutor_platform.masking.get_strategy`), which
checks the options against the strategy's config dataclass: an unknown or
missing field, or a value of the wrong type or range, raises
:class:`MaskingError` naming the strategy and the field.

``mask(None)`` is ``None`` for every strategy: there is nothing to hide.
Error messages never repeat the value being masked.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Self, TypeVar

from examstutor_platform.errors import MaskingError

__all__ = ["ConfigT", "MaskingStrategy", "NoConfig", "check_int", "check_text"]

ConfigT = TypeVar("ConfigT")


@dataclasses.dataclass(frozen=True, slots=True)
class NoConfig:
    """The config of a strategy that takes no options."""


def check_int(field: str, value: object, low: int, high: int) -> int:
    """``value`` if it is an int (not a bool) in ``low..high``; else a :class:`MaskingError`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MaskingError(f"config field {field!r} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise MaskingError(f"config field {field!r} must be from {low} to {high}, got {value}")
    return value


def check_text(field: str, value: object, *, allow_empty: bool = True) -> str:
    """``value`` if it is a str (non-empty unless allowed); else a :class:`MaskingError`."""
    if not isinstance(value, str):
        raise MaskingError(f"config field {field!r} must be text, got {type(value).__name__}")
    if not value and not allow_empty:
        raise MaskingError(f"config field {field!r} must not be empty")
    return value


class MaskingStrategy(ABC, Generic[ConfigT]):
    """Replaces a value with a less identifying one, as its config says."""

    #: the name the retention policy and :func:`get_strategy` use
    name: ClassVar[str]
    #: the frozen dataclass that holds this strategy's options
    config_type: ClassVar[type[Any]] = NoConfig

    __slots__ = ("config",)

    def __init__(self, config: ConfigT) -> None:
        if not isinstance(config, self.config_type):
            raise TypeError(f"{type(self).__name__} takes a {self.config_type.__name__}")
        self.config = config

    @classmethod
    def from_config(cls, **options: object) -> Self:
        """The strategy with ``options`` checked against its config dataclass."""
        config_fields = dataclasses.fields(cls.config_type)
        names = [f.name for f in config_fields]
        for option in options:
            if option not in names:
                valid = ", ".join(names) if names else "none"
                raise MaskingError(
                    f"masking strategy {cls.name!r} has no config field {option!r} "
                    f"(fields: {valid})"
                )
        for f in config_fields:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and f.name not in options:
                raise MaskingError(
                    f"masking strategy {cls.name!r}: config field {f.name!r} is required"
                )
        try:
            config = cls.config_type(**options)
        except MaskingError as exc:
            raise MaskingError(f"masking strategy {cls.name!r}: {exc}") from None
        return cls(config)

    def mask(self, value: object) -> object:
        """The masked form of ``value``; ``None`` stays ``None``."""
        if value is None:
            return None
        return self._mask(value)

    @abstractmethod
    def _mask(self, value: object) -> object:
        """Mask a value that is not ``None``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"
