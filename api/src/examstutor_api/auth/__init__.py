"""Authentication: access tokens, the request's principal, login throttling."""

from __future__ import annotations

from examstutor_api.auth.principal import Principal, authenticate, require
from examstutor_api.auth.tokens import TokenIssuer

__all__ = ["Principal", "TokenIssuer", "authenticate", "require"]
