"""What a retention run reports: per-batch progress and the run's result."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from examstutor_platform.retention.certificates import Certificate
from examstutor_platform.retention.holds import LegalHold
from examstutor_platform.retention.policy import Category

__all__ = ["BatchProgress", "ProgressCallback", "RetentionResult", "result_from_certificate"]


@dataclass(frozen=True, slots=True)
class BatchProgress:
    """One committed batch, as reported to the progress callback."""

    category: str
    table: str
    batch: int
    rows: int
    table_rows: int


#: called after each committed batch (log it, or stop a test run there)
ProgressCallback = Callable[[BatchProgress], None]


@dataclass(frozen=True)
class RetentionResult:
    """What a run (or a preview) did to one category; :meth:`metadata` for Dagster.

    ``processed`` counts the rows of the whole run id (every attempt of a resumed
    run); ``batches`` only this invocation's.
    """

    category: str
    action: str
    run_id: str
    policy_version: str
    cutoff: datetime
    preview: bool
    processed: Mapping[str, int]
    held: Mapping[str, int] = field(default_factory=dict)
    held_total: int = 0
    category_hold: LegalHold | None = None
    certificate_id: uuid.UUID | None = None
    subjects_sha256: str | None = None
    subjects: int = 0
    sample: tuple[str, ...] = ()
    dropped_partitions: tuple[str, ...] = ()
    partitions_created: int = 0
    batches: int = 0
    resumed: bool = False
    already_certified: bool = False
    adopted_runs: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        """Rows deleted or anonymised (that would be, in a preview), all tables."""
        return sum(self.processed.values())

    def metadata(self) -> dict[str, Any]:
        """Plain values (counts and pseudonyms, never PII) for asset metadata."""
        hold = self.category_hold
        return {
            "category": self.category,
            "action": self.action,
            "preview": self.preview,
            "run_id": self.run_id,
            "policy_version": self.policy_version,
            "cutoff": self.cutoff.isoformat(),
            "rows": self.total,
            "rows_by_table": dict(self.processed),
            "held_rows": self.held_total,
            "held_by_table": dict(self.held),
            "category_hold": None if hold is None else f"{hold.id}: {hold.reason}",
            "certificate_id": None if self.certificate_id is None else str(self.certificate_id),
            "subjects_sha256": self.subjects_sha256,
            "subjects": self.subjects,
            "sample_pseudonyms": list(self.sample),
            "dropped_partitions": list(self.dropped_partitions),
            "partitions_created": self.partitions_created,
            "batches": self.batches,
            "resumed": self.resumed,
            "already_certified": self.already_certified,
            "adopted_runs": list(self.adopted_runs),
        }


def result_from_certificate(
    certificate: Certificate, category: Category, cutoff: datetime
) -> RetentionResult:
    """The result of a run id that was already certified: nothing was done again."""
    counts = dict(certificate.counts)
    held_total = int(counts.pop("held", 0))
    counts.pop("partitions", None)
    return RetentionResult(
        category=category.name,
        action=category.action,
        run_id=certificate.run_id,
        policy_version=certificate.policy_version,
        cutoff=certificate.cutoff or cutoff,
        preview=False,
        processed={table: int(n) for table, n in counts.items()},
        held_total=held_total,
        certificate_id=certificate.id,
        subjects_sha256=certificate.subjects_sha256,
        already_certified=True,
    )
