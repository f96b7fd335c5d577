"""Routes of /api/jobs: start, list, follow and cancel training jobs.

The router's lifespan owns the `JobManager`: it starts the dispatcher with the app and stops
every worker when the app shuts down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import SettingsDep, TokenDep
from app.schemas import JobCreate, JobPublic, error_responses
from app.services.errors import ConflictError, NotFoundError
from app.services.job_params import resolve_job_params
from app.services.jobs import TERMINAL_STATUSES, JobManager

logger = logging.getLogger(__name__)

# Job ids are uuid4().hex, so anything else is not found without a database query.
_JOB_ID_RE = re.compile(r"^[0-9a-f]{32}$")

# Seconds between two looks at a job's state while an event stream is open.
EVENTS_POLL_S = 0.25
# Seconds of silence after which an event stream sends a comment, so proxies keep it open.
EVENTS_KEEPALIVE_S = 15.0
# Maximum seconds DELETE waits for a running job's worker to stop before it returns 202.
CANCEL_WAIT_S = 10.0


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    manager = JobManager(app.state.settings)
    await run_in_threadpool(manager.start)
    app.state.jobs = manager
    try:
        yield
    finally:
        await run_in_threadpool(manager.stop)


router = APIRouter(prefix="/api/jobs", tags=["jobs"], lifespan=_lifespan)


def get_job_manager(request: Request) -> JobManager:
    """Return the job manager of the running app."""
    return request.app.state.jobs


ManagerDep = Annotated[JobManager, Depends(get_job_manager)]


def _find_job(manager: JobManager, job_id: str) -> dict[str, Any]:
    record = manager.get(job_id) if _JOB_ID_RE.fullmatch(job_id) else None
    if record is None:
        raise NotFoundError(f"Job {job_id!r} not found.")
    return record


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobPublic,
    dependencies=[TokenDep],
    responses=error_responses(401, 422),
    summary="Start a training job",
)
def create_job(body: JobCreate, settings: SettingsDep, manager: ManagerDep) -> dict[str, Any]:
    """Validate the parameters, queue the job and return it with status `queued`.

    Missing hyperparameters take the preset's recommended values. The layer spec is checked
    against the dataset's input shape before the job is queued, so a spec that does not fit
    gets 422 naming the layer. Needs the API token when one is configured.
    """
    name, params = resolve_job_params(settings, body)
    return manager.submit(name, params)


@router.get("", response_model=list[JobPublic], summary="List training jobs")
def list_jobs(manager: ManagerDep) -> list[dict[str, Any]]:
    """Return every job, newest first."""
    return manager.list()


@router.get(
    "/{job_id}",
    response_model=JobPublic,
    responses=error_responses(404),
    summary="Get one training job",
)
def read_job(job_id: str, manager: ManagerDep) -> dict[str, Any]:
    """Return the job's status, progress, per-epoch history and, once it succeeded, its model."""
    return _find_job(manager, job_id)


@router.delete(
    "/{job_id}",
    response_model=JobPublic,
    dependencies=[TokenDep],
    responses={
        202: {"model": JobPublic, "description": "The worker has not stopped yet; still running."},
        **error_responses(401, 404, 409),
    },
    summary="Cancel a training job",
)
async def cancel_job(job_id: str, manager: ManagerDep, response: Response) -> dict[str, Any]:
    """Cancel a queued or running job and return it with status `cancelled`.

    A queued job is cancelled at once. For a running job the call waits until its worker has
    stopped, which usually takes one training batch. It returns 202 with the job still
    `running` if that takes longer than 10 seconds. Cancelling a cancelled job again returns
    200 with the same record. A job that already succeeded, failed or diverged cannot be
    cancelled and gets 409. Needs the API token when one is configured.
    """
    record = await run_in_threadpool(_find_job, manager, job_id)
    if record["status"] not in TERMINAL_STATUSES:
        record = await run_in_threadpool(manager.cancel, job_id)

    deadline = time.monotonic() + CANCEL_WAIT_S
    while record["status"] not in TERMINAL_STATUSES and time.monotonic() < deadline:
        await asyncio.sleep(EVENTS_POLL_S / 2)
        record = await run_in_threadpool(_find_job, manager, job_id)

    if record["status"] == "cancelled":
        return record
    if record["status"] in TERMINAL_STATUSES:
        raise ConflictError(
            f"Job {job_id!r} already finished with status {record['status']!r}, "
            "so there is nothing to cancel."
        )
    response.status_code = status.HTTP_202_ACCEPTED
    return record


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: `status` (the whole job, sent first and on every "
            "status change), `epoch` (one history entry) and `progress` (`progress`, `epoch`, "
            "`eta_seconds`). The stream ends after a final status.",
        },
        **error_responses(404),
    },
    summary="Follow a training job as Server-Sent Events",
)
async def stream_job_events(
    job_id: str, request: Request, manager: ManagerDep
) -> StreamingResponse:
    """Stream the job's progress until it succeeds, fails, diverges or is cancelled.

    The first event is a `status` event with the whole job, history included, so a client that
    connects late starts from the current state.
    """
    record = await run_in_threadpool(_find_job, manager, job_id)
    return StreamingResponse(
        _job_events(request, manager, record),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _job_events(
    request: Request, manager: JobManager, record: dict[str, Any]
) -> AsyncIterator[str]:
    job_id = record["id"]
    yield _event("status", JobPublic.model_validate(record).model_dump())
    sent_epochs = len(record["history"])
    sent_progress = (record["progress"], record["epoch"])
    sent_status = record["status"]
    last_sent = time.monotonic()

    while sent_status not in TERMINAL_STATUSES:
        await asyncio.sleep(EVENTS_POLL_S)
        if await request.is_disconnected():
            return
        record = await run_in_threadpool(manager.get, job_id)
        if record is None:
            return

        events = []
        for entry in record["history"][sent_epochs:]:
            events.append(_event("epoch", {"id": job_id, **entry}))
        sent_epochs = len(record["history"])

        if (record["progress"], record["epoch"]) != sent_progress:
            sent_progress = (record["progress"], record["epoch"])
            events.append(
                _event(
                    "progress",
                    {
                        "id": job_id,
                        "progress": record["progress"],
                        "epoch": record["epoch"],
                        "epochs": record["epochs"],
                        "eta_seconds": record["eta_seconds"],
                    },
                )
            )

        if record["status"] != sent_status:
            sent_status = record["status"]
            events.append(_event("status", JobPublic.model_validate(record).model_dump()))

        if events:
            last_sent = time.monotonic()
            for text in events:
                yield text
        elif time.monotonic() - last_sent > EVENTS_KEEPALIVE_S:
            last_sent = time.monotonic()
            yield ": keep-alive\n\n"


def _event(name: str, data: dict[str, Any]) -> str:
    # allow_nan=False turns a NaN that slipped through into an error instead of invalid JSON.
    return f"event: {name}\ndata: {json.dumps(data, allow_nan=False)}\n\n"
