"""``erasure_job`` (one data subject) and ``erasure_request_sensor`` (one run per request)."""

import asyncio
import uuid
from collections.abc import Iterator

import dagster as dg

from examstutor_pipelines.resources import (
    ExportStoreResource,
    KeyRingResource,
    PostgresResource,
    SignerResource,
    platform_settings,
)
from examstutor_pipelines.runtime import LIGHT_K8S, as_metadata
from examstutor_platform.erasure import erase_subject, pending_erasure_requests

__all__ = ["ErasureConfig", "erase_student", "erasure_job", "erasure_request_sensor"]


class ErasureConfig(dg.Config):
    """Which request to carry out."""

    request_id: str
    """The ``dsr_requests`` id (type erasure)."""


@dg.op(tags=LIGHT_K8S)
def erase_student(
    context: dg.OpExecutionContext,
    config: ErasureConfig,
    postgres: PostgresResource,
    keyring: KeyRingResource,
    signer: SignerResource,
    export_store: ExportStoreResource,
) -> dg.Output[str]:
    """Erase the request's student (or put the request on hold), certify and complete it."""
    settings = platform_settings(postgres, keyring, signer, export_store)
    result = asyncio.run(
        erase_subject(
            postgres.database_url,
            settings,
            uuid.UUID(config.request_id),
            context.run.run_id,
            progress=lambda stage: context.log.info(f"erasure {config.request_id}: {stage}"),
        )
    )
    return dg.Output(result.status, metadata=as_metadata(result.metadata()))


@dg.job(
    description="Carry out one erasure request: identity, credentials and sessions deleted, "
    "questions and practice anonymised, audit events kept (pseudonyms only), a deletion "
    "certificate written; a request under legal hold ends on_hold with the reason.",
    tags={"dagster/max_retries": 3},
)
def erasure_job() -> None:
    """One erasure request."""
    erase_student()


@dg.sensor(
    job=erasure_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="One erasure_job run per pending erasure request (run key = request id).",
)
def erasure_request_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """Request a run for each erasure request with work to do."""
    pending = asyncio.run(pending_erasure_requests(postgres.database_url))
    if not pending:
        yield dg.SkipReason("no pending erasure requests")
        return
    for request_id in pending:
        yield dg.RunRequest(
            run_key=str(request_id),
            run_config=dg.RunConfig(
                ops={"erase_student": ErasureConfig(request_id=str(request_id))}
            ),
            tags={"examstutor/dsr_request": str(request_id)},
        )
