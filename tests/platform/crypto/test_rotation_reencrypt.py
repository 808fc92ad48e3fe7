"""BatchReencryptor writes FieldCipher's format exactly and fails the way FieldCipher does."""

from __future__ import annotations

import uuid

import pytest

from examstutor_platform.crypto import FieldCipher, KeyRing
from examstutor_platform.crypto.reencrypt import BatchReencryptor, ciphertext_header
from examstutor_platform.errors import DecryptionError, KeyUnavailableError
from examstutor_platform.secrets import Secret

KEYS = {v: Secret(bytes([v]) * 32) for v in (1, 2, 3)}
OLD = FieldCipher(KeyRing({1: KEYS[1], 2: KEYS[2]}, primary=1))
RING = KeyRing(KEYS, primary=3)
FIELD = {"table": "students", "column": "email_enc"}


def _sealed(count: int) -> tuple[list[str], list[bytes | None]]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    values: list[bytes | None] = [
        None if i % 5 == 4 else OLD.encrypt(f"pupil{i}@example.ng", row_id=rid, **FIELD)
        for i, rid in enumerate(ids)
    ]
    return ids, values


def test_round_trip_through_field_cipher() -> None:
    ids, values = _sealed(50)
    out = BatchReencryptor(RING).column("students", "email_enc", values, ids)
    reader = FieldCipher(RING)
    for i, (rid, before, after) in enumerate(zip(ids, values, out, strict=True)):
        if before is None:
            assert after is None
            continue
        assert after is not None
        assert FieldCipher.key_version(after) == 3
        assert reader.decrypt_text(after, row_id=rid, **FIELD) == f"pupil{i}@example.ng"
        with pytest.raises(DecryptionError):  # still bound to its own row and column
            reader.decrypt(after, table="students", column="phone_enc", row_id=rid)
    nonces = {a[5:17] for a in out if a is not None}
    assert len(nonces) == sum(v is not None for v in values)


def test_values_already_on_the_primary_are_kept_after_authenticating() -> None:
    current = FieldCipher(RING)
    rid = str(uuid.uuid4())
    sealed = current.encrypt("kept", row_id=rid, **FIELD)
    assert BatchReencryptor(RING).column("students", "email_enc", [sealed], [rid]) == [sealed]
    other = str(uuid.uuid4())
    with pytest.raises(DecryptionError, match=f"of row {other}: .*another row"):
        BatchReencryptor(RING).column("students", "email_enc", [sealed], [other])


def test_failures_name_the_row_and_keep_fieldciphers_error_type() -> None:
    ids, values = _sealed(3)
    first = values[0]
    assert first is not None
    tampered = first[:-1] + bytes([first[-1] ^ 1])
    reencryptor = BatchReencryptor(RING)
    with pytest.raises(DecryptionError, match=rf"students.email_enc of row {ids[0]}: .*authent"):
        reencryptor.column("students", "email_enc", [tampered], ids[:1])
    with pytest.raises(DecryptionError, match="at least"):
        reencryptor.column("students", "email_enc", [first[:20]], ids[:1])
    unknown = ciphertext_header(9) + first[5:]
    with pytest.raises(KeyUnavailableError, match="data key 9"):
        reencryptor.column("students", "email_enc", [unknown], ids[:1])
    with pytest.raises(KeyUnavailableError, match="no primary"):
        BatchReencryptor(KeyRing(KEYS, primary=None))


def test_header() -> None:
    assert ciphertext_header(2) == b"\x01\x00\x00\x00\x02"
    assert ciphertext_header(None) == b""
    assert BatchReencryptor(RING).keyring is RING
