"""Health probes, metrics, OpenAPI and the error shape."""

from __future__ import annotations

import asyncpg
from examstutor_testing import LiveApi


async def test_live_and_ready(api: LiveApi) -> None:
    live = await api.client.get("/health/live")
    assert live.status_code == 200
    assert live.headers["x-request-id"]
    ready = await api.client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["migrations"] == "current"


async def test_ready_is_503_when_a_migration_is_pending(api: LiveApi) -> None:
    conn = await asyncpg.connect(api.database_url)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE version = 3")
    finally:
        await conn.close()
    ready = await api.client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["pending_migrations"] == ["0003_roles.sql"]


async def test_metrics_are_prometheus_text(api: LiveApi) -> None:
    await api.client.get("/health/live")
    metrics = await api.client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for family in (
        "examstutor_http_requests_total",
        "examstutor_http_request_duration_seconds_bucket",
        "examstutor_audit_queue_depth",
        "examstutor_audit_flush_seconds",
        "examstutor_audit_write_failures_total",
    ):
        assert family in text


async def test_openapi_document_and_docs(api: LiveApi) -> None:
    spec = await api.client.get("/docs/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    docs = await api.client.get("/docs")
    assert docs.status_code == 200


async def test_unknown_route_has_the_json_error_shape(api: LiveApi) -> None:
    response = await api.client.get("/v1/nope", headers={"X-Request-ID": "client-chosen-id-1"})
    assert response.status_code == 404
    body = response.json()
    assert body["error"]["code"] == "not_found"
    assert body["error"]["request_id"] == "client-chosen-id-1"
    assert response.headers["x-request-id"] == "client-chosen-id-1"
