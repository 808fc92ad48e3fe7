"""``erasure_job`` (one data subject) and ``erasure_request_sensor`` (a run per request
and state: new, interrupted, or released from its holds)."""

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
from examstutor_platform.erasure import erase_subject, pending_erasure_work

__all__ = ["ErasureConfig", "erase_student", "erasure_job", "erasure_request_sensor"]

REQUEST_TAG = "examstutor/dsr_request"
#: runs the sensor starts for one interrupted request before it leaves it to a steward
MAX_RESUMES = 3
_ACTIVE = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


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
    description="A run per erasure request with work to do: a new one (run key = request "
    "id), one released from its legal holds (once per release), one whose run stopped "
    f"part-way (up to {MAX_RESUMES} times); never while a run for it is in flight.",
)
def erasure_request_sensor(
    context: dg.SensorEvaluationContext, postgres: PostgresResource
) -> Iterator[dg.RunRequest | dg.SkipReason]:
    """Request a run for each erasure request with work to do."""
    pending = asyncio.run(pending_erasure_work(postgres.database_url))
    requested = 0
    for item in pending:
        request_id = str(item.id)
        in_flight = dg.RunsFilter(tags={REQUEST_TAG: request_id}, statuses=_ACTIVE)
        if context.instance.get_runs_count(filters=in_flight):
            continue  # its run is on the way; an in_progress status is that run's
        runs = 0
        if item.status == "in_progress":  # every earlier run ended, the request did not
            tagged = dg.RunsFilter(tags={REQUEST_TAG: request_id})
            runs = context.instance.get_runs_count(filters=tagged)
            if runs > MAX_RESUMES:
                context.log.warning(
                    f"erasure request {request_id} stopped part-way in {runs} runs; "
                    "not starting another (see the runs tagged "
                    f"{REQUEST_TAG}={request_id})"
                )
                continue
        requested += 1
        yield dg.RunRequest(
            run_key=item.run_key(runs),
            run_config=dg.RunConfig(ops={"erase_student": ErasureConfig(request_id=request_id)}),
            tags={REQUEST_TAG: request_id},
        )
    if not requested:
        yield dg.SkipReason(
            f"{len(pending)} erasure requests with work to do, each with a run in flight"
            if pending
            else "no pending erasure requests"
        )
