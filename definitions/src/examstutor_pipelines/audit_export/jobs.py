"""``audit_export_job`` and its schedule ``audit_export_daily`` (00:30 Africa/Lagos)."""

from __future__ import annotations

import dagster as dg

from examstutor_pipelines.audit_export.assets import audit_export, audit_seal

__all__ = ["audit_export_daily", "audit_export_job"]

audit_export_job = dg.define_asset_job(
    "audit_export_job",
    selection=dg.AssetSelection.assets(audit_seal, audit_export),
    description="Seal a business day's audit events, then export them for auditors.",
)

#: at 00:30 the previous business day is over (and past the sealing margin)
audit_export_daily = dg.build_schedule_from_partitioned_job(
    audit_export_job,
    name="audit_export_daily",
    hour_of_day=0,
    minute_of_hour=30,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
