"""argon2id password hashes: verify, mismatch, malformed input, and when to rehash."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type

from examstutor_platform.crypto import (
    DEFAULT_PROFILE,
    LIGHT_PROFILE,
    Argon2Profile,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_light_hash_verifies_and_rejects() -> None:
    encoded = hash_password("correct horse battery", profile=LIGHT_PROFILE)
    assert encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert verify_password("correct horse battery", encoded)
    assert not verify_password("correct horse batterY", encoded)
    assert not verify_password("", encoded)
    assert hash_password("correct horse battery", profile=LIGHT_PROFILE) != encoded  # salted


def test_default_profile_parameters() -> None:
    assert (DEFAULT_PROFILE.time_cost, DEFAULT_PROFILE.memory_cost_kib) == (3, 65536)
    assert DEFAULT_PROFILE.parallelism == 4
    encoded = hash_password("Ọlá-2026!")
    assert encoded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert verify_password("Ọlá-2026!", encoded)
    assert not needs_rehash(encoded)


def test_unicode_passwords() -> None:
    encoded = hash_password("Chukwuemeka Ọkafọr 🔑", profile=LIGHT_PROFILE)
    assert verify_password("Chukwuemeka Ọkafọr 🔑", encoded)
    assert not verify_password("Chukwuemeka Okafor 🔑", encoded)


@pytest.mark.parametrize(
    "bad_hash",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$",
        "$argon2id$v=19$m=1024,t=1,p=1$!!!$!!!",
        "$2b$12$abcdefghijklmnopqrstuuJ0K2bq1nq8.1fC7wYyZ0a8ZaR7UCH5u",
        "$argon2id$v=19$m=1024,t=1,p=1$ü$ü",
    ],
)
def test_malformed_hashes_never_raise(bad_hash: str) -> None:
    assert verify_password("anything", bad_hash) is False
    assert needs_rehash(bad_hash) is True


def test_other_argon2_variants_still_verify() -> None:
    argon2i = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1, type=Type.I)
    encoded = argon2i.hash("legacy")
    assert verify_password("legacy", encoded)
    assert not verify_password("legacy!", encoded)
    assert needs_rehash(encoded, profile=LIGHT_PROFILE)


def test_needs_rehash_follows_the_profile() -> None:
    light = hash_password("pw", profile=LIGHT_PROFILE)
    assert not needs_rehash(light, profile=LIGHT_PROFILE)
    assert needs_rehash(light)  # against DEFAULT_PROFILE


@pytest.mark.parametrize(
    ("time_cost", "memory", "lanes"),
    [(0, 1024, 1), (1, 4, 1), (1, 1024, 0)],
)
def test_profile_refuses_nonsense(time_cost: int, memory: int, lanes: int) -> None:
    with pytest.raises(ValueError, match="argon2"):
        Argon2Profile(time_cost=time_cost, memory_cost_kib=memory, parallelism=lanes)
