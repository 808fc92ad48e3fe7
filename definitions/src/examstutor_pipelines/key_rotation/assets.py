"""``data_key`` → ``rewrapped_fields`` → ``retired_data_keys`` and ``all_rows_on_primary_key``."""

import asyncio

import dagster as dg

from examstutor_pipelines.resources import (
    ExportStoreResource,
    KeyRingResource,
    PostgresResource,
    SignerResource,
    platform_settings,
)
from examstutor_pipelines.runtime import HEAVY_K8S, LIGHT_K8S, as_metadata, with_connection
from examstutor_platform.audit.events import AuditEvent
from examstutor_platform.audit.store import SYSTEM_ACTOR, append_event
from examstutor_platform.crypto import (
    RING_SETTLE_SECONDS,
    create_data_key,
    retire_unused_keys,
    rewrap_fields,
    rewrap_keks,
    rows_off_primary,
)
from examstutor_platform.db.pool import DbConnection

__all__ = [
    "DataKeyConfig",
    "all_rows_on_primary_key",
    "data_key",
    "retired_data_keys",
    "rewrapped_fields",
]


class DataKeyConfig(dg.Config):
    """What a rotation run does to the keys."""

    new_data_key: bool = True
    """Create a new primary data key (False: only rewrap data keys under the primary KEK)."""


class SettleConfig(dg.Config):
    """How long a step waits for every API to have loaded the new primary key."""

    settle_seconds: float = RING_SETTLE_SECONDS
    """Seconds the primary key must have existed before rows move onto it (or keys retire)."""


def _event(action_details: dict[str, object]) -> AuditEvent:
    return AuditEvent(
        actor_pseudonym=SYSTEM_ACTOR[0],
        actor_role=SYSTEM_ACTOR[1],
        action="ndpr.key_rotation",
        resource="data_keys",
        outcome="success",
        details=dict(action_details),
    )


@dg.asset(
    group_name="key_rotation",
    op_tags=LIGHT_K8S,
    kinds={"postgres"},
    description="Rewraps the data keys under the primary KEK (the first of EXAMSTUTOR_KEKS), "
    "then creates a new data key and makes it primary: new writes use it at once.",
)
def data_key(
    context: dg.AssetExecutionContext,
    config: DataKeyConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Rotate the KEK wrapping and (by default) the primary data key."""
    settings = platform_settings(postgres, keyring, signer, export_store)

    async def work(conn: DbConnection) -> tuple[int, int | None]:
        async with conn.transaction():
            rewrapped = await rewrap_keks(conn, settings)
        version = await create_data_key(conn, settings) if config.new_data_key else None
        await append_event(
            conn,
            _event({"step": "data_key", "keks_rewrapped": rewrapped, "new_version": version}),
        )
        return rewrapped, version

    rewrapped, version = with_connection(postgres.database_url, work)
    context.log.info(f"data keys rewrapped under the primary KEK: {rewrapped}; new key: {version}")
    return dg.MaterializeResult(
        metadata={
            "primary_kek": settings.keks[0].id,
            "data_keys_rewrapped": rewrapped,
            "new_primary_version": version or 0,
        }
    )


@dg.asset(
    deps=[data_key],
    group_name="key_rotation",
    op_tags=HEAVY_K8S,
    kinds={"postgres"},
    description="Re-encrypts every encrypted column onto the primary data key in bounded, "
    "checkpointed batches; safe to interrupt and run again, and to run while the API writes.",
)
def rewrapped_fields(
    context: dg.AssetExecutionContext,
    config: SettleConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Rewrap every ciphertext onto the primary key."""
    settings = platform_settings(postgres, keyring, signer, export_store)
    result = asyncio.run(rewrap_fields(postgres.database_url, settings, run_id=context.run.run_id))
    with_connection(
        postgres.database_url,
        lambda conn: append_event(
            conn,
            _event(
                {
                    "step": "rewrapped_fields",
                    "target_version": result.target_version,
                    "rows": result.rows_rewrapped,
                }
            ),
        ),
    )
    return dg.MaterializeResult(metadata=as_metadata(result.metadata()))


@dg.asset_check(
    asset=rewrapped_fields,
    description="Every ciphertext of every encrypted table is on the primary data key.",
)
def all_rows_on_primary_key(postgres: PostgresResource) -> dg.AssetCheckResult:
    """Fail with the per-table counts of rows still on an older key."""
    off = with_connection(postgres.database_url, rows_off_primary)
    return dg.AssetCheckResult(
        passed=not any(off.values()),
        metadata={f"{table}.off_primary": count for table, count in off.items()},
    )


@dg.asset(
    deps=[rewrapped_fields],
    group_name="key_rotation",
    op_tags=LIGHT_K8S,
    kinds={"postgres"},
    description="Retires every data key that no ciphertext uses any more.",
)
def retired_data_keys(
    config: SettleConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Retire the keys no row needs."""
    settings = platform_settings(postgres, keyring, signer, export_store)

    async def work(conn: DbConnection) -> list[int]:
        retired = await retire_unused_keys(conn, settings, settle_seconds=config.settle_seconds)
        await append_event(conn, _event({"step": "retired_data_keys", "retired": retired}))
        return retired

    retired = with_connection(postgres.database_url, work)
    return dg.MaterializeResult(
        metadata={"retired_versions": dg.MetadataValue.json(retired), "retired": len(retired)}
    )
