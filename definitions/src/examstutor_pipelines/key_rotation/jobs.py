"""``key_rotation_job`` and ``key_rotation_quarterly`` (02:00 on 1 Jan/Apr/Jul/Oct, Lagos)."""

import dagster as dg

from examstutor_pipelines.key_rotation.assets import data_key, retired_data_keys, rewrapped_fields

__all__ = ["key_rotation_job", "key_rotation_quarterly"]

key_rotation_job = dg.define_asset_job(
    "key_rotation_job",
    selection=dg.AssetSelection.assets(data_key, rewrapped_fields, retired_data_keys),
    description="New data key, every field rewrapped onto it, unused keys retired.",
)

key_rotation_quarterly = dg.ScheduleDefinition(
    name="key_rotation_quarterly",
    job=key_rotation_job,
    cron_schedule="0 2 1 1,4,7,10 *",
    execution_timezone="Africa/Lagos",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
