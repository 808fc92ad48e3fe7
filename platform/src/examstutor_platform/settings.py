"""Settings read from the environment (CONTRACT §3).

In ``dev`` every secret that the environment does not give is generated once
into ``EXAMSTUTOR_HOME/secrets.env`` (mode 0600) and read from there after.
In ``staging`` and ``prod`` a missing secret stops start-up with the name of
the variable. Secret values live in :class:`~examstutor_platform.secrets.Secret`.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from examstutor_platform.errors import ConfigurationError
from examstutor_platform.secrets import Secret

__all__ = [
    "SECRET_VARIABLES",
    "Kek",
    "Settings",
    "b64url_decode",
    "b64url_encode",
    "load_dev_secrets",
    "new_kek",
    "parse_keks",
    "redact_url",
]

Environment = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = ("dev", "staging", "prod")

SECRET_VARIABLES = (
    "EXAMSTUTOR_KEKS",
    "EXAMSTUTOR_INDEX_KEY",
    "EXAMSTUTOR_PSEUDONYM_KEY",
    "EXAMSTUTOR_SIGNING_KEY",
    "EXAMSTUTOR_JWT_SECRET",
)
DEV_SECRETS_FILE = "secrets.env"
_KEK_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def b64url_encode(raw: bytes) -> str:
    """Unpadded base64url text of ``raw``."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Bytes of base64url ``text``, padded or not; ``ValueError`` if it is not base64url."""
    if not re.fullmatch(r"[A-Za-z0-9_-]*={0,2}", text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64url") from exc


@dataclass(frozen=True)
class Kek:
    """A key-encryption key: its id (recorded beside every wrapped data key) and 32 bytes."""

    id: str
    key: Secret


def new_kek(kek_id: str | None = None) -> str:
    """A fresh KEK in the form ``EXAMSTUTOR_KEKS`` takes: ``id:base64url32``."""
    kek_id = kek_id or f"kek-{secrets.token_hex(4)}"
    return f"{kek_id}:{b64url_encode(secrets.token_bytes(32))}"


def parse_keks(text: str, variable: str = "EXAMSTUTOR_KEKS") -> tuple[Kek, ...]:
    """Parse ``id:base64url32,id:base64url32``; the first entry is the primary KEK."""
    keks: list[Kek] = []
    entries = [part.strip() for part in text.split(",")]
    if not text.strip():
        raise ConfigurationError(f"{variable} is empty: give at least one 'id:base64url32' entry")
    for position, entry in enumerate(entries, start=1):
        kek_id, sep, encoded = entry.partition(":")
        if not sep:
            raise ConfigurationError(
                f"{variable}: entry {position} has no ':'; each entry is 'id:base64url32'"
            )
        if not _KEK_ID.match(kek_id):
            raise ConfigurationError(
                f"{variable}: entry {position} has an invalid id; "
                "use 1-64 letters, digits, '_', '.' or '-'"
            )
        try:
            raw = b64url_decode(encoded)
        except ValueError:
            raise ConfigurationError(
                f"{variable}: entry {position} (id {kek_id!r}) is not base64url"
            ) from None
        if len(raw) != 32:
            raise ConfigurationError(
                f"{variable}: entry {position} (id {kek_id!r}) decodes to {len(raw)} bytes, "
                "a KEK is 32"
            )
        if any(k.id == kek_id for k in keks):
            raise ConfigurationError(f"{variable}: id {kek_id!r} appears twice")
        keks.append(Kek(kek_id, Secret(raw)))
    return tuple(keks)


def _parse_key32(text: str, variable: str) -> Secret:
    try:
        raw = b64url_decode(text.strip())
    except ValueError:
        raise ConfigurationError(f"{variable} is not base64url") from None
    if len(raw) != 32:
        raise ConfigurationError(f"{variable} decodes to {len(raw)} bytes, it must be 32")
    return Secret(raw)


def _parse_jwt_secret(text: str, variable: str) -> Secret:
    raw = text.encode("utf-8")
    if len(raw) < 32:
        raise ConfigurationError(f"{variable} is {len(raw)} bytes long, it must be at least 32")
    return Secret(raw)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, f"{user}:***@{host}", parts.path, parts.query, ""))


def _generate_dev_secrets() -> dict[str, str]:
    return {
        "EXAMSTUTOR_KEKS": new_kek("dev-1"),
        "EXAMSTUTOR_INDEX_KEY": b64url_encode(secrets.token_bytes(32)),
        "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(secrets.token_bytes(32)),
        "EXAMSTUTOR_SIGNING_KEY": b64url_encode(secrets.token_bytes(32)),
        "EXAMSTUTOR_JWT_SECRET": secrets.token_urlsafe(48),
    }


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        if not sep:
            raise ConfigurationError(f"{path}: line {number} is not NAME=value")
        values[name.strip()] = value.strip()
    return values


