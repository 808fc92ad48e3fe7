"""``retention_job`` (delete categories) and ``anonymisation_job``, scheduled daily at 01:00.

The two assets have different partition sets (the policy's delete and anonymise
categories), and one run covers one partition set, so each has its own job;
``retention_daily`` starts one run per delete category, ``anonymisation_daily``
one per anonymise category, both at 01:00 Africa/Lagos.
"""

from collections.abc import Iterator, Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from examstutor_pipelines.retention.assets import (
    ANONYMISE_CATEGORIES,
    EXPIRY_CATEGORIES,
    anonymised_records,
    retention_expiry,
)

__all__ = ["anonymisation_daily", "anonymisation_job", "retention_daily", "retention_job"]

retention_job = dg.define_asset_job(
    "retention_job",
    selection=dg.AssetSelection.assets(retention_expiry),
    description="Delete what is past retention in one category (the run's partition).",
)
anonymisation_job = dg.define_asset_job(
    "anonymisation_job",
    selection=dg.AssetSelection.assets(anonymised_records),
    description="Anonymise what is past retention in one category (the run's partition).",
)


def _daily(
    name: str, job: UnresolvedAssetJobDefinition, keys: Sequence[str]
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name=name,
        job=job,
        cron_schedule="0 1 * * *",
        execution_timezone="Africa/Lagos",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def schedule(context: dg.ScheduleEvaluationContext) -> Iterator[dg.RunRequest]:
        tick = context.scheduled_execution_time
        day = tick.date().isoformat() if tick else "manual"
        for category in keys:
            yield dg.RunRequest(run_key=f"{day}:{category}", partition_key=category)

    return schedule


retention_daily = _daily("retention_daily", retention_job, EXPIRY_CATEGORIES.get_partition_keys())
anonymisation_daily = _daily(
    "anonymisation_daily", anonymisation_job, ANONYMISE_CATEGORIES.get_partition_keys()
)
