"""Ed25519 signing of seals and manifests: known answers, verification, tampering, key hygiene."""

from __future__ import annotations

import base64
import copy
import pickle
from datetime import date, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from examstutor_platform.audit.signing import (
    Signer,
    canonical_json,
    key_id,
    load_public_key,
    seal_payload,
    sign_manifest,
    verify,
    verify_manifest,
)
from examstutor_platform.errors import CryptoError, SignatureError
from examstutor_platform.secrets import Secret

# RFC 8032 §7.1, test 1: the empty message
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065"
    "224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
RFC_KEY_ID = "21fe31dfa154a261"  # sha256(RFC_PUBLIC)[:16]

MANIFEST: dict[str, Any] = {
    "format": "examstutor-audit-export/1",
    "date": "2026-11-25",
    "timezone": "Africa/Lagos",
    "files": [{"name": "events-0000.parquet", "sha256": "a" * 64, "rows": 1200, "bytes": 48211}],
    "rows": 1200,
    "first_seq": 5001,
    "last_seq": 6200,
    "chain": {"algorithm": "sha256", "prev": "0" * 64, "head": "b" * 64},
    "prev_manifest_sha256": None,
    "policy_version": "c" * 64,
    "generated_at": "2026-11-26T00:30:00.000000Z",
    "generator": "examstutor-pipelines 0.1.0",
}


@pytest.fixture
def signer() -> Signer:
    return Signer(Secret(RFC_SECRET))


@pytest.fixture
def other() -> Signer:
    return Signer(Secret(bytes(range(32))))


def test_rfc8032_known_answer(signer: Signer) -> None:
    assert signer.public_key_bytes == RFC_PUBLIC
    assert signer.sign(b"") == RFC_SIGNATURE
    assert signer.key_id == RFC_KEY_ID == key_id(RFC_PUBLIC)
    verify(RFC_PUBLIC, b"", RFC_SIGNATURE)


def test_public_key_loads_from_pem_raw_or_key(signer: Signer) -> None:
    pem = signer.public_pem()
    assert pem.startswith("-----BEGIN PUBLIC KEY-----")
    for form in (pem, pem.encode(), RFC_PUBLIC, signer.public_key):
        assert key_id(load_public_key(form)) == RFC_KEY_ID
    verify(pem, b"data", signer.sign(b"data"))


def test_wrong_key_or_data_or_signature_fails(signer: Signer, other: Signer) -> None:
    signature = signer.sign(b"seal")
    with pytest.raises(SignatureError, match=other.key_id):
        verify(other.public_key_bytes, b"seal", signature)
    with pytest.raises(SignatureError):
        verify(RFC_PUBLIC, b"seal!", signature)
    with pytest.raises(SignatureError):
        verify(RFC_PUBLIC, b"seal", bytes([signature[0] ^ 1]) + signature[1:])
    with pytest.raises(SignatureError):
        verify(RFC_PUBLIC, b"seal", signature[:-1])


def test_signed_manifest_verifies(signer: Signer) -> None:
    signed = sign_manifest(MANIFEST, signer)
    assert signed["signature"]["algorithm"] == "ed25519"
    assert signed["signature"]["key_id"] == RFC_KEY_ID
    assert len(base64.b64decode(signed["signature"]["value"], validate=True)) == 64
    assert {k: v for k, v in signed.items() if k != "signature"} == MANIFEST
    verify_manifest(signed, signer.public_pem())
    # the signature covers the canonical JSON of the manifest without "signature"
    raw = base64.b64decode(signed["signature"]["value"])
    verify(RFC_PUBLIC, canonical_json(MANIFEST), raw)


def test_manifest_key_order_does_not_matter(signer: Signer) -> None:
    signed = sign_manifest(MANIFEST, signer)
    reordered = dict(reversed(list(signed.items())))
    verify_manifest(reordered, RFC_PUBLIC)


def test_resigning_replaces_the_old_signature(signer: Signer, other: Signer) -> None:
    twice = sign_manifest(sign_manifest(MANIFEST, other), signer)
    verify_manifest(twice, RFC_PUBLIC)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("rows",), 1201),
        (("chain", "head"), "c" * 64),
        (("files", 0, "sha256"), "d" * 64),
        (("prev_manifest_sha256",), "e" * 64),
        (("extra",), "added"),
    ],
)
def test_edited_manifest_fails(signer: Signer, path: tuple[Any, ...], value: object) -> None:
    edited = copy.deepcopy(sign_manifest(MANIFEST, signer))
    target: Any = edited
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    with pytest.raises(SignatureError, match="does not verify"):
        verify_manifest(edited, RFC_PUBLIC)


def test_edited_signature_fails(signer: Signer) -> None:
    signed = sign_manifest(MANIFEST, signer)
    raw = bytearray(base64.b64decode(signed["signature"]["value"]))
    raw[10] ^= 0x40
    signed["signature"]["value"] = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(SignatureError, match="does not verify"):
        verify_manifest(signed, RFC_PUBLIC)


