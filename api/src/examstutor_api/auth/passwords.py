"""argon2id off the event loop: hashing costs ~0.1 s and 64 MiB, so it runs in a
thread and at most ``PASSWORD_HASH_CONCURRENCY`` run at once per worker."""

from __future__ import annotations

import asyncio

from sanic import Request

from examstutor_platform.crypto import (
    DEFAULT_PROFILE,
    LIGHT_PROFILE,
    Argon2Profile,
    hash_password,
    verify_password,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "hash_password_async",
    "password_problem",
    "verify_password_async",
]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 256
#: a hash of a random password, verified when the email is unknown, so both answers take as long
_DUMMY_HASHES: dict[str, str] = {}


def _profile(request: Request) -> Argon2Profile:
    return LIGHT_PROFILE if request.app.config.ARGON2_PROFILE == "light" else DEFAULT_PROFILE


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"must be at most {MAX_PASSWORD_LENGTH} characters"
    return None


async def hash_password_async(request: Request, password: str) -> str:
    """argon2id hash of ``password`` under the app's profile."""
    async with request.app.ctx.password_slots:
        return await asyncio.to_thread(hash_password, password, profile=_profile(request))


async def verify_password_async(request: Request, password: str, password_hash: str | None) -> bool:
    """True when ``password`` matches; with no hash, spends the same time and says False."""
    profile = _profile(request)
    if password_hash is None:
        key = request.app.config.ARGON2_PROFILE
        if key not in _DUMMY_HASHES:
            _DUMMY_HASHES[key] = await asyncio.to_thread(
                hash_password, "no such account: timing equaliser", profile=profile
            )
        password_hash = _DUMMY_HASHES[key]
        async with request.app.ctx.password_slots:
            await asyncio.to_thread(verify_password, password, password_hash)
        return False
    async with request.app.ctx.password_slots:
        return await asyncio.to_thread(verify_password, password, password_hash)
