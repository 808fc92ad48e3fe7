"""Retention: the policy (categories, periods, actions on expiry) and its cutoffs, and
the engine that expires each category under legal holds with deletion certificates."""

from __future__ import annotations

# The policy first: audit.seal imports load_policy from this package, and the engine
# modules below import the audit package, so this package may be mid-import when
# audit.seal asks for load_policy.
from examstutor_platform.retention.policy import (
    ACTIONS,
    SHIPPED_SOURCE,
    STRATEGY_NAMES,
    Action,
    Category,
    ColumnRule,
    Duration,
    ParamValue,
    RetentionPolicy,
    TableRule,
    cutoff,
    load_policy,
    parse_policy,
)

# isort: split

from examstutor_platform.retention.certificates import (
    Certificate,
    certificate_by_id,
    find_certificate,
    subjects_digest,
)
from examstutor_platform.retention.engine import expired_counts, run_category
from examstutor_platform.retention.holds import LegalHold, active_holds
from examstutor_platform.retention.partitions import ensure_audit_partitions
from examstutor_platform.retention.results import BatchProgress, ProgressCallback, RetentionResult
from examstutor_platform.retention.session import RetentionBusyError, Target
from examstutor_platform.retention.tables import RetentionError

__all__ = [
    "ACTIONS",
    "SHIPPED_SOURCE",
    "STRATEGY_NAMES",
    "Action",
    "BatchProgress",
    "Category",
    "Certificate",
    "ColumnRule",
    "Duration",
    "LegalHold",
    "ParamValue",
    "ProgressCallback",
    "RetentionBusyError",
    "RetentionError",
    "RetentionPolicy",
    "RetentionResult",
    "TableRule",
    "Target",
    "active_holds",
    "certificate_by_id",
    "cutoff",
    "ensure_audit_partitions",
    "expired_counts",
    "find_certificate",
    "load_policy",
    "parse_policy",
    "run_category",
    "subjects_digest",
]