def test_manifest_under_another_key_fails(signer: Signer, other: Signer) -> None:
    signed = sign_manifest(MANIFEST, other)
    with pytest.raises(SignatureError, match="names signing key"):
        verify_manifest(signed, RFC_PUBLIC)
    forged = copy.deepcopy(signed)
    forged["signature"]["key_id"] = RFC_KEY_ID  # claims our key, signed with another
    with pytest.raises(SignatureError, match="does not verify"):
        verify_manifest(forged, RFC_PUBLIC)


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (None, "no signature"),
        ("abc", "no signature"),
        ({"algorithm": "rsa", "key_id": RFC_KEY_ID, "value": "AA=="}, "expected 'ed25519'"),
        ({"algorithm": "ed25519", "key_id": RFC_KEY_ID, "value": "not base64!"}, "not base64"),
        ({"algorithm": "ed25519", "key_id": RFC_KEY_ID, "value": 12}, "not base64"),
        ({"algorithm": "ed25519", "key_id": RFC_KEY_ID}, "not base64"),
    ],
)
def test_malformed_signature_member_fails(signature: object, message: str) -> None:
    manifest = dict(MANIFEST)
    if signature is not None:
        manifest["signature"] = signature
    with pytest.raises(SignatureError, match=message):
        verify_manifest(manifest, RFC_PUBLIC)


def test_signer_never_shows_the_private_key(signer: Signer) -> None:
    shown = repr(signer) + str(signer) + f"{signer}"
    assert RFC_KEY_ID in repr(signer)
    for form in (
        RFC_SECRET.hex(),
        base64.b64encode(RFC_SECRET).decode(),
        base64.urlsafe_b64encode(RFC_SECRET).decode().rstrip("="),
    ):
        assert form not in shown
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(signer)


def test_signer_takes_a_32_byte_secret() -> None:
    with pytest.raises(CryptoError, match="32 raw bytes"):
        Signer(Secret(b"short"))
    with pytest.raises(TypeError, match="Secret"):
        Signer(RFC_SECRET)  # type: ignore[arg-type]


def test_public_key_must_be_ed25519() -> None:
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(CryptoError, match="not an Ed25519"):
        load_public_key(ec_pem)
    with pytest.raises(CryptoError, match="PEM"):
        load_public_key("-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n")
    with pytest.raises(CryptoError, match="32 raw bytes"):
        load_public_key(b"\x01" * 31)
    with pytest.raises(CryptoError, match="PEM text or 32 raw bytes"):
        load_public_key("a" * 32)  # text is PEM, never raw key bytes


SEAL_ARGS: dict[str, Any] = {
    "day": date(2026, 11, 25),
    "timezone": "Africa/Lagos",
    "first_seq": 5001,
    "last_seq": 6200,
    "rows": 1200,
    "prev_head": "0" * 64,
    "head": "ab" * 32,
    "policy_version": "cd" * 32,
}


def test_seal_payload_known_answer(signer: Signer) -> None:
    payload = seal_payload(**SEAL_ARGS)
    assert payload == (
        b'{"chain":{"algorithm":"sha256","head":"' + b"ab" * 32 + b'","prev":"' + b"0" * 64 + b'"},'
        b'"day":"2026-11-25","first_seq":5001,"format":"examstutor-audit-seal/1",'
        b'"last_seq":6200,"policy_version":"' + b"cd" * 32 + b'","rows":1200,'
        b'"timezone":"Africa/Lagos"}'
    )
    signature = signer.sign(payload)
    verify(RFC_PUBLIC, payload, signature)
    with pytest.raises(SignatureError):
        verify(RFC_PUBLIC, seal_payload(**(SEAL_ARGS | {"rows": 1199})), signature)


def test_seal_payload_of_an_empty_day() -> None:
    payload = seal_payload(
        date(2026, 11, 26), "Africa/Lagos", None, None, 0, "ab" * 32, "ab" * 32, "cd" * 32
    )
    assert b'"first_seq":null' in payload
    assert b'"rows":0' in payload


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"rows": -1}, "negative"),
        ({"first_seq": None}, "exactly when"),
        ({"rows": 0}, "exactly when"),
        ({"last_seq": 5002}, "shorter"),
        ({"head": "AB" * 32}, "hex"),
        ({"prev_head": "0" * 63}, "hex"),
        ({"rows": 0, "first_seq": None, "last_seq": None}, "previous head"),
    ],
)
def test_seal_payload_refuses_inconsistent_seals(changes: dict[str, Any], error: str) -> None:
    with pytest.raises(ValueError, match=error):
        seal_payload(**(SEAL_ARGS | changes))


def test_seal_day_is_a_date() -> None:
    with pytest.raises(TypeError, match="not a datetime"):
        seal_payload(**(SEAL_ARGS | {"day": datetime(2026, 11, 25)}))
