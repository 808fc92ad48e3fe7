"""The masking strategies the retention policy can name (see ``registry`` for the list).

========================  ==================================================================
``null``                  ``None``
``redact``                a fixed replacement text (``replacement``, default ``[redacted]``)
``hmac_pseudonym``        HMAC-SHA256 hex of the value under ``key`` (a Secret), cut to
                          ``length`` hex characters if given (8-64)
``generalise_date``       ``granularity="year"``: the year as an int; ``"age_band"``: one of
                          ``under_13``, ``13-15``, ``16-17``, ``18-24``, ``25+`` at ``as_of``
``truncate_ip``           the network: IPv4 /24 (``ipv4_prefix``), IPv6 /48 (``ipv6_prefix``)
``random_string``         ``length`` characters drawn with :mod:`secrets` from ``alphabet``
========================  ==================================================================
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

from examstutor_platform.errors import MaskingError
from examstutor_platform.masking.base import (
    MaskingStrategy,
    NoConfig,
    check_int,
    check_text,
)
from examstutor_platform.secrets import Secret

__all__ = [
    "AGE_BANDS",
    "GeneraliseDateConfig",
    "GeneraliseDateStrategy",
    "HmacPseudonymConfig",
    "HmacPseudonymStrategy",
    "NullStrategy",
    "RandomStringConfig",
    "RandomStringStrategy",
    "RedactConfig",
    "RedactStrategy",
    "TruncateIpConfig",
    "TruncateIpStrategy",
    "age_band",
    "age_on",
]

#: (band, lowest age in it), youngest first
AGE_BANDS: tuple[tuple[str, int], ...] = (
    ("under_13", 0),
    ("13-15", 13),
    ("16-17", 16),
    ("18-24", 18),
    ("25+", 25),
)
MIN_HMAC_KEY_BYTES = 32


class NullStrategy(MaskingStrategy[NoConfig]):
    """Replaces any value with ``None``."""

    name: ClassVar[str] = "null"
    config_type = NoConfig

    def _mask(self, value: object) -> None:
        return None


@dataclass(frozen=True, slots=True)
class RedactConfig:
    """Options of ``redact``: the text that replaces the value."""

    replacement: str = "[redacted]"

    def __post_init__(self) -> None:
        check_text("replacement", self.replacement)


class RedactStrategy(MaskingStrategy[RedactConfig]):
    """Replaces any value with a fixed text."""

    name: ClassVar[str] = "redact"
    config_type = RedactConfig

    def _mask(self, value: object) -> str:
        return self.config.replacement


@dataclass(frozen=True, slots=True)
class HmacPseudonymConfig:
    """Options of ``hmac_pseudonym``: the HMAC key and an optional hex length."""

    key: Secret
    length: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.key, Secret):
            raise MaskingError(
                f"config field 'key' must be a Secret, got {type(self.key).__name__}"
            )
        if len(self.key) < MIN_HMAC_KEY_BYTES:
            raise MaskingError(f"config field 'key' must be at least {MIN_HMAC_KEY_BYTES} bytes")
        if self.length is not None:
            check_int("length", self.length, 8, 64)


class HmacPseudonymStrategy(MaskingStrategy[HmacPseudonymConfig]):
    """Replaces a value with its keyed HMAC-SHA256, as lowercase hex."""

    name: ClassVar[str] = "hmac_pseudonym"
    config_type = HmacPseudonymConfig

    def _mask(self, value: object) -> str:
        if isinstance(value, str):
            message = value.encode("utf-8")
        elif isinstance(value, bytes):
            message = value
        elif isinstance(value, UUID) or (isinstance(value, int) and not isinstance(value, bool)):
            message = str(value).encode("ascii")
        else:
            raise MaskingError(
                f"hmac_pseudonym masks text, bytes, integers or UUIDs, not {type(value).__name__}"
            )
        digest = hmac.new(self.config.key.reveal(), message, hashlib.sha256).hexdigest()
        return digest if self.config.length is None else digest[: self.config.length]


def _as_date(value: object, what: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise MaskingError(f"{what} is not an ISO date (YYYY-MM-DD)") from None
    raise MaskingError(f"{what} must be a date or ISO date text, not {type(value).__name__}")


def age_on(born: date, today: date) -> int:
    """Whole years between ``born`` and ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def age_band(born: date, as_of: date) -> str:
    """The age band of someone born on ``born``, on ``as_of``."""
    age = age_on(born, as_of)
    if age < 0:
        raise MaskingError("generalise_date: the date is after as_of")
    band = AGE_BANDS[0][0]
    for name, lowest in AGE_BANDS:
        if age >= lowest:
            band = name
    return band


