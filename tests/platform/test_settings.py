"""Settings from the environment: validation names the variable, secrets stay masked."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from examstutor_platform.errors import ConfigurationError
from examstutor_platform.secrets import Secret
from examstutor_platform.settings import (
    SECRET_VARIABLES,
    Settings,
    b64url_encode,
    new_kek,
    parse_keks,
    redact_url,
)

KEY = b64url_encode(bytes(range(32)))


def _prod_env(**overrides: str) -> dict[str, str]:
    env = {
        "EXAMSTUTOR_ENV": "prod",
        "EXAMSTUTOR_DATABASE_URL": "postgresql://app:pw@db/examstutor",
        "EXAMSTUTOR_KEKS": f"k1:{KEY}",
        "EXAMSTUTOR_INDEX_KEY": KEY,
        "EXAMSTUTOR_PSEUDONYM_KEY": KEY,
        "EXAMSTUTOR_SIGNING_KEY": KEY,
        "EXAMSTUTOR_JWT_SECRET": "j" * 40,
    }
    env.update(overrides)
    return env


def test_dev_generates_secrets_once_with_mode_0600(tmp_path: Path) -> None:
    env = {"EXAMSTUTOR_HOME": str(tmp_path / "home")}
    first = Settings.from_env(env)
    second = Settings.from_env(env)
    assert first.keks == second.keks
    assert first.signing_key == second.signing_key
    assert (tmp_path / "home" / "secrets.env").stat().st_mode & 0o777 == 0o600
    assert first.export_dir == tmp_path / "home" / "exports"
    assert first.timezone == "Africa/Lagos"
    assert first.dsr_days == 30
    assert first.uses_embedded_database


def test_dev_environment_overrides_the_generated_file(tmp_path: Path) -> None:
    env = {"EXAMSTUTOR_HOME": str(tmp_path), "EXAMSTUTOR_KEKS": f"mine:{KEY}"}
    assert Settings.from_env(env).keks[0].id == "mine"


@pytest.mark.parametrize("missing", SECRET_VARIABLES)
def test_production_names_the_missing_secret(missing: str, tmp_path: Path) -> None:
    env = _prod_env(EXAMSTUTOR_HOME=str(tmp_path / "h"))
    del env[missing]
    with pytest.raises(ConfigurationError, match=f"^{missing} is not set"):
        Settings.from_env(env)
    assert not (tmp_path / "h").exists()


def test_production_needs_a_database_url() -> None:
    env = _prod_env()
    del env["EXAMSTUTOR_DATABASE_URL"]
    with pytest.raises(ConfigurationError, match="EXAMSTUTOR_DATABASE_URL is not set"):
        Settings.from_env(env)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("EXAMSTUTOR_ENV", "production", "EXAMSTUTOR_ENV is 'production'"),
        ("EXAMSTUTOR_TIMEZONE", "Lagos", "EXAMSTUTOR_TIMEZONE is 'Lagos'"),
        ("EXAMSTUTOR_DSR_DAYS", "thirty", "EXAMSTUTOR_DSR_DAYS is 'thirty'"),
        ("EXAMSTUTOR_DSR_DAYS", "0", "EXAMSTUTOR_DSR_DAYS is 0"),
        ("EXAMSTUTOR_DATABASE_URL", "mysql://x/y", "EXAMSTUTOR_DATABASE_URL must start"),
        ("EXAMSTUTOR_INDEX_KEY", "AAAA", "EXAMSTUTOR_INDEX_KEY decodes to 3 bytes"),
        ("EXAMSTUTOR_SIGNING_KEY", "not base64!", "EXAMSTUTOR_SIGNING_KEY is not base64url"),
        ("EXAMSTUTOR_JWT_SECRET", "tooshort", "EXAMSTUTOR_JWT_SECRET is 8 bytes long"),
        ("EXAMSTUTOR_KEKS", "", "EXAMSTUTOR_KEKS is not set"),
        ("EXAMSTUTOR_KEKS", "nocolon", "entry 1 has no ':'"),
        ("EXAMSTUTOR_KEKS", f"k1:{KEY},k1:{KEY}", "id 'k1' appears twice"),
        ("EXAMSTUTOR_KEKS", f"k1:{KEY},bad id:{KEY}", "entry 2 has an invalid id"),
        ("EXAMSTUTOR_KEKS", "k1:AAAA", "entry 1 \\(id 'k1'\\) decodes to 3 bytes"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(_prod_env(**{variable: value}))


def test_no_secret_value_in_repr_or_errors() -> None:
    settings = Settings.from_env(_prod_env())
    text = repr(settings) + str(settings)
    assert KEY not in text
    assert "pw@" not in text
    for kek in settings.keks:
        assert KEY not in repr(kek)
    bad_key = b64url_encode(b"\x01" * 31)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(_prod_env(EXAMSTUTOR_KEKS=f"k1:{bad_key}"))
    assert bad_key not in str(caught.value)


def test_secret_is_masked_and_not_picklable() -> None:
    secret = Secret(b"super secret value")
    assert "super" not in repr(secret) + str(secret) + f"{secret}" + f"{secret!r}"
    assert secret.reveal() == b"super secret value"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert secret == Secret(b"super secret value")
    assert secret != Secret(b"other")


def test_new_kek_round_trips() -> None:
    (kek,) = parse_keks(new_kek("k9"))
    assert kek.id == "k9"
    assert len(kek.key.reveal()) == 32


def test_redact_url() -> None:
    assert redact_url("postgresql://u:p@h:5/d?sslmode=require") == (
        "postgresql://u:***@h:5/d?sslmode=require"
    )
    assert redact_url("postgresql://u@/d?host=/tmp") == "postgresql://u@/d?host=/tmp"
