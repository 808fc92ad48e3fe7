"""Password hashing with argon2id (argon2-cffi), parameters stated rather than inherited.

:data:`DEFAULT_PROFILE` is RFC 9106's second recommended option (argon2id,
t=3, m=64 MiB, p=4): about 0.15 s and 64 MiB per call on one core of the
build machine, so callers in an event loop run these functions in a thread
(``asyncio.to_thread``; argon2 releases the GIL) and bound how many run at once.
:data:`LIGHT_PROFILE` is for tests and benchmarks only.

Hashes are PHC strings (``$argon2id$v=19$m=…,t=…,p=…$salt$hash``) and carry
their own parameters, so :func:`verify_password` reads any profile;
:func:`needs_rehash` tells a caller when to rehash after a successful login.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError

__all__ = [
    "DEFAULT_PROFILE",
    "LIGHT_PROFILE",
    "Argon2Profile",
    "hash_password",
    "needs_rehash",
    "verify_password",
]


@dataclass(frozen=True, slots=True)
class Argon2Profile:
    """Cost parameters of argon2id: passes, memory in KiB, lanes, and output sizes."""

    time_cost: int
    memory_cost_kib: int
    parallelism: int
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("argon2 time_cost and parallelism must be at least 1")
        if self.memory_cost_kib < 8 * self.parallelism:
            raise ValueError("argon2 memory_cost_kib must be at least 8 × parallelism")
        if self.hash_len < 16 or self.salt_len < 16:
            raise ValueError("argon2 hash_len and salt_len must be at least 16 bytes")


DEFAULT_PROFILE = Argon2Profile(time_cost=3, memory_cost_kib=64 * 1024, parallelism=4)
LIGHT_PROFILE = Argon2Profile(time_cost=1, memory_cost_kib=1024, parallelism=1)


@cache
def _hasher(profile: Argon2Profile) -> PasswordHasher:
    return PasswordHasher(
        time_cost=profile.time_cost,
        memory_cost=profile.memory_cost_kib,
        parallelism=profile.parallelism,
        hash_len=profile.hash_len,
        salt_len=profile.salt_len,
        encoding="utf-8",
        type=Type.ID,
    )


def hash_password(password: str, *, profile: Argon2Profile = DEFAULT_PROFILE) -> str:
    """The argon2id PHC string of ``password`` with a fresh random salt."""
    return _hasher(profile).hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True if ``password`` matches ``password_hash``; False on mismatch or a malformed hash."""
    try:
        return _hasher(DEFAULT_PROFILE).verify(password_hash, password)
    except (VerificationError, ValueError):  # InvalidHashError and UnicodeError are ValueErrors
        return False


def needs_rehash(password_hash: str, *, profile: Argon2Profile = DEFAULT_PROFILE) -> bool:
    """True if ``password_hash`` was not made with ``profile`` (or cannot be read)."""
    try:
        return _hasher(profile).check_needs_rehash(password_hash)
    except ValueError:  # InvalidHashError, UnicodeError
        return True
