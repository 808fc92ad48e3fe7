"""The API as ``bench/bench_api.py`` serves it: the real app plus ONE baseline route.

Started by the benchmark as its own multi-worker server::

    sanic bench.bench_api_server:create_bench_app --factory --workers 2 ...

:func:`create_bench_app` builds the application with
:func:`examstutor_api.app.create_app` (settings from the ``EXAMSTUTOR_*``
environment, ApiConfig overrides as JSON in ``EXAMSTUTOR_BENCH_CONFIG``) and
adds ``GET /bench/me-unaudited``: the same authentication, query and
decryption as ``GET /v1/me``, without ``@audited`` — so without the audit
write. The route exists only in this module: a normal start
(``examstutor_api.app:create_app``) never has it. For diagnosis only,
``EXAMSTUTOR_BENCH_WRITER`` (JSON) replaces each worker's audit writer with one
built with other settings (``bench_api.py --writer``).
"""

from __future__ import annotations

import json
import os
from typing import Any

from sanic import HTTPResponse, Request
from sanic.response import JSONResponse
from sanic_ext import openapi

from examstutor_api.app import ExamsTutorApi, create_app
from examstutor_api.auth import require
from examstutor_api.errors import NotFound
from examstutor_api.students import load_profile
from examstutor_platform.audit.writer import AuditWriter

__all__ = ["BASELINE_PATH", "create_bench_app"]

BASELINE_PATH = "/bench/me-unaudited"


@openapi.exclude()
async def me_unaudited(request: Request) -> HTTPResponse:
    """``GET /v1/me`` minus ``@audited``: what the audit write costs is the difference."""
    principal = await require(request, "student", allow_pending=True)
    ctx = request.app.ctx
    async with ctx.pool.acquire() as conn:
        profile = await load_profile(conn, ctx.cipher, principal.subject_id)
    if profile is None:
        raise NotFound("no such profile")
    return JSONResponse(profile.as_json())


async def _retune_writer(app: ExamsTutorApi) -> None:
    """Diagnosis only (``bench_api.py --writer``): replace the worker's audit writer with
    one built with other settings (``flushers``, ``linger``, ``max_batch``)."""
    options: dict[str, Any] = json.loads(os.environ["EXAMSTUTOR_BENCH_WRITER"])
    ctx = app.ctx
    assert ctx.writer_pool is not None
    await ctx.writer.close()
    ctx._writer = AuditWriter(
        ctx.writer_pool,
        max_queue=app.config.AUDIT_MAX_QUEUE,
        on_flush=ctx.metrics.observe_flush,
        **options,
    )
    await ctx._writer.start()


def create_bench_app() -> ExamsTutorApi:
    """The API with the baseline route (a factory for ``sanic --factory``)."""
    overrides: dict[str, Any] = json.loads(os.environ.get("EXAMSTUTOR_BENCH_CONFIG", "{}"))
    app = create_app(overrides, name="examstutor_api_bench")
    app.add_route(me_unaudited, BASELINE_PATH, methods=["GET"], name="bench_me_unaudited")
    if os.environ.get("EXAMSTUTOR_BENCH_WRITER"):
        app.register_listener(_retune_writer, "after_server_start")
    return app
