"""A real API server per test: the app from ``create_app`` serving on a free port of
127.0.0.1 in the test's event loop, with its pool under the ``examstutor_api`` role,
against the test's own migrated database. Clients talk HTTP to it with httpx."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from examstutor_testing import LiveApi, start_api, stop_api


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[LiveApi]:
    app, server, url = await start_api(database_url, tmp_path / "home")
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        try:
            yield LiveApi(app, url, database_url, client)
        finally:
            await stop_api(app, server)


@pytest.fixture
def api_factory(database_url: str, tmp_path: Path) -> Callable[..., Any]:
    """Start an API with config overrides: ``async with api_factory(X=1) as live``."""

    @contextlib.asynccontextmanager
    async def factory(**config: Any) -> AsyncIterator[LiveApi]:
        app, server, url = await start_api(
            database_url, tmp_path / f"h{uuid.uuid4().hex[:6]}", **config
        )
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            try:
                yield LiveApi(app, url, database_url, client)
            finally:
                await stop_api(app, server)

    return factory
