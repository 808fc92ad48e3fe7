"""Routes: me (being built)."""

from __future__ import annotations

from sanic import Blueprint

__all__ = ["bp"]

bp = Blueprint("me", url_prefix="/me")
