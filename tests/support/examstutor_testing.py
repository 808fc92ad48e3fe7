"""Helpers shared by the API tests (importable: ``tests/support`` is on pytest's path)."""

from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sanic import Sanic

from examstutor_api.app import ExamsTutorApi, create_app
from examstutor_platform.crypto import DataKeyStore
from examstutor_platform.db import connect
from examstutor_platform.settings import Settings, b64url_encode

__all__ = ["LiveApi", "free_port", "start_api", "stop_api", "test_settings"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_settings(home: Path) -> Settings:
    """Deterministic secrets for tests (never the dev ones)."""
    key = b64url_encode(bytes(range(32)))
    return Settings.from_env(
        {
            "EXAMSTUTOR_HOME": str(home),
            "EXAMSTUTOR_KEKS": f"test-kek:{key}",
            "EXAMSTUTOR_INDEX_KEY": b64url_encode(bytes(range(1, 33))),
            "EXAMSTUTOR_PSEUDONYM_KEY": b64url_encode(bytes(range(2, 34))),
            "EXAMSTUTOR_SIGNING_KEY": b64url_encode(bytes(range(3, 35))),
            "EXAMSTUTOR_JWT_SECRET": "test-jwt-secret-" + "x" * 32,
        }
    )


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@dataclass
class LiveApi:
    """A running API server and an HTTP client bound to it."""

    app: ExamsTutorApi
    url: str
    database_url: str
    client: httpx.AsyncClient
    tokens: dict[str, str] = field(default_factory=dict)

    async def register(self, email: str, **overrides: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "email": email,
            "password": "correct horse battery",
            "full_name": "Test Student",
            "date_of_birth": "2005-05-05",
            "consents": {"terms": True},
        }
        body.update(overrides)
        return await self.client.post("/v1/auth/register", json=body)

    async def login(self, email: str, password: str = "correct horse battery") -> str:
        response = await self.client.post(
            "/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    @staticmethod
    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


async def start_api(database_url: str, home: Path, **config: Any) -> tuple[ExamsTutorApi, Any, str]:
    settings = test_settings(home)
    conn = await connect(database_url)
    try:
        await DataKeyStore().ensure_primary(conn, settings.keks)
    finally:
        await conn.close()
    options: dict[str, Any] = {
        "SETTINGS": settings,
        "DATABASE_URL": database_url,
        "DB_ROLE": "examstutor_api",
        "DB_POOL_MIN": 1,
        "DB_POOL_MAX": 5,
        "ARGON2_PROFILE": "light",
        "MOTD": False,
    }
    options.update(config)
    app = create_app(options, name=f"api_{uuid.uuid4().hex[:12]}")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    return app, server, f"http://127.0.0.1:{port}"


async def stop_api(app: ExamsTutorApi, server: Any) -> None:
    await server.before_stop()
    await server.close()
    await server.after_stop()
    Sanic.unregister_app(app)
