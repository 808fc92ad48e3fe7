"""FieldCipher: round trips, the ciphertext layout, and every way to tamper with a ciphertext."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from examstutor_platform.crypto import FieldCipher, KeyRing
from examstutor_platform.crypto.fields import HEADER_BYTES, MIN_CIPHERTEXT_BYTES
from examstutor_platform.errors import DecryptionError, KeyUnavailableError
from examstutor_platform.secrets import Secret

ROW = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
FIELD = {"table": "students", "column": "email_enc", "row_id": ROW}
EMAIL = "adaeze@example.ng"


def _key(n: int) -> Secret:
    return Secret(bytes([n]) * 32)


def _cipher(versions: tuple[int, ...] = (1,), primary: int | None = 1) -> FieldCipher:
    return FieldCipher(KeyRing({v: _key(v) for v in versions}, primary))


CIPHER = _cipher()
names = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)
row_ids = st.one_of(st.text(max_size=60), st.integers(), st.uuids())


@settings(deadline=None, database=None)
@given(
    plaintext=st.one_of(st.binary(max_size=2048), st.text(max_size=512)),
    table=names,
    column=names,
    row_id=row_ids,
)
def test_round_trip_any_value_any_field(
    plaintext: bytes | str, table: str, column: str, row_id: str | int | uuid.UUID
) -> None:
    sealed = CIPHER.encrypt(plaintext, table=table, column=column, row_id=row_id)
    opened = CIPHER.decrypt(sealed, table=table, column=column, row_id=row_id)
    expected = plaintext.encode("utf-8") if isinstance(plaintext, str) else plaintext
    assert opened == expected
    assert len(sealed) == MIN_CIPHERTEXT_BYTES + len(expected)
    if isinstance(plaintext, str):
        assert CIPHER.decrypt_text(sealed, table=table, column=column, row_id=row_id) == plaintext


@settings(deadline=None, database=None)
@given(plaintext=st.binary(max_size=64), row_id=row_ids, other=row_ids)
def test_another_row_never_decrypts(
    plaintext: bytes, row_id: str | int | uuid.UUID, other: str | int | uuid.UUID
) -> None:
    if str(row_id) == str(other):
        return
    sealed = CIPHER.encrypt(plaintext, table="t", column="c", row_id=row_id)
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(sealed, table="t", column="c", row_id=other)


def test_layout_format_byte_version_nonce_tag() -> None:
    cipher = _cipher((1, 7), primary=7)
    sealed = cipher.encrypt(b"abc", **FIELD)
    assert sealed[0] == 0x01
    assert int.from_bytes(sealed[1:5], "big") == 7
    assert len(sealed) == 1 + 4 + 12 + 3 + 16
    assert cipher.key_version(sealed) == 7
    assert FieldCipher.key_version(sealed) == 7
    assert cipher.primary_version == 7


def test_nonces_are_fresh() -> None:
    sealed = {CIPHER.encrypt(EMAIL, **FIELD) for _ in range(200)}
    assert len(sealed) == 200
    assert len({s[HEADER_BYTES : HEADER_BYTES + 12] for s in sealed}) == 200


def test_uuid_and_its_text_bind_alike() -> None:
    row = uuid.UUID(ROW)
    sealed = CIPHER.encrypt(EMAIL, table="students", column="email_enc", row_id=row)
    assert CIPHER.decrypt_text(sealed, **FIELD) == EMAIL
    assert CIPHER.decrypt_text(sealed, table="students", column="email_enc", row_id=row) == EMAIL


def test_every_bit_flip_is_refused() -> None:
    cipher = _cipher((1, 2, 3), primary=1)
    sealed = cipher.encrypt(EMAIL, **FIELD)
    for index in range(len(sealed)):
        for bit in range(8):
            tampered = bytearray(sealed)
            tampered[index] ^= 1 << bit
            if 1 <= index < HEADER_BYTES:
                version = int.from_bytes(tampered[1:HEADER_BYTES], "big")
                # the header names a key this ring lacks: that is all it can say
                expected: type[Exception] = (
                    DecryptionError if version in cipher.keyring else KeyUnavailableError
                )
            else:
                expected = DecryptionError
            with pytest.raises(expected):
                cipher.decrypt(bytes(tampered), **FIELD)


def test_header_edited_to_another_known_version() -> None:
    cipher = _cipher((1, 2, 3), primary=3)
    sealed = cipher.encrypt(EMAIL, **FIELD)
    for version in (1, 2):
        edited = sealed[:1] + version.to_bytes(4, "big") + sealed[HEADER_BYTES:]
        with pytest.raises(DecryptionError, match="does not authenticate"):
            cipher.decrypt(edited, **FIELD)


def test_header_edited_with_key_material_swapped_still_fails() -> None:
    # same key bytes under two versions: only the header in the associated data tells them apart
    cipher = FieldCipher(KeyRing({1: _key(9), 2: _key(9)}, primary=2))
    sealed = cipher.encrypt(EMAIL, **FIELD)
    edited = sealed[:1] + (1).to_bytes(4, "big") + sealed[HEADER_BYTES:]
    with pytest.raises(DecryptionError):
        cipher.decrypt(edited, **FIELD)


def test_format_byte_edited() -> None:
    sealed = CIPHER.encrypt(EMAIL, **FIELD)
    with pytest.raises(DecryptionError, match="unknown ciphertext format byte 0x02"):
        CIPHER.decrypt(b"\x02" + sealed[1:], **FIELD)


@pytest.mark.parametrize(
    ("table", "column", "row_id"),
    [
        ("students", "email_enc", "3f2504e0-4f89-11d3-9a0c-0305e82c3302"),
        ("students", "full_name_enc", ROW),
        ("staff", "email_enc", ROW),
        ("students", "email_enc", ROW.upper()),
        ("students", "email_enc", ""),
        # the separators keep the names apart: no shifting characters between them
        ("students\x01", "email_enc", ROW),
        ("student", "semail_enc", ROW),
    ],
)
def test_moved_to_another_field(table: str, column: str, row_id: str) -> None:
    sealed = CIPHER.encrypt(EMAIL, **FIELD)
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(sealed, table=table, column=column, row_id=row_id)


def test_names_that_could_blur_together_are_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        CIPHER.encrypt(EMAIL, table="students\x00email_enc", column="x", row_id=ROW)
    with pytest.raises(ValueError, match="non-empty"):
        CIPHER.encrypt(EMAIL, table="", column="x", row_id=ROW)
    sealed = CIPHER.encrypt(EMAIL, **FIELD)
    with pytest.raises(ValueError, match="NUL"):
        CIPHER.decrypt(sealed, table="students", column="email_enc\x00", row_id=ROW)


def test_truncated_or_extended() -> None:
    sealed = CIPHER.encrypt(EMAIL, **FIELD)
    for length in range(len(sealed)):
        with pytest.raises(DecryptionError):
            CIPHER.decrypt(sealed[:length], **FIELD)
    with pytest.raises(DecryptionError):
        CIPHER.decrypt(sealed + b"\x00", **FIELD)
    with pytest.raises(DecryptionError, match="at least 33"):
        CIPHER.decrypt(sealed[:20], **FIELD)


def test_unknown_version_is_key_unavailable() -> None:
    other = _cipher((5,), primary=5)
    sealed = other.encrypt(EMAIL, **FIELD)
    with pytest.raises(KeyUnavailableError, match="data key 5 is not in the key ring"):
        CIPHER.decrypt(sealed, **FIELD)


def test_older_keys_decrypt_and_reencrypt_moves_to_primary() -> None:
    old = _cipher((1,), primary=1)
    sealed = old.encrypt(EMAIL, **FIELD)
    rotated = _cipher((1, 2), primary=2)
    assert rotated.decrypt_text(sealed, **FIELD) == EMAIL
    moved = rotated.reencrypt(sealed, **FIELD)
    assert rotated.key_version(moved) == 2
    assert rotated.decrypt_text(moved, **FIELD) == EMAIL
    assert rotated.reencrypt(moved, **FIELD) == moved
    with pytest.raises(DecryptionError):
        rotated.reencrypt(sealed, table="students", column="phone_enc", row_id=ROW)


def test_ring_without_primary_decrypts_but_cannot_encrypt() -> None:
    sealed = CIPHER.encrypt(EMAIL, **FIELD)
    decrypt_only = _cipher((1,), primary=None)
    assert decrypt_only.decrypt_text(sealed, **FIELD) == EMAIL
    with pytest.raises(KeyUnavailableError, match="no primary"):
        decrypt_only.encrypt(EMAIL, **FIELD)
    with pytest.raises(KeyUnavailableError):
        _ = decrypt_only.primary_version


def test_buffers_are_accepted() -> None:
    sealed = CIPHER.encrypt(bytearray(b"abc"), **FIELD)  # type: ignore[arg-type]
    assert CIPHER.decrypt(bytearray(sealed), **FIELD) == b"abc"  # type: ignore[arg-type]
    assert CIPHER.decrypt(memoryview(sealed), **FIELD) == b"abc"  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CIPHER.decrypt("not bytes", **FIELD)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CIPHER.encrypt(12345, **FIELD)  # type: ignore[arg-type]


def test_non_utf8_plaintext_is_a_decryption_error_for_text() -> None:
    sealed = CIPHER.encrypt(b"\xff\xfe", **FIELD)
    with pytest.raises(DecryptionError, match="not UTF-8"):
        CIPHER.decrypt_text(sealed, **FIELD)


def test_many_fields_beyond_the_prefix_cache() -> None:
    for n in range(300):
        sealed = CIPHER.encrypt(b"x", table=f"t{n % 3}", column=f"c{n}", row_id=n)
        assert CIPHER.decrypt(sealed, table=f"t{n % 3}", column=f"c{n}", row_id=n) == b"x"


def test_errors_and_repr_carry_no_key_material() -> None:
    cipher = _cipher((1, 2), primary=2)
    shown = [repr(cipher), str(cipher), repr(cipher.keyring)]
    sealed = cipher.encrypt(EMAIL, **FIELD)
    for bad in (sealed[:-1], b"\x01\x00\x00\x00\x09" + sealed[5:], sealed[:10]):
        with pytest.raises((DecryptionError, KeyUnavailableError)) as caught:
            cipher.decrypt(bad, **FIELD)
        shown.append(str(caught.value))
    assert repr(cipher) == "FieldCipher(KeyRing(primary=2, versions=[1, 2]))"
    for version in (1, 2):
        raw = _key(version).reveal()
        for text in shown:
            assert raw.hex() not in text
            assert repr(raw)[2:-1] not in text
            assert EMAIL not in text
