"""``audit_export_job`` and its schedule ``audit_export_daily`` (00:30 Africa/Lagos)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg

from examstutor_pipelines.audit_export.assets import audit_export, audit_seal

__all__ = ["audit_export_daily", "audit_export_job"]

LAGOS = ZoneInfo("Africa/Lagos")

audit_export_job = dg.define_asset_job(
    "audit_export_job",
    selection=dg.AssetSelection.assets(audit_seal, audit_export),
    description="Seal a business day's audit events, then export them for auditors.",
)


@dg.schedule(
    name="audit_export_daily",
    job=audit_export_job,
    cron_schedule="30 0 * * *",
    execution_timezone="Africa/Lagos",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
def audit_export_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """At 00:30 Lagos time, seal and export the business day that just ended."""
    tick = context.scheduled_execution_time or datetime.now(LAGOS)
    day = (tick.astimezone(LAGOS) - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)