def load_dev_secrets(home: Path) -> dict[str, str]:
    """The dev secrets in ``home/secrets.env``, generated (mode 0600) on first use."""
    path = home / DEV_SECRETS_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        body = "".join(f"{k}={v}\n" for k, v in _generate_dev_secrets().items())
        header = "# ExamsTutor dev secrets, generated once. Never use these outside dev.\n"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(header + body)
    values = _read_env_file(path)
    missing = [name for name in SECRET_VARIABLES if name not in values]
    if missing:
        raise ConfigurationError(f"{path} lacks {', '.join(missing)}; delete it to regenerate")
    return values


@dataclass(frozen=True)
class Settings:
    """Everything the platform reads from the environment, validated."""

    env: Environment
    home: Path
    database_url: str | None = field(repr=False)
    keks: tuple[Kek, ...] = field(repr=False)
    index_key: Secret = field(repr=False)
    pseudonym_key: Secret = field(repr=False)
    signing_key: Secret = field(repr=False)
    jwt_secret: Secret = field(repr=False)
    export_dir: Path
    timezone: str
    dsr_days: int

    @property
    def tz(self) -> ZoneInfo:
        """The business day's time zone."""
        return ZoneInfo(self.timezone)

    @property
    def uses_embedded_database(self) -> bool:
        """True when no ``EXAMSTUTOR_DATABASE_URL`` is set."""
        return self.database_url is None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        require: tuple[str, ...] = SECRET_VARIABLES,
    ) -> Settings:
        """Read and validate the settings; raise :class:`ConfigurationError` naming the variable.

        ``require`` names the secrets this process needs; outside ``dev`` a secret not
        in it may be absent and is then replaced by a random value nobody knows (the
        pipelines, say, never sign access tokens, so they need no JWT secret)."""
        env_map = os.environ if environ is None else environ
        env_name = env_map.get("EXAMSTUTOR_ENV", "dev").strip() or "dev"
        if env_name not in ENVIRONMENTS:
            raise ConfigurationError(
                f"EXAMSTUTOR_ENV is {env_name!r}; use one of {', '.join(ENVIRONMENTS)}"
            )
        home = Path(env_map.get("EXAMSTUTOR_HOME", "") or ".examstutor").expanduser().absolute()

        given = {name: env_map[name] for name in SECRET_VARIABLES if env_map.get(name)}
        if env_name == "dev":
            merged = {**load_dev_secrets(home), **given} if len(given) < 5 else given
        else:
            missing = [name for name in require if name not in given]
            if missing:
                raise ConfigurationError(
                    f"{missing[0]} is not set; EXAMSTUTOR_ENV={env_name} refuses to start "
                    f"without it (missing: {', '.join(missing)})"
                )
            merged = {**_generate_dev_secrets(), **given}

        database_url = env_map.get("EXAMSTUTOR_DATABASE_URL") or None
        if database_url is not None and urlsplit(database_url).scheme not in (
            "postgresql",
            "postgres",
        ):
            raise ConfigurationError(
                "EXAMSTUTOR_DATABASE_URL must start with postgresql:// "
                f"(got scheme {urlsplit(database_url).scheme!r})"
            )
        if database_url is None and env_name != "dev":
            raise ConfigurationError(
                f"EXAMSTUTOR_DATABASE_URL is not set; the embedded database is for dev only "
                f"and EXAMSTUTOR_ENV={env_name}"
            )

        timezone = env_map.get("EXAMSTUTOR_TIMEZONE", "") or "Africa/Lagos"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigurationError(
                f"EXAMSTUTOR_TIMEZONE is {timezone!r}, not a known IANA time zone"
            ) from None

        dsr_text = env_map.get("EXAMSTUTOR_DSR_DAYS", "") or "30"
        try:
            dsr_days = int(dsr_text)
        except ValueError:
            raise ConfigurationError(
                f"EXAMSTUTOR_DSR_DAYS is {dsr_text!r}, not a whole number"
            ) from None
        if not 1 <= dsr_days <= 90:
            raise ConfigurationError(f"EXAMSTUTOR_DSR_DAYS is {dsr_days}; it must be 1 to 90")

        export_text = env_map.get("EXAMSTUTOR_EXPORT_DIR", "")
        export_dir = Path(export_text).expanduser().absolute() if export_text else home / "exports"

        return cls(
            env=env_name,
            home=home,
            database_url=database_url,
            keks=parse_keks(merged["EXAMSTUTOR_KEKS"]),
            index_key=_parse_key32(merged["EXAMSTUTOR_INDEX_KEY"], "EXAMSTUTOR_INDEX_KEY"),
            pseudonym_key=_parse_key32(
                merged["EXAMSTUTOR_PSEUDONYM_KEY"], "EXAMSTUTOR_PSEUDONYM_KEY"
            ),
            signing_key=_parse_key32(merged["EXAMSTUTOR_SIGNING_KEY"], "EXAMSTUTOR_SIGNING_KEY"),
            jwt_secret=_parse_jwt_secret(merged["EXAMSTUTOR_JWT_SECRET"], "EXAMSTUTOR_JWT_SECRET"),
            export_dir=export_dir,
            timezone=timezone,
            dsr_days=dsr_days,
        )
