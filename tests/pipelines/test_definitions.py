"""The whole code location loads, and every asset materialises once against a real database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from examstutor_pipelines.definitions import defs
from examstutor_platform.crypto import DataKeyStore, FieldCipher
from examstutor_platform.db import connect
from examstutor_platform.settings import b64url_encode, parse_keks

KEY = b64url_encode(bytes(range(32)))

CONTRACT = {
    "assets": {
        "retention_policy",
        "retention_expiry",
        "anonymised_records",
        "audit_seal",
        "audit_export",
        "data_key",
        "rewrapped_fields",
        "retired_data_keys",
        "compliance_report",
    },
    "checks": {
        "audit_chain_intact",
        "no_expired_rows",
        "all_rows_on_primary_key",
        "no_overdue_dsr_requests",
    },
    "jobs": {"retention_job", "audit_export_job", "key_rotation_job", "erasure_job"},
    "schedules": {"retention_daily", "audit_export_daily", "key_rotation_quarterly"},
    "sensors": {"erasure_request_sensor"},
}


def test_the_whole_definitions_load_with_every_contract_name() -> None:
    repo = defs.get_repository_def()
    repo.load_all_definitions()
    assert {k.path[-1] for k in repo.asset_graph.get_all_asset_keys()} >= CONTRACT["assets"]
    assert {k.name for k in repo.asset_graph.asset_check_keys} >= CONTRACT["checks"]
    assert {j.name for j in repo.get_all_jobs()} >= CONTRACT["jobs"]
    assert {s.name for s in repo.schedule_defs} >= CONTRACT["schedules"]
    assert {s.name for s in repo.sensor_defs} >= CONTRACT["sensors"]
    schedules = {s.name: s for s in repo.schedule_defs}
    assert schedules["retention_daily"].cron_schedule == "0 1 * * *"
    assert schedules["audit_export_daily"].cron_schedule == "30 0 * * *"
    assert schedules["key_rotation_quarterly"].cron_schedule == "0 2 1 1,4,7,10 *"
    for schedule in schedules.values():
        assert schedule.execution_timezone == "Africa/Lagos"


def test_every_asset_materialises_once(resources: dict[str, Any], database_url: str) -> None:
    yesterday = asyncio.run(_prepare(database_url))
    instance = dg.DagsterInstance.ephemeral()
    checks: dict[str, bool] = {}

    def run(
        selection: list[str], partition: str | None = None, config: Any = None
    ) -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            [defs.get_assets_def(name) for name in selection]
            + [c for c in defs.asset_checks or [] if _targets(c, selection)],
            resources=resources,
            instance=instance,
            partition_key=partition,
            run_config=config,
        )
        assert result.success
        for evaluation in result.get_asset_check_evaluations():
            checks[f"{evaluation.asset_key.path[-1]}.{evaluation.check_name}"] = evaluation.passed
        return result

    run(["retention_policy", "compliance_report"])
    batches = {"ops": {"retention_expiry": {"config": {"batch_size": 2}}}}
    sessions = run(["retention_expiry"], "sessions", batches)
    [expired] = sessions.asset_materializations_for_node("retention_expiry")
    assert expired.metadata["rows"].value == 3 and expired.metadata["batches"].value == 2
    run(["retention_expiry"], "audit_logs")
    run(["anonymised_records"], "student_practice")
    run(["audit_seal", "audit_export"], yesterday)
    settle = {"config": {"settle_seconds": 0}}
    run(
        ["data_key", "rewrapped_fields", "retired_data_keys"],
        config={"ops": {"rewrapped_fields": settle, "retired_data_keys": settle}},
    )
    assert checks == {
        "compliance_report.no_overdue_dsr_requests": True,
        "retention_expiry.no_expired_rows": True,
        "anonymised_records.no_expired_rows": True,
        "audit_seal.audit_chain_intact": True,
        "rewrapped_fields.all_rows_on_primary_key": True,
    }
    folder = Path(resources["export_store"].directory) / "audit" / yesterday
    assert (folder / "manifest.json").is_file()


def _targets(check: Any, selection: list[str]) -> bool:
    return any(key.asset_key.path[-1] in selection for key in check.check_keys)


async def _prepare(database_url: str) -> str:
    keks = parse_keks(f"test-kek:{KEY}")
    conn = await connect(database_url)
    try:
        await DataKeyStore().ensure_primary(conn, keks)
        cipher = FieldCipher(await DataKeyStore().load(conn, keks))
        sid = uuid.uuid4()
        await conn.execute(
            "INSERT INTO students (id, email_index, email_enc, full_name_enc, key_version,"
            " status) VALUES ($1, $2, $3, $4, $5, 'active')",
            sid,
            b"idx-" + sid.bytes,
            cipher.encrypt("a@example.ng", table="students", column="email_enc", row_id=str(sid)),
            cipher.encrypt("Ada", table="students", column="full_name_enc", row_id=str(sid)),
            cipher.primary_version,
        )
        for days in (40, 50, 60):  # three sessions past retention (30 days)
            used = datetime.now(UTC) - timedelta(days=days)
            await conn.execute(
                "INSERT INTO auth_sessions (jti, subject_id, subject_kind, role, created_at,"
                " last_used_at, expires_at) VALUES ($1, $2, 'student', 'student', $3, $3, $3)",
                uuid.uuid4(),
                sid,
                used,
            )
        lagos = ZoneInfo("Africa/Lagos")
        # two days back: a day is sealed only once it has been over for a few minutes, and
        # yesterday in Lagos has just ended when this runs shortly after 23:00 UTC
        yesterday = (datetime.now(lagos) - timedelta(days=2)).date()
        noon = datetime(yesterday.year, yesterday.month, yesterday.day, 12, tzinfo=lagos)
        for minute in range(5):
            await conn.execute(
                "INSERT INTO audit_events (occurred_at, actor_pseudonym, actor_role, action,"
                " resource, outcome) VALUES ($1, 'stu_x', 'student', 'data.read',"
                " 'student_profile', 'success')",
                (noon + timedelta(minutes=minute)).astimezone(UTC),
            )
        return yesterday.isoformat()
    finally:
        await conn.close()


@pytest.mark.parametrize("name", ["retention_daily", "anonymisation_daily"])
def test_retention_schedules_request_one_run_per_category(name: str) -> None:
    schedule = defs.get_repository_def().get_schedule_def(name)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 26, 1, tzinfo=ZoneInfo("Africa/Lagos")),
            repository_def=defs.get_repository_def(),
        )
        result = schedule.evaluate_tick(context)
    keys = sorted(r.partition_key or "" for r in result.run_requests or [])
    job = defs.get_repository_def().get_job(schedule.job_name)
    assert keys == sorted(job.partitions_def.get_partition_keys())  # type: ignore[union-attr]
    assert all((r.run_key or "").startswith("2026-11-26:") for r in result.run_requests or [])


def test_audit_export_schedule_requests_yesterday() -> None:
    schedule = defs.get_repository_def().get_schedule_def("audit_export_daily")
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 11, 26, 0, 30, tzinfo=ZoneInfo("Africa/Lagos")),
            repository_def=defs.get_repository_def(),
        )
        result = schedule.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests or []] == ["2026-11-25"]


def test_erasure_sensor_requests_one_run_per_pending_request(
    resources: dict[str, Any], database_url: str
) -> None:
    async def requests() -> list[uuid.UUID]:
        conn = await connect(database_url)
        try:
            ids = []
            for _ in range(2):
                ids.append(
                    await conn.fetchval(
                        "INSERT INTO dsr_requests (student_id, type, due_at) VALUES"
                        " (gen_random_uuid(), 'erasure', now() + interval '30 days') RETURNING id"
                    )
                )
            await conn.execute(
                "INSERT INTO dsr_requests (student_id, type, due_at) VALUES"
                " (gen_random_uuid(), 'access', now() + interval '30 days')"
            )
            return ids
        finally:
            await conn.close()

    ids = asyncio.run(requests())
    sensor = defs.get_repository_def().get_sensor_def("erasure_request_sensor")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(
            instance=instance,
            resources={"postgres": resources["postgres"]},
            repository_def=defs.get_repository_def(),
        )
        result = sensor.evaluate_tick(context)
    assert sorted(r.run_key or "" for r in result.run_requests or []) == sorted(map(str, ids))
    configs = [r.run_config for r in result.run_requests or []]
    assert all(c["ops"]["erase_student"]["config"]["request_id"] for c in configs)


def test_erasure_sensor_reruns_released_and_interrupted_requests_once_each(
    resources: dict[str, Any], database_url: str
) -> None:
    """A request released from its hold gets a run (once per release); one whose run
    stopped part-way gets a new run once no run for it is in flight."""

    async def seed() -> tuple[str, str]:
        conn = await connect(database_url)
        try:
            insert = (
                "INSERT INTO dsr_requests (student_id, type, status, due_at) VALUES"
                " (gen_random_uuid(), 'erasure', $1, now() + interval '30 days')"
                " RETURNING id, student_id"
            )
            held = await conn.fetchrow(insert, "on_hold")
            await conn.execute(
                "INSERT INTO legal_holds (student_id, reason, placed_by, released_at)"
                " VALUES ($1, 'litigation', 'steward', now())",
                held["student_id"],
            )
            stopped = await conn.fetchrow(insert, "in_progress")
            return str(held["id"]), str(stopped["id"])
        finally:
            await conn.close()

    held, stopped = asyncio.run(seed())
    repository = defs.get_repository_def()
    sensor = repository.get_sensor_def("erasure_request_sensor")
    job = repository.get_job("erasure_job")

    def keys(instance: dg.DagsterInstance) -> dict[str, str]:
        context = dg.build_sensor_context(
            instance=instance,
            resources={"postgres": resources["postgres"]},
            repository_def=repository,
        )
        result = sensor.evaluate_tick(context)
        return {
            r.tags["examstutor/dsr_request"]: r.run_key or "" for r in result.run_requests or []
        }

    with dg.instance_for_test() as instance:
        first = keys(instance)
        assert first[held].startswith(f"{held}:released-")
        assert first[stopped] == f"{stopped}:resume-0"

        # a run for the stopped request is in flight: nothing more for it
        run = instance.add_run(
            dg.DagsterRun(
                job_name=job.name,
                run_id=str(uuid.uuid4()),
                tags={"examstutor/dsr_request": stopped},
                status=dg.DagsterRunStatus.STARTED,
            )
        )
        assert stopped not in keys(instance)
        # that run failed, the request is still in_progress: a new key, so a new run
        instance.report_run_failed(run)
        assert keys(instance)[stopped] == f"{stopped}:resume-1"
