"""The audit event: what happened, to what, by whom (as a pseudonym), with what outcome.

``seq`` and ``occurred_at`` are not part of an :class:`AuditEvent`: the database
assigns them when the event is stored (:class:`AuditRecord` carries them).
Actions are dotted names from the Epic's taxonomy (CONTRACT §6).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "ACTIONS",
    "COLUMNS",
    "OUTCOMES",
    "SEVERITIES",
    "AuditEvent",
    "AuditRecord",
]

ACTIONS: frozenset[str] = frozenset(
    {
        "auth.login",
        "auth.logout",
        "auth.password_change",
        "auth.login_failed",
        "data.read",
        "data.create",
        "data.update",
        "data.delete",
        "data.export",
        "student.registration",
        "student.question",
        "student.practice",
        "admin.config_change",
        "admin.role_assignment",
        "ndpr.consent",
        "ndpr.access_request",
        "ndpr.erasure_request",
        "ndpr.erasure_completed",
        "ndpr.retention_expiry",
        "ndpr.anonymisation",
        "ndpr.legal_hold",
        "ndpr.key_rotation",
        "security.rate_limited",
        "security.alert",
        "security.suspicious_activity",
    }
)
OUTCOMES: frozenset[str] = frozenset({"success", "denied", "failure", "error"})
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")
_TEXT_LIMIT = 256
_PSEUDONYM = re.compile(r"^[A-Za-z0-9_:.-]{1,128}$")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One event to append to the audit log. Holds pseudonyms only, never PII."""

    actor_pseudonym: str
    actor_role: str
    action: str
    resource: str
    outcome: str
    resource_id: str | None = None
    severity: str = "low"
    ip_prefix: str | None = None
    request_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown audit action {self.action!r}; see audit.events.ACTIONS")
        if self.outcome not in OUTCOMES:
            raise ValueError(
                f"unknown audit outcome {self.outcome!r}; use one of {', '.join(sorted(OUTCOMES))}"
            )
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"unknown audit severity {self.severity!r}; use one of {', '.join(SEVERITIES)}"
            )
        if not _PSEUDONYM.match(self.actor_pseudonym):
            raise ValueError("actor_pseudonym must be a pseudonym (letters, digits, _:.-)")
        for name in ("actor_role", "resource", "resource_id", "ip_prefix", "request_id"):
            value = getattr(self, name)
            if value is not None and len(value) > _TEXT_LIMIT:
                raise ValueError(f"audit field {name} is longer than {_TEXT_LIMIT} characters")

    def as_row(self) -> tuple[Any, ...]:
        """The values in :data:`COLUMNS` order, for COPY."""
        return (
            self.actor_pseudonym,
            self.actor_role,
            self.action,
            self.resource,
            self.resource_id,
            self.outcome,
            self.severity,
            self.ip_prefix,
            self.request_id,
            self.details,
        )


#: the columns a writer supplies; seq and occurred_at are the database's
COLUMNS: tuple[str, ...] = (
    "actor_pseudonym",
    "actor_role",
    "action",
    "resource",
    "resource_id",
    "outcome",
    "severity",
    "ip_prefix",
    "request_id",
    "details",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """A stored event: the database's ``seq`` and ``occurred_at`` plus the event's fields."""

    seq: int
    occurred_at: datetime
    actor_pseudonym: str
    actor_role: str
    action: str
    resource: str
    resource_id: str | None
    outcome: str
    severity: str
    ip_prefix: str | None
    request_id: str | None
    details: dict[str, Any]
