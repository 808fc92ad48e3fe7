"""The API's typed configuration: the platform settings plus HTTP limits."""

from __future__ import annotations

from typing import Any

from sanic.config import Config

from examstutor_platform.settings import Settings

__all__ = ["ApiConfig"]


class ApiConfig(Config):
    """Sanic's config with the platform settings and the API's own knobs."""

    SETTINGS: Settings
    DATABASE_URL: str
    #: PostgreSQL role the pool assumes (``SET ROLE``), e.g. ``examstutor_api``; None = the login's
    DB_ROLE: str | None
    DB_POOL_MIN: int
    DB_POOL_MAX: int
    ACCESS_TOKEN_TTL: int
    LOGIN_WINDOW_SECONDS: int
    LOGIN_MAX_FAILURES_PER_EMAIL: int
    LOGIN_MAX_FAILURES_PER_IP: int
    GUARDIAN_TOKEN_TTL_DAYS: int
    PASSWORD_HASH_CONCURRENCY: int
    KEYRING_REFRESH_SECONDS: float
    #: argon2id cost: "default" (RFC 9106) or "light" (tests and benchmarks only)
    ARGON2_PROFILE: str
    AUDIT_MAX_QUEUE: int
    #: concurrent audit flushes; one flush with a short linger batches best under load
    AUDIT_FLUSHERS: int
    #: seconds a flush waits for more events (bench/RESULTS.md: 2 ms ≈ 6 events per commit)
    AUDIT_LINGER_SECONDS: float

    def __init__(self, settings: Settings, database_url: str, **overrides: Any) -> None:
        super().__init__()
        self.SETTINGS = settings
        self.DATABASE_URL = database_url
        self.DB_ROLE = None
        self.DB_POOL_MIN = 2
        self.DB_POOL_MAX = 10
        self.ACCESS_TOKEN_TTL = 15 * 60
        self.LOGIN_WINDOW_SECONDS = 15 * 60
        self.LOGIN_MAX_FAILURES_PER_EMAIL = 5
        self.LOGIN_MAX_FAILURES_PER_IP = 50
        self.GUARDIAN_TOKEN_TTL_DAYS = 7
        self.PASSWORD_HASH_CONCURRENCY = 2
        self.KEYRING_REFRESH_SECONDS = 10.0
        self.ARGON2_PROFILE = "default"
        self.AUDIT_MAX_QUEUE = 10_000
        self.AUDIT_FLUSHERS = 1
        self.AUDIT_LINGER_SECONDS = 0.002
        self.REQUEST_MAX_SIZE = 64 * 1024
        self.TOUCHUP = False
        self.OAS_URL_PREFIX = "/docs"
        self.OAS_UI_DEFAULT = "redoc"
        # no Swagger UI: its /docs/oauth2-redirect.html fetches a page from a CDN with a
        # blocking urlopen (no timeout) inside the event loop; ReDoc at /docs suffices
        self.OAS_UI_SWAGGER = False
        self.update(overrides)
