"""``verify_export``: an exported day checked offline; every kind of tampering is named."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from examstutor_audit_days import audit_settings, ensure_partitions, insert_events, lagos

from examstutor_platform.audit.export import (
    ExportFileError,
    ManifestError,
    export_day,
    manifest_bytes,
    read_manifest,
)
from examstutor_platform.audit.seal import seal_day
from examstutor_platform.audit.signing import Signer, sign_manifest
from examstutor_platform.audit.verify import check_export_chain, verify_export
from examstutor_platform.errors import ChainBrokenError, SignatureError
from examstutor_platform.secrets import Secret

DAY = date(2025, 3, 10)
ATTACKER = Signer(Secret(b"\x07" * 32))


@pytest.fixture
async def exported(conn: asyncpg.Connection, tmp_path: Path) -> tuple[Path, Signer]:
    """A day of 1500 hostile events exported as three files of 500, and the real signer."""
    settings = audit_settings(tmp_path)
    await ensure_partitions(conn, DAY, DAY)
    start = lagos(DAY, 1)
    await insert_events(
        conn, [start + timedelta(seconds=20 * i) for i in range(1500)], hostile=True
    )
    await seal_day(conn, settings, DAY, "seal")
    result = await export_day(conn, settings, DAY, rows_per_file=500)
    return result.folder, Signer(settings.signing_key)


def _resign(folder: Path, changes: dict[str, Any], signer: Signer) -> None:
    manifest = read_manifest(folder)
    manifest.update(changes)
    (folder / "manifest.json").write_bytes(manifest_bytes(sign_manifest(manifest, signer)))


def _drop_row(path: Path, index: int) -> int:
    """Rewrite a Parquet file without row ``index``; return that row's seq."""
    table = pq.read_table(path)
    seq: int = table.column("seq")[index].as_py()
    kept = pa.concat_tables([table.slice(0, index), table.slice(index + 1)])
    pq.write_table(kept, path, compression="zstd")
    return seq


def test_an_intact_export_verifies(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    check = verify_export(folder, signer.public_pem())
    assert (check.day, check.rows, check.files) == ("2025-03-10", 1500, 3)
    assert check.head == read_manifest(folder)["chain"]["head"]
    copy = folder.parent / "downloaded-by-auditor"
    shutil.copytree(folder, copy)
    assert verify_export(copy, signer.public_key_bytes).rows == 1500


def test_a_changed_byte_is_found(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    path = folder / "events-0001.parquet"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ExportFileError, match=r"events-0001\.parquet has SHA-256"):
        verify_export(folder, signer.public_key)


def test_a_removed_row_is_found(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    _drop_row(folder / "events-0002.parquet", 10)
    with pytest.raises(ExportFileError, match=r"events-0002\.parquet"):
        verify_export(folder, signer.public_key)


def test_a_removed_row_with_a_forged_manifest_is_found(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    path = folder / "events-0001.parquet"
    removed = _drop_row(path, 42)
    manifest = read_manifest(folder)
    files = manifest["files"]
    files[1] = {
        **files[1],
        "rows": 499,
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    _resign(folder, {"files": files, "rows": 1499}, ATTACKER)
    with pytest.raises(SignatureError):
        verify_export(folder, signer.public_key)
    # even under the forger's own key, the chain names the row after the gap
    with pytest.raises(ChainBrokenError) as caught:
        verify_export(folder, ATTACKER.public_key)
    assert caught.value.seq == removed + 1


def test_an_altered_row_breaks_the_chain(exported: tuple[Path, Signer]) -> None:
    folder, _ = exported
    path = folder / "events-0000.parquet"
    rows = pq.read_table(path).to_pylist()
    rows[7]["outcome"] = "denied" if rows[7]["outcome"] != "denied" else "success"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    with pytest.raises(ChainBrokenError) as caught:
        check_export_chain(folder, read_manifest(folder))
    assert caught.value.seq == rows[7]["seq"]


@pytest.mark.parametrize(
    "edit",
    [
        {"rows": 1499},
        {"policy_version": "0" * 64},
        {"date": "2025-03-11"},
        {"prev_manifest_sha256": "f" * 64},
    ],
)
def test_an_edited_manifest_is_found(exported: tuple[Path, Signer], edit: dict[str, Any]) -> None:
    folder, signer = exported
    manifest = read_manifest(folder)
    manifest.update(edit)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    with pytest.raises(SignatureError):
        verify_export(folder, signer.public_key)


def test_an_edited_chain_head_is_found(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    text = (folder / "manifest.json").read_text()
    head = read_manifest(folder)["chain"]["head"]
    (folder / "manifest.json").write_text(text.replace(head, "0" * 64))
    with pytest.raises(SignatureError):
        verify_export(folder, signer.public_key)


def test_missing_unlisted_and_unreadable(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    shutil.copy(folder / "events-0000.parquet", folder / "events-0003.parquet")
    with pytest.raises(ExportFileError, match="not listed"):
        verify_export(folder, signer.public_key)
    (folder / "events-0003.parquet").unlink()
    (folder / "events-0002.parquet").unlink()
    with pytest.raises(ExportFileError, match="missing"):
        verify_export(folder, signer.public_key)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(ManifestError, match="not valid JSON"):
        verify_export(folder, signer.public_key)
    (folder / "manifest.json").unlink()
    with pytest.raises(ManifestError, match="not an exported day"):
        verify_export(folder, signer.public_key)


def test_the_wrong_key_or_a_swapped_folder_is_found(exported: tuple[Path, Signer]) -> None:
    folder, signer = exported
    with pytest.raises(SignatureError, match="names signing key"):
        verify_export(folder, ATTACKER.public_key)
    swapped = folder.parent / "2025-03-11"
    folder.rename(swapped)
    with pytest.raises(ManifestError, match="named 2025-03-11"):
        verify_export(swapped, signer.public_key)
