"""``retention_policy``: the shipped policy as a table, with its version (SHA-256)."""

import dagster as dg

from examstutor_platform.retention import load_policy

__all__ = ["retention_policy"]


@dg.asset(
    group_name="retention",
    kinds={"toml"},
    description="The retention policy shipped with the platform: one row per data category "
    "(tables, clock, period, legal basis, action, masking). Its version is the SHA-256 of the "
    "file, recorded in every deletion certificate.",
)
def retention_policy() -> dg.MaterializeResult[None]:
    """Publish the policy as table metadata."""
    policy = load_policy()
    rows = policy.as_table()
    columns = list(rows[0]) if rows else []
    return dg.MaterializeResult(
        metadata={
            "version": policy.version,
            "source": policy.source,
            "categories": len(rows),
            "policy": dg.MetadataValue.table(
                records=[dg.TableRecord(row) for row in rows],
                schema=dg.TableSchema(columns=[dg.TableColumn(name, "string") for name in columns]),
            ),
        },
        data_version=dg.DataVersion(policy.version),
    )
