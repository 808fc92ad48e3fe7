"""The daily compliance report: what a regulator or auditor asks first.

Open and overdue data-subject requests, the last retention run per category,
the age of the data keys, the last sealed audit day and the legal holds in
force — as numbers (Dagster metadata) and as Markdown (readable in the UI).
No personal data: counts, dates and hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from examstutor_platform.db.pool import DbConnection
from examstutor_platform.db.queries import load_queries
from examstutor_platform.retention import load_policy

__all__ = ["ComplianceSnapshot", "compliance_snapshot"]

Q = load_queries("examstutor_platform", "reporting.sql")


@dataclass(frozen=True)
class ComplianceSnapshot:
    """The state of compliance at one instant."""

    generated_at: datetime
    policy_version: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    categories: list[dict[str, Any]] = field(default_factory=list)
    keys: list[dict[str, Any]] = field(default_factory=list)
    last_seal: dict[str, Any] | None = None
    holds: dict[str, int] = field(default_factory=dict)

    @property
    def open_requests(self) -> int:
        """Data-subject requests not yet completed."""
        return sum(int(r["open"]) for r in self.requests)

    @property
    def overdue_requests(self) -> int:
        """Open requests past their due date."""
        return sum(int(r["overdue"]) for r in self.requests)

    @property
    def primary_key_age_days(self) -> int | None:
        """Days since the primary data key was created."""
        for key in self.keys:
            if key["status"] == "primary":
                return int(key["age_days"])
        return None

    def markdown(self) -> str:
        """The report as Markdown."""
        at = self.generated_at.strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"# Compliance report — {at}",
            "",
            f"Retention policy version `{self.policy_version[:16]}…`",
            "",
            "## Data-subject requests",
            "",
            f"**{self.open_requests} open, {self.overdue_requests} overdue.**",
            "",
            "| type | open | overdue | next due |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r['type']} | {r['open']} | {r['overdue']} | {_day(r['next_due'])} |"
            for r in self.requests
        ] or ["| — | 0 | 0 | — |"]
        lines += [
            "",
            "## Retention by category",
            "",
            "| category | action | kept for | last run | last counts |",
            "|---|---|---|---|---|",
        ]
        for c in self.categories:
            counts = ", ".join(f"{k}: {v}" for k, v in sorted((c["counts"] or {}).items()))
            lines.append(
                f"| {c['category']} | {c['action']} | {c['kept_for']} | "
                f"{_day(c['last_run'])} | {counts or '—'} |"
            )
        lines += ["", "## Data keys", "", "| version | status | age (days) |", "|---|---|---|"]
        lines += [f"| {k['version']} | {k['status']} | {k['age_days']} |" for k in self.keys] or [
            "| — | none | — |"
        ]
        seal = self.last_seal
        lines += [
            "",
            "## Audit log",
            "",
            (
                f"Last sealed day: **{seal['day']}**, {seal['rows']} events, "
                f"head `{seal['head'][:16]}…`"
            )
            if seal
            else "No day sealed yet.",
            "",
            "## Legal holds in force",
            "",
            f"{self.holds.get('students', 0)} on students, "
            f"{self.holds.get('categories', 0)} on categories.",
        ]
        return "\n".join(lines) + "\n"


def _day(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    return value.date().isoformat() if isinstance(value, datetime) else value.isoformat()


async def compliance_snapshot(conn: DbConnection, at: datetime) -> ComplianceSnapshot:
    """Read the snapshot at ``at`` (an aware datetime)."""
    policy = load_policy()
    requests = [dict(r) for r in await conn.fetch(Q["open_requests"], at)]
    last = {r["category"]: r for r in await conn.fetch(Q["last_certificates"])}
    categories = []
    for name, category in policy.categories.items():
        cert = last.get(name)
        categories.append(
            {
                "category": name,
                "action": category.action,
                "kept_for": category.period.describe(),
                "last_run": cert["issued_at"] if cert else None,
                "counts": dict(cert["counts"]) if cert else None,
            }
        )
    keys = [
        {
            "version": r["version"],
            "status": r["status"],
            "age_days": (at - r["created_at"]).days,
        }
        for r in await conn.fetch(Q["data_keys"])
    ]
    seal_row = await conn.fetchrow(Q["last_seal"])
    holds_row = await conn.fetchrow(Q["active_holds"])
    return ComplianceSnapshot(
        generated_at=at,
        policy_version=policy.version,
        requests=requests,
        categories=categories,
        keys=keys,
        last_seal=dict(seal_row) if seal_row else None,
        holds={"students": holds_row["students"], "categories": holds_row["categories"]}
        if holds_row
        else {},
    )
