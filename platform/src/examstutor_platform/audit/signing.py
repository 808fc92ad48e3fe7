"""Ed25519 signatures over audit seals and export manifests.

The private key is ``EXAMSTUTOR_SIGNING_KEY`` (32 raw bytes in a
:class:`~examstutor_platform.secrets.Secret`); verification needs only the
public key (PEM from ``GET /v1/audit/public-key``, or the 32 raw bytes). A key
is named by its ``key_id``: the first 16 hex digits of SHA-256 of the raw
public key.

A manifest's signature covers the canonical JSON of the manifest without its
``signature`` member (CONTRACT §6). A day's seal signs :func:`seal_payload`.
Both documents carry a ``format`` member, so a seal signature can never pass
for a manifest signature or the reverse.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final, NoReturn

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from examstutor_platform.audit.canonical import canonical_json
from examstutor_platform.errors import CryptoError, SignatureError
from examstutor_platform.secrets import Secret

__all__ = [
    "ALGORITHM",
    "SEAL_FORMAT",
    "PublicKeyLike",
    "Signer",
    "canonical_json",
    "key_id",
    "load_public_key",
    "seal_payload",
    "sign_manifest",
    "verify",
    "verify_manifest",
]

ALGORITHM: Final = "ed25519"
SEAL_FORMAT: Final = "examstutor-audit-seal/1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

PublicKeyLike = Ed25519PublicKey | bytes | str


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_key: PublicKeyLike) -> str:
    """First 16 hex digits of SHA-256 of the raw 32-byte public key."""
    raw = _raw_public(load_public_key(public_key))
    return hashlib.sha256(raw).hexdigest()[:16]


class Signer:
    """Signs with an Ed25519 private key that never shows in repr, str or pickle."""

    __slots__ = ("_key", "_public")

    def __init__(self, private_key: Secret) -> None:
        if not isinstance(private_key, Secret):
            raise TypeError("Signer takes the private key as a Secret")
        raw = private_key.reveal()
        if len(raw) != 32:
            raise CryptoError("an Ed25519 private key is 32 raw bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(raw)
        self._public = self._key.public_key()

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The matching public key."""
        return self._public

    @property
    def public_key_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return _raw_public(self._public)

    @property
    def key_id(self) -> str:
        """First 16 hex digits of SHA-256 of the raw public key."""
        return hashlib.sha256(self.public_key_bytes).hexdigest()[:16]

    def public_pem(self) -> str:
        """The public key as PEM (SubjectPublicKeyInfo), as auditors download it."""
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer cannot be pickled")


def load_public_key(pem_or_raw: PublicKeyLike) -> Ed25519PublicKey:
    """An Ed25519 public key from PEM (text or bytes) or 32 raw bytes."""
    if isinstance(pem_or_raw, Ed25519PublicKey):
        return pem_or_raw
    data = pem_or_raw.encode("utf-8") if isinstance(pem_or_raw, str) else bytes(pem_or_raw)
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError) as exc:
            raise CryptoError(f"not a readable PEM public key: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise CryptoError(f"the PEM holds a {type(key).__name__}, not an Ed25519 public key")
        return key
    if isinstance(pem_or_raw, bytes) and len(data) == 32:
        try:
            return Ed25519PublicKey.from_public_bytes(data)
        except ValueError:
            raise CryptoError("those 32 bytes are not an Ed25519 public key") from None
    raise CryptoError("an Ed25519 public key is PEM text or 32 raw bytes")


def verify(public_key: PublicKeyLike, data: bytes, signature: bytes) -> None:
    """Return if ``signature`` is ``public_key``'s over ``data``; :class:`SignatureError` if not."""
    key = load_public_key(public_key)
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise SignatureError(
            f"the signature does not verify under public key {key_id(key)}"
        ) from None


def sign_manifest(manifest: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """A copy of ``manifest`` with ``signature`` over its canonical JSON (any old one replaced)."""
    body = {key: value for key, value in manifest.items() if key != "signature"}
    value = base64.b64encode(signer.sign(canonical_json(body))).decode("ascii")
    return {**body, "signature": {"algorithm": ALGORITHM, "key_id": signer.key_id, "value": value}}


def verify_manifest(manifest: Mapping[str, Any], public_key: PublicKeyLike) -> None:
    """Return if the manifest's signature verifies under ``public_key``, else raise."""
    key = load_public_key(public_key)
    signature = manifest.get("signature")
    if not isinstance(signature, Mapping):
        raise SignatureError("the manifest has no signature")
    if signature.get("algorithm") != ALGORITHM:
        raise SignatureError(
            f"the manifest is signed with {signature.get('algorithm')!r}, expected {ALGORITHM!r}"
        )
    expected_id = key_id(key)
    if signature.get("key_id") != expected_id:
        raise SignatureError(
            f"the manifest names signing key {signature.get('key_id')!r}, "
            f"but the public key given is {expected_id!r}"
        )
    value = signature.get("value")
    try:
        if not isinstance(value, str):
            raise ValueError("not text")
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("the manifest's signature value is not base64") from None
    body = {name: item for name, item in manifest.items() if name != "signature"}
    verify(key, canonical_json(body), raw)


def seal_payload(
    day: date,
    timezone: str,
    first_seq: int | None,
    last_seq: int | None,
    rows: int,
    prev_head: str,
    head: str,
    policy_version: str,
) -> bytes:
    """Canonical JSON that a day's seal signs: the day, its seq range and row count, the chain."""
    if isinstance(day, datetime) or not isinstance(day, date):
        raise TypeError("day is a date (the business day sealed), not a datetime")
    if rows < 0:
        raise ValueError("rows cannot be negative")
    if rows == 0:
        if first_seq is not None or last_seq is not None:
            raise ValueError("first_seq and last_seq are None exactly when the day has no rows")
    elif first_seq is None or last_seq is None:
        raise ValueError("first_seq and last_seq are None exactly when the day has no rows")
    elif last_seq - first_seq + 1 < rows:
        raise ValueError("the seq range is shorter than the row count")
    for name, value in (("prev_head", prev_head), ("head", head)):
        if not _HEX64.match(value):
            raise ValueError(f"{name} must be 64 lower-case hex digits")
    if rows == 0 and head != prev_head:
        raise ValueError("a day without rows keeps the previous head")
    return canonical_json(
        {
            "format": SEAL_FORMAT,
            "day": day,
            "timezone": timezone,
            "first_seq": first_seq,
            "last_seq": last_seq,
            "rows": rows,
            "chain": {"algorithm": "sha256", "prev": prev_head, "head": head},
            "policy_version": policy_version,
        }
    )
