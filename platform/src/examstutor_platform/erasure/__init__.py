"""Erasure: one data subject's erasure request, carried out, certified and audited."""

from __future__ import annotations

from examstutor_platform.erasure.engine import (
    ERASURE_TABLES,
    ErasureError,
    ErasureProgress,
    ErasureResult,
    OpenRequest,
    PendingErasure,
    erase_subject,
    erasure_categories,
    overdue_requests,
    pending_erasure_work,
)

__all__ = [
    "ERASURE_TABLES",
    "ErasureError",
    "ErasureProgress",
    "ErasureResult",
    "OpenRequest",
    "PendingErasure",
    "erase_subject",
    "erasure_categories",
    "overdue_requests",
    "pending_erasure_work",
]
