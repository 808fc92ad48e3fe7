"""``retention_expiry`` and ``anonymised_records``: one partition per policy category.

``retention_expiry`` covers the categories whose action deletes (rows, or whole
audit partitions for ``audit_logs``); ``anonymised_records`` those whose action
anonymises. Config ``preview: true`` changes nothing and shows, as metadata,
what would be deleted, anonymised or held. A run works in bounded batches,
honours legal holds, writes a deletion certificate and an audit event; killed
and run again, it resumes without losing or doubling anything.
"""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg

from examstutor_pipelines.resources import (
    ExportStoreResource,
    KeyRingResource,
    PostgresResource,
    SignerResource,
    platform_settings,
)
from examstutor_pipelines.retention.policy_asset import retention_policy
from examstutor_pipelines.runtime import HEAVY_K8S, as_metadata
from examstutor_platform.retention import load_policy
from examstutor_platform.retention.engine import BATCH_SIZE, expired_counts, run_category

__all__ = [
    "ANONYMISE_CATEGORIES",
    "EXPIRY_CATEGORIES",
    "RetentionConfig",
    "anonymised_records",
    "no_expired_rows_checks",
    "retention_expiry",
]

_POLICY = load_policy()
EXPIRY_CATEGORIES = dg.StaticPartitionsDefinition(
    list(_POLICY.categories_with("delete", "drop_partition"))
)
ANONYMISE_CATEGORIES = dg.StaticPartitionsDefinition(list(_POLICY.anonymise_categories()))


class RetentionConfig(dg.Config):
    """How a retention run behaves."""

    preview: bool = False
    """Change nothing; report what would be deleted, anonymised or held."""
    batch_size: int = BATCH_SIZE
    """Rows per batch, each its own transaction with its progress recorded (what a run
    killed part-way committed is certified by the category's next run)."""


def _run(
    context: dg.AssetExecutionContext,
    config: RetentionConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    settings = platform_settings(postgres, keyring, signer, export_store)
    category = context.partition_key
    result = asyncio.run(
        run_category(
            postgres.database_url,
            settings,
            category,
            at=datetime.now(UTC),
            run_id=context.run.run_id,
            preview=config.preview,
            batch_size=config.batch_size,
            progress=lambda report: context.log.debug(str(report)),
        )
    )
    verb = "would process" if config.preview else "processed"
    context.log.info(
        f"{category}: {verb} {result.total} rows, held {result.held_total} (cutoff {result.cutoff})"
    )
    return dg.MaterializeResult(metadata=as_metadata(result.metadata()))


@dg.asset(
    partitions_def=EXPIRY_CATEGORIES,
    deps=[retention_policy],
    group_name="retention",
    op_tags=HEAVY_K8S,
    kinds={"postgres"},
    description="Deletes what is past its retention period (audit_logs: drops whole monthly "
    "partitions older than 7 years and creates the coming months'), skipping legal holds, "
    "and writes a deletion certificate.",
)
def retention_expiry(
    context: dg.AssetExecutionContext,
    config: RetentionConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Expire one delete category."""
    return _run(context, config, postgres, keyring, signer, export_store)


@dg.asset(
    partitions_def=ANONYMISE_CATEGORIES,
    deps=[retention_policy],
    group_name="retention",
    op_tags=HEAVY_K8S,
    kinds={"postgres"},
    description="Anonymises what is past its retention period with the policy's per-column "
    "masking strategies, skipping legal holds, and writes a certificate.",
)
def anonymised_records(
    context: dg.AssetExecutionContext,
    config: RetentionConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.MaterializeResult[None]:
    """Anonymise one category."""
    return _run(context, config, postgres, keyring, signer, export_store)


def _no_expired_rows(
    asset: dg.AssetsDefinition, categories: Sequence[str]
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset,
        name="no_expired_rows",
        description="Nothing past its retention period remains (rows under a legal hold and "
        "rows already anonymised do not count). Checks the run's category, or all of them.",
    )
    def check(
        context: dg.AssetCheckExecutionContext,
        postgres: PostgresResource,
        keyring: KeyRingResource,
        signer: SignerResource,
        export_store: ExportStoreResource,
    ) -> dg.AssetCheckResult:
        settings = platform_settings(postgres, keyring, signer, export_store)
        counts = asyncio.run(expired_counts(postgres.database_url, settings, datetime.now(UTC)))
        partition = context.run.tags.get("dagster/partition")
        chosen = (
            [partition] if partition is not None and partition in categories else list(categories)
        )
        left = {name: counts.get(name, 0) for name in chosen}
        return dg.AssetCheckResult(
            passed=not any(left.values()),
            metadata={f"{name}.expired": n for name, n in left.items()},
        )

    return check


no_expired_rows_checks = [
    _no_expired_rows(retention_expiry, EXPIRY_CATEGORIES.get_partition_keys()),
    _no_expired_rows(anonymised_records, ANONYMISE_CATEGORIES.get_partition_keys()),
]
