"""Routes: auditor (being built)."""

from __future__ import annotations

from sanic import Blueprint

__all__ = ["bp"]

bp = Blueprint("auditor", url_prefix="/audit")
