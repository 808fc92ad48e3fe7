"""``compliance_report`` and the check ``no_overdue_dsr_requests``."""

from datetime import UTC, datetime

import dagster as dg

from examstutor_pipelines.resources import PostgresResource
from examstutor_pipelines.retention.policy_asset import retention_policy
from examstutor_pipelines.runtime import LIGHT_K8S, with_connection
from examstutor_platform.reporting import compliance_snapshot

__all__ = ["compliance_report", "no_overdue_dsr_requests"]


@dg.asset(
    deps=[retention_policy],
    group_name="reporting",
    op_tags=LIGHT_K8S,
    kinds={"markdown"},
    description="Open and overdue data-subject requests, retention status per category, data "
    "key age and the last sealed audit day. Counts and dates only, never personal data.",
)
def compliance_report(
    context: dg.AssetExecutionContext, postgres: PostgresResource
) -> dg.MaterializeResult[None]:
    """Take today's compliance snapshot."""
    snapshot = with_connection(
        postgres.database_url, lambda conn: compliance_snapshot(conn, datetime.now(UTC))
    )
    seal = snapshot.last_seal
    return dg.MaterializeResult(
        metadata={
            "report": dg.MetadataValue.md(snapshot.markdown()),
            "open_requests": snapshot.open_requests,
            "overdue_requests": snapshot.overdue_requests,
            "primary_key_age_days": snapshot.primary_key_age_days or 0,
            "last_sealed_day": str(seal["day"]) if seal else "none",
            "policy_version": snapshot.policy_version,
        }
    )


@dg.asset_check(
    asset=compliance_report,
    description="No data-subject request is past its due date (EXAMSTUTOR_DSR_DAYS).",
)
def no_overdue_dsr_requests(postgres: PostgresResource) -> dg.AssetCheckResult:
    """Fail with the overdue requests' types and due dates (no personal data)."""
    snapshot = with_connection(
        postgres.database_url, lambda conn: compliance_snapshot(conn, datetime.now(UTC))
    )
    overdue = [r for r in snapshot.requests if r["overdue"]]
    return dg.AssetCheckResult(
        passed=not overdue,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "overdue": snapshot.overdue_requests,
            "open": snapshot.open_requests,
            "by_type": dg.MetadataValue.json(
                {r["type"]: int(r["overdue"]) for r in snapshot.requests}
            ),
        },
    )
