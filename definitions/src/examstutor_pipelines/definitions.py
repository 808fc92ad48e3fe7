"""The Dagster code location ``examstutor_pipelines.definitions``: it only merges.

Each capability lives in its own folder (retention, erasure, audit_export,
key_rotation, reporting); resources come from the environment. Set
``EXAMSTUTOR_DAGSTER_EXECUTOR=k8s`` where runs are Kubernetes Jobs (the Helm
values do) so the heavy jobs run each step in its own pod.
"""

import os

import dagster as dg
from dagster_k8s import k8s_job_executor

from examstutor_pipelines.audit_export.assets import audit_export, audit_seal
from examstutor_pipelines.audit_export.checks import audit_chain_intact
from examstutor_pipelines.audit_export.jobs import audit_export_daily, audit_export_job
from examstutor_pipelines.erasure.jobs import erasure_job, erasure_request_sensor
from examstutor_pipelines.key_rotation.assets import (
    all_rows_on_primary_key,
    data_key,
    retired_data_keys,
    rewrapped_fields,
)
from examstutor_pipelines.key_rotation.jobs import key_rotation_job, key_rotation_quarterly
from examstutor_pipelines.reporting.assets import compliance_report, no_overdue_dsr_requests
from examstutor_pipelines.reporting.jobs import compliance_report_daily, compliance_report_job
from examstutor_pipelines.resources import default_resources
from examstutor_pipelines.retention.assets import (
    anonymised_records,
    no_expired_rows_checks,
    retention_expiry,
)
from examstutor_pipelines.retention.jobs import (
    anonymisation_daily,
    anonymisation_job,
    retention_daily,
    retention_job,
)
from examstutor_pipelines.retention.policy_asset import retention_policy

__all__ = ["defs"]


def _executor() -> dg.ExecutorDefinition:
    if os.environ.get("EXAMSTUTOR_DAGSTER_EXECUTOR") == "k8s":
        return k8s_job_executor
    return dg.multiprocess_executor


defs = dg.Definitions(
    assets=[
        retention_policy,
        retention_expiry,
        anonymised_records,
        audit_seal,
        audit_export,
        data_key,
        rewrapped_fields,
        retired_data_keys,
        compliance_report,
    ],
    asset_checks=[
        audit_chain_intact,
        all_rows_on_primary_key,
        no_overdue_dsr_requests,
        *no_expired_rows_checks,
    ],
    jobs=[
        retention_job,
        anonymisation_job,
        audit_export_job,
        key_rotation_job,
        erasure_job,
        compliance_report_job,
    ],
    schedules=[
        retention_daily,
        anonymisation_daily,
        audit_export_daily,
        key_rotation_quarterly,
        compliance_report_daily,
    ],
    sensors=[erasure_request_sensor],
    resources=default_resources(),
    executor=_executor(),
)
