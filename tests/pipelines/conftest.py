"""Fixtures for the Dagster code location: real resources on the test's own database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from examstutor_pipelines.resources import (
    ExportStoreResource,
    KeyRingResource,
    PostgresResource,
    SignerResource,
)
from examstutor_platform.settings import b64url_encode

KEY = b64url_encode(bytes(range(32)))
INDEX_KEY = b64url_encode(bytes(range(1, 33)))
PSEUDONYM_KEY = b64url_encode(bytes(range(2, 34)))
SIGNING_KEY = b64url_encode(bytes(range(3, 35)))


@pytest.fixture
def resources(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The four resources, as the code location binds them, with fixed test keys."""
    return {
        "postgres": PostgresResource(database_url=database_url),
        "keyring": KeyRingResource(
            keks=f"test-kek:{KEY}", index_key=INDEX_KEY, pseudonym_key=PSEUDONYM_KEY
        ),
        "signer": SignerResource(signing_key=SIGNING_KEY),
        "export_store": ExportStoreResource(
            directory=str(tmp_path / "exports"), timezone="Africa/Lagos"
        ),
    }