@dataclass(frozen=True, slots=True)
class GeneraliseDateConfig:
    """Options of ``generalise_date``: ``year`` or ``age_band``, and the date ages are taken at."""

    granularity: str = "year"
    as_of: date | str | None = None

    def __post_init__(self) -> None:
        if self.granularity not in ("year", "age_band"):
            raise MaskingError(
                f"config field 'granularity' must be 'year' or 'age_band', got {self.granularity!r}"
            )
        if self.as_of is not None:
            object.__setattr__(self, "as_of", _as_date(self.as_of, "config field 'as_of'"))


class GeneraliseDateStrategy(MaskingStrategy[GeneraliseDateConfig]):
    """Replaces a date with its year, or a date of birth with an age band."""

    name: ClassVar[str] = "generalise_date"
    config_type = GeneraliseDateConfig

    def mask(self, value: object, *, as_of: date | None = None) -> object:
        """The year (int) or age band (str) of ``value``; ``None`` stays ``None``.

        Ages are taken at ``as_of`` if given, else the config's ``as_of``, else today.
        """
        if value is None:
            return None
        if self.config.granularity == "year":
            return _as_date(value, "generalise_date value").year
        when = as_of if as_of is not None else self.config.as_of
        reference = _as_date(when, "as_of") if when is not None else date.today()
        return age_band(_as_date(value, "generalise_date value"), reference)

    def _mask(self, value: object) -> object:
        return self.mask(value)


@dataclass(frozen=True, slots=True)
class TruncateIpConfig:
    """Options of ``truncate_ip``: prefix lengths kept for IPv4 and IPv6."""

    ipv4_prefix: int = 24
    ipv6_prefix: int = 48

    def __post_init__(self) -> None:
        check_int("ipv4_prefix", self.ipv4_prefix, 0, 32)
        check_int("ipv6_prefix", self.ipv6_prefix, 0, 128)


class TruncateIpStrategy(MaskingStrategy[TruncateIpConfig]):
    """Replaces an IP address with its network (``192.168.1.0/24``, ``2001:db8:abcd::/48``)."""

    name: ClassVar[str] = "truncate_ip"
    config_type = TruncateIpConfig

    def _mask(self, value: object) -> str:
        if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = value
        elif isinstance(value, str):
            try:
                address = ipaddress.ip_address(value.strip())
            except ValueError:
                raise MaskingError("truncate_ip: value is not an IPv4 or IPv6 address") from None
        else:
            raise MaskingError(f"truncate_ip masks IP address text, not {type(value).__name__}")
        if isinstance(address, ipaddress.IPv6Address):
            if address.ipv4_mapped is not None:
                address = address.ipv4_mapped
            elif address.scope_id is not None:
                address = ipaddress.IPv6Address(int(address))
        if isinstance(address, ipaddress.IPv4Address):
            prefix = self.config.ipv4_prefix
        else:
            prefix = self.config.ipv6_prefix
        return str(ipaddress.ip_network((address, prefix), strict=False))


@dataclass(frozen=True, slots=True)
class RandomStringConfig:
    """Options of ``random_string``: length and the characters drawn from."""

    length: int = 16
    alphabet: str = string.ascii_letters + string.digits

    def __post_init__(self) -> None:
        check_int("length", self.length, 1, 1024)
        check_text("alphabet", self.alphabet, allow_empty=False)
        if len(set(self.alphabet)) < 2:
            raise MaskingError("config field 'alphabet' needs at least two distinct characters")


class RandomStringStrategy(MaskingStrategy[RandomStringConfig]):
    """Replaces a value with a fresh random string (not linkable, not reversible)."""

    name: ClassVar[str] = "random_string"
    config_type = RandomStringConfig

    def _mask(self, value: object) -> str:
        alphabet = self.config.alphabet
        return "".join(secrets.choice(alphabet) for _ in range(self.config.length))
