"""Dagster resources: the database, the key ring, the export store and the signer.

Each is a ``ConfigurableResource`` fed by ``EnvVar`` (the environment — Helm
values or a Kubernetes Secret in production, ``examstutor dev`` locally —
carries the difference). Secret fields hold only what the environment gave;
Dagster shows an ``EnvVar`` by its name, never its value. Assets turn them into
the core's :class:`~examstutor_platform.settings.Settings` with
:func:`platform_settings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from examstutor_platform.settings import Settings

__all__ = [
    "ExportStoreResource",
    "KeyRingResource",
    "PostgresResource",
    "SignerResource",
    "default_resources",
    "platform_settings",
]


class PostgresResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over its own type
    """The application database (``EXAMSTUTOR_DATABASE_URL``)."""

    database_url: str = Field(repr=False, description="postgresql:// URL of the app database")


class KeyRingResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over its own type
    """Key-encryption keys and the HMAC keys for blind indexes and pseudonyms."""

    keks: str = Field(repr=False, description="EXAMSTUTOR_KEKS: id:base64url32,… first primary")
    index_key: str = Field(repr=False, description="EXAMSTUTOR_INDEX_KEY")
    pseudonym_key: str = Field(repr=False, description="EXAMSTUTOR_PSEUDONYM_KEY")


class SignerResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over its own type
    """The Ed25519 key that signs seals and export manifests."""

    signing_key: str = Field(repr=False, description="EXAMSTUTOR_SIGNING_KEY")


class ExportStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # generic over its own type
    """Where audit exports are published (a directory; a PVC in Kubernetes)."""

    directory: str = Field(description="EXAMSTUTOR_EXPORT_DIR")
    timezone: str = Field(default="Africa/Lagos", description="EXAMSTUTOR_TIMEZONE")

    @property
    def path(self) -> Path:
        """The export directory."""
        return Path(self.directory)


def platform_settings(
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    store: ExportStoreResource,
    *,
    env: str = "prod",
    dsr_days: int = 30,
) -> Settings:
    """The core's settings built from the resources (the pipelines need no JWT secret)."""
    return Settings.from_env(
        {
            "EXAMSTUTOR_ENV": env,
            "EXAMSTUTOR_DATABASE_URL": postgres.database_url,
            "EXAMSTUTOR_KEKS": keyring.keks,
            "EXAMSTUTOR_INDEX_KEY": keyring.index_key,
            "EXAMSTUTOR_PSEUDONYM_KEY": keyring.pseudonym_key,
            "EXAMSTUTOR_SIGNING_KEY": signer.signing_key,
            "EXAMSTUTOR_EXPORT_DIR": store.directory,
            "EXAMSTUTOR_TIMEZONE": store.timezone,
            "EXAMSTUTOR_DSR_DAYS": str(dsr_days),
        },
        require=(
            "EXAMSTUTOR_KEKS",
            "EXAMSTUTOR_INDEX_KEY",
            "EXAMSTUTOR_PSEUDONYM_KEY",
            "EXAMSTUTOR_SIGNING_KEY",
        ),
    )


def default_resources() -> dict[str, dg.ConfigurableResource[Any]]:
    """The resources as the code location binds them: every value from the environment."""
    return {
        "postgres": PostgresResource(database_url=dg.EnvVar("EXAMSTUTOR_DATABASE_URL")),
        "keyring": KeyRingResource(
            keks=dg.EnvVar("EXAMSTUTOR_KEKS"),
            index_key=dg.EnvVar("EXAMSTUTOR_INDEX_KEY"),
            pseudonym_key=dg.EnvVar("EXAMSTUTOR_PSEUDONYM_KEY"),
        ),
        "signer": SignerResource(signing_key=dg.EnvVar("EXAMSTUTOR_SIGNING_KEY")),
        "export_store": ExportStoreResource(
            directory=dg.EnvVar("EXAMSTUTOR_EXPORT_DIR"),
            timezone=dg.EnvVar("EXAMSTUTOR_TIMEZONE"),
        ),
    }
