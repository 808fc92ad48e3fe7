"""``audit_chain_intact``: the sealed chain recomputes and every signature verifies."""

from datetime import date, timedelta

import dagster as dg

from examstutor_pipelines.audit_export.assets import audit_seal
from examstutor_pipelines.resources import (
    ExportStoreResource,
    KeyRingResource,
    PostgresResource,
    SignerResource,
    platform_settings,
)
from examstutor_pipelines.runtime import with_connection
from examstutor_platform.audit.verify import verify_days

__all__ = ["CHECK_WINDOW_DAYS", "audit_chain_intact"]

#: days re-verified on each run (the whole history: `examstutor audit verify`)
CHECK_WINDOW_DAYS = 31


@dg.asset_check(
    asset=audit_seal,
    blocking=True,
    description="Recomputes the hash chain of the sealed days up to the run's day (the last "
    f"{CHECK_WINDOW_DAYS}) from the database and verifies every seal signature and link.",
)
def audit_chain_intact(
    context: dg.AssetCheckExecutionContext,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.AssetCheckResult:
    """Pass when every sealed day in the window recomputes to its signed head."""
    settings = platform_settings(postgres, keyring, signer, export_store)
    partition = context.run.tags.get("dagster/partition")
    last = date.fromisoformat(partition) if partition else None
    first = last - timedelta(days=CHECK_WINDOW_DAYS - 1) if last else None
    result = with_connection(
        postgres.database_url,
        lambda conn: verify_days(conn, settings, first, last, export_dir=export_store.path),
    )
    metadata: dict[str, object] = {"days": result.days, "events": result.events}
    if not result.intact:
        metadata.update(
            bad_day=str(result.bad_day),
            first_bad_seq=result.first_bad_seq or 0,
            problem=result.problem or "",
        )
    return dg.AssetCheckResult(
        passed=result.intact,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata=metadata,  # type: ignore[arg-type]
    )
