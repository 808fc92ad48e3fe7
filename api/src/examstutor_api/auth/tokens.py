"""Short-lived signed access tokens (HS256 JWT: ``sub``, ``role``, ``exp``, ``jti``, ``iat``).

A token is only half of the check: its ``jti`` must also name a live row of
``auth_sessions`` (not revoked, not expired), so logout, a password change and
erasure revoke tokens at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from examstutor_api.errors import Unauthorized
from examstutor_platform.secrets import Secret

__all__ = ["Claims", "TokenIssuer"]

_ALGORITHM = "HS256"
_ISSUER = "examstutor-api"


@dataclass(frozen=True)
class Claims:
    """The verified claims of an access token."""

    subject: uuid.UUID
    role: str
    jti: uuid.UUID
    expires_at: datetime


class TokenIssuer:
    """Signs and verifies access tokens with ``EXAMSTUTOR_JWT_SECRET``."""

    __slots__ = ("_secret", "ttl")

    def __init__(self, secret: Secret, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl = ttl_seconds

    def __repr__(self) -> str:
        return f"TokenIssuer(ttl={self.ttl})"

    def issue(
        self, subject: uuid.UUID, role: str, now: datetime | None = None
    ) -> tuple[str, Claims]:
        """A new token and its claims."""
        now = now or datetime.now(UTC)
        claims = Claims(subject, role, uuid.uuid4(), now + timedelta(seconds=self.ttl))
        token = jwt.encode(
            {
                "sub": str(subject),
                "role": role,
                "jti": str(claims.jti),
                "iat": int(now.timestamp()),
                "exp": int(claims.expires_at.timestamp()),
                "iss": _ISSUER,
            },
            self._secret.reveal(),
            algorithm=_ALGORITHM,
        )
        return token, claims

    def verify(self, token: str) -> Claims:
        """The claims of a valid token; :class:`Unauthorized` otherwise."""
        try:
            payload = jwt.decode(
                token,
                self._secret.reveal(),
                algorithms=[_ALGORITHM],
                issuer=_ISSUER,
                options={"require": ["sub", "role", "jti", "exp", "iat", "iss"]},
            )
            return Claims(
                subject=uuid.UUID(payload["sub"]),
                role=str(payload["role"]),
                jti=uuid.UUID(payload["jti"]),
                expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the access token has expired", code="token_expired") from None
        except (jwt.InvalidTokenError, ValueError, TypeError, KeyError):
            raise Unauthorized("the access token is not valid", code="token_invalid") from None
