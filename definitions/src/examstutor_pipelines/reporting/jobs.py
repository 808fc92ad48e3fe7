"""``compliance_report_job`` and its schedule ``compliance_report_daily`` (06:00 Africa/Lagos)."""

import dagster as dg

from examstutor_pipelines.reporting.assets import compliance_report
from examstutor_pipelines.retention.policy_asset import retention_policy

__all__ = ["compliance_report_daily", "compliance_report_job"]

compliance_report_job = dg.define_asset_job(
    "compliance_report_job",
    selection=dg.AssetSelection.assets(retention_policy, compliance_report),
    description="Publish the retention policy and the day's compliance report.",
)

#: after the night's retention (01:00) and export (00:30) runs
compliance_report_daily = dg.ScheduleDefinition(
    name="compliance_report_daily",
    job=compliance_report_job,
    cron_schedule="0 6 * * *",
    execution_timezone="Africa/Lagos",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
