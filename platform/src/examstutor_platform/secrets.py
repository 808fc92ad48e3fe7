"""Key material as a type that never shows its value.

``repr``, ``str`` and formatting print a mask; pickling is refused so a secret
cannot travel into a Dagster event or a log record by accident. The value is
reached only through :meth:`Secret.reveal`.
"""

from __future__ import annotations

import hmac
from typing import NoReturn

__all__ = ["Secret"]

_MASK = "**********"


class Secret:
    """Bytes that must not leak: masked in ``repr``/``str``, not picklable."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError("Secret holds bytes")
        self._value = bytes(value)

    def reveal(self) -> bytes:
        """The secret's bytes; keep them out of logs, errors and metadata."""
        return self._value

    def __len__(self) -> int:
        return len(self._value)

    def __repr__(self) -> str:
        return f"Secret('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")
