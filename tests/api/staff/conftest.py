"""Signed-in students and staff (see ``examstutor_accounts``), and a fake exported day."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from examstutor_accounts import Accounts
from examstutor_testing import LiveApi

EXPORT_DAY = "2026-01-15"


@pytest.fixture
def accounts(api: LiveApi) -> Accounts:
    return Accounts(api)


@pytest.fixture
def export_day(api: LiveApi) -> Path:
    """``EXPORT_DIR/audit/2026-01-15/`` as the export pipeline leaves it: one events file
    (random bytes, large enough to stream in several chunks) and a manifest that lists it
    with its real SHA-256. A day folder without a manifest sits beside it."""
    root = Path(api.app.ctx.settings.export_dir) / "audit"
    day = root / EXPORT_DAY
    day.mkdir(parents=True)
    events = os.urandom(300_000)
    (day / "events-0000.parquet").write_bytes(events)
    manifest = {
        "format": "examstutor-audit-export/1",
        "date": EXPORT_DAY,
        "timezone": "Africa/Lagos",
        "files": [
            {
                "name": "events-0000.parquet",
                "sha256": hashlib.sha256(events).hexdigest(),
                "rows": 1200,
                "bytes": len(events),
            }
        ],
        "rows": 1200,
        "first_seq": 5001,
        "last_seq": 6200,
        "chain": {"algorithm": "sha256", "prev": "0" * 64, "head": "a" * 64},
        "prev_manifest_sha256": None,
        "policy_version": "b" * 64,
        "generated_at": "2026-01-16T00:30:00.000000Z",
        "generator": "examstutor-pipelines 0.1.0",
        "signature": {"algorithm": "ed25519", "key_id": "0123456789abcdef", "value": "c2ln"},
    }
    (day / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    unfinished = root / "2026-01-16"
    unfinished.mkdir()
    (unfinished / "events-0000.parquet").write_bytes(b"still being written")
    return day
