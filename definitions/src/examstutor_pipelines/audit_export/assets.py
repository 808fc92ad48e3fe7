"""``audit_seal`` and ``audit_export``: one partition per business day (Africa/Lagos)."""

from datetime import date

import dagster as dg

from examstutor_pipelines.resources import (
    ExportStoreResource,
    KeyRingResource,
    PostgresResource,
    SignerResource,
    platform_settings,
)
from examstutor_pipelines.runtime import HEAVY_K8S, with_connection
from examstutor_platform.audit.daily import seal_and_export_through
from examstutor_platform.audit.export import export_day

__all__ = ["AUDIT_DAYS", "audit_export", "audit_seal"]

#: business days; the chain of each continues from the previous day's head
AUDIT_DAYS = dg.DailyPartitionsDefinition(
    start_date="2026-01-01", timezone="Africa/Lagos", end_offset=0
)


@dg.asset(
    partitions_def=AUDIT_DAYS,
    group_name="audit",
    op_tags=HEAVY_K8S,
    kinds={"postgres"},
    description="Hash-chains the day's audit events in seq order from the previous day's head "
    "and signs the head with Ed25519 (earlier unsealed days are sealed first, in order). A day "
    "sealed now is exported in the same read of its events (audit_export then finds it).",
)
def audit_seal(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Seal (and export) the partition's day, catching up on any unsealed earlier day."""
    settings = platform_settings(postgres, keyring, signer, export_store)
    day = date.fromisoformat(context.partition_key)
    days = with_connection(
        postgres.database_url,
        lambda conn: seal_and_export_through(
            conn, settings, day, context.run.run_id, export_store.path
        ),
    )
    seals = [result.seal for result in days]
    seal = seals[-1]
    caught_up = [s.day.isoformat() for s in seals[:-1] if s.created]
    context.log.info(
        f"sealed {seal.day}: {seal.rows} events, head {seal.head[:16]}…"
        + (f" (also sealed {', '.join(caught_up)})" if caught_up else "")
    )
    return dg.MaterializeResult(
        metadata={
            "day": seal.day.isoformat(),
            "rows": seal.rows,
            "first_seq": seal.first_seq or 0,
            "last_seq": seal.last_seq or 0,
            "prev_head": seal.prev_head,
            "head": seal.head,
            "key_id": seal.key_id,
            "policy_version": seal.policy_version,
            "created_now": seal.created,
            "exported_now": days[-1].export.created,
            "days_caught_up": len(caught_up),
        }
    )


@dg.asset(
    partitions_def=AUDIT_DAYS,
    deps=[audit_seal],
    group_name="audit",
    op_tags=HEAVY_K8S,
    kinds={"parquet"},
    description="The sealed day as zstd Parquet with a signed manifest (CONTRACT §6), published "
    "atomically under EXPORT_DIR/audit/YYYY-MM-DD/: written by audit_seal when it sealed the "
    "day, otherwise streamed now and published only if its chain gives the sealed head.",
)
def audit_export(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Export the partition's sealed day for auditors."""
    settings = platform_settings(postgres, keyring, signer, export_store)
    day = date.fromisoformat(context.partition_key)
    result = with_connection(
        postgres.database_url,
        lambda conn: export_day(conn, settings, day, export_store.path, context.run.run_id),
    )
    return dg.MaterializeResult(
        metadata={
            "day": result.day.isoformat(),
            "folder": dg.MetadataValue.path(str(result.folder)),
            "rows": result.rows,
            "files": len(result.files),
            "bytes": sum(f.bytes for f in result.files),
            "head": result.head,
            "manifest_sha256": result.manifest_sha256,
            "created_now": result.created,
        }
    )
