"""Training job queue: SQLite records, worker processes, progress, cancellation and recovery.

`JobManager` owns one dispatcher thread, and that thread owns every worker process. The thread
starts queued jobs in creation order while fewer than `max_concurrent_jobs` run. It then waits
on the workers' pipes and process sentinels, and stores what they report. Training itself runs in
`app.services.worker.run_job` in a process started with the "spawn" context, so it never shares
the event loop, the server's threads or their locks.

Each worker gets its own one-way pipe rather than a shared `multiprocessing.Queue`, because a
process killed while it writes to a shared queue can corrupt the queue for every other job. A
killed worker only closes its own pipe, and the dispatcher reads that as end of file.

Progress is kept in memory as it arrives and written to SQLite at most once per
`PROGRESS_WRITE_INTERVAL_S` (and at every epoch end and status change), so readers see live
numbers and a server crash loses about that interval of progress.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from app.core import db
from app.core.config import Settings
from app.services.worker import run_job

logger = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled", "diverged"})
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "diverged")

# Seconds between two SQLite writes of one job's batch-level progress.
PROGRESS_WRITE_INTERVAL_S = 1.0
# Seconds a cancelled worker gets to stop by itself before it receives SIGTERM, and then SIGKILL.
CANCEL_GRACE_S = 5.0
TERMINATE_GRACE_S = 2.0
# Maximum seconds the dispatcher waits between two checks when nothing happens.
DISPATCH_POLL_S = 0.5

RESTARTED_ERROR = "The server restarted before the job finished; start the job again."
STOPPED_ERROR = "The server stopped before the job finished; start the job again."


@dataclass
class _RunningJob:
    """Dispatcher-side state of one worker process."""

    job_id: str
    process: multiprocessing.process.BaseProcess
    connection: Connection
    cancel_event: Any  # multiprocessing.synchronize.Event of the spawn context
    progress: float = 0.0
    epoch: int = 0
    # Monotonic time and progress of the first progress report, the origin of the ETA estimate.
    rate_origin: tuple[float, float] | None = None
    last_write: float = 0.0
    dirty: bool = False
    finished: bool = False
    finished_at: float = 0.0
    cancel_requested_at: float | None = None
    terminated_at: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


class JobManager:
    """Queue of training jobs backed by the `jobs` table, with worker processes that train."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db_path = settings.db_path
        self._context = multiprocessing.get_context("spawn")
        self._lock = threading.Lock()
        self._wake_lock = threading.Lock()
        self._running: dict[str, _RunningJob] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_reader, self._wake_writer = self._context.Pipe(duplex=False)
        self._worker_threads = worker_thread_count(settings.max_concurrent_jobs)

    # Lifecycle.

    def start(self) -> None:
        """Mark jobs left over by a previous server as failed, then start the dispatcher."""
        if self._thread is not None:
            raise RuntimeError("JobManager.start() was already called")

        self._recover_interrupted_jobs()
        self._thread = threading.Thread(target=self._dispatch, name="job-dispatcher", daemon=True)
        self._thread.start()
        logger.info(
            "Job manager started with at most %d concurrent jobs", self.settings.max_concurrent_jobs
        )

    def stop(self) -> None:
        """Stop every worker, mark unfinished jobs failed and end the dispatcher thread."""
        if self._thread is None:
            return

        self._stopping.set()
        self._wake()
        self._thread.join()
        self._thread = None
        with self._wake_lock:
            self._wake_reader.close()
            self._wake_writer.close()
        logger.info("Job manager stopped")

    # Requests from the API.

    def submit(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Store a new queued job with validated `params` and return its record."""
        job_id = uuid.uuid4().hex
        db.execute(
            self._db_path,
            "INSERT INTO jobs (id, name, status, params, created_at) VALUES (?, ?, 'queued', ?, ?)",
            (job_id, name, db.to_json(params), db.utc_now()),
        )
        logger.info("Job %s queued: %s on %s", job_id, name, params.get("dataset"))

        self._wake()
        return self.get(job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        """Return the public record of a job, with live progress, or None when unknown."""
        row = db.fetch_one(self._db_path, "SELECT * FROM jobs WHERE id = ?", (job_id,))
        if row is None:
            return None
        return self._to_public(row)

    def list(self) -> list[dict[str, Any]]:
        """Return every job's public record, newest first."""
        rows = db.fetch_all(
            self._db_path, "SELECT * FROM jobs ORDER BY created_at DESC, rowid DESC"
        )
        return [self._to_public(row) for row in rows]

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Cancel a queued job at once, or ask a running worker to stop, and return the job.

        Returns None when the job is unknown.

        A running job becomes `cancelled` when its worker has stopped, which takes up to one
        training batch, or `CANCEL_GRACE_S` plus `TERMINATE_GRACE_S` when it does not react.
        """
        with self._lock:
            running = self._running.get(job_id)
            if running is not None:
                if running.cancel_requested_at is None and not running.finished:
                    running.cancel_requested_at = time.monotonic()
                    running.cancel_event.set()
                    logger.info("Job %s cancel requested", job_id)
            else:
                changed = db.execute(
                    self._db_path,
                    "UPDATE jobs SET status = 'cancelled', finished_at = ? "
                    "WHERE id = ? AND status = 'queued'",
                    (db.utc_now(), job_id),
                )
                if changed:
                    logger.info("Job %s cancelled while queued", job_id)

        self._wake()
        return self.get(job_id)

    def worker_pid(self, job_id: str) -> int | None:
        """Return the process id of the job's worker while it runs, else None."""
        with self._lock:
            running = self._running.get(job_id)
            return running.process.pid if running is not None else None

    # Records.

    def _to_public(self, row: dict[str, Any]) -> dict[str, Any]:
        params = row["params"]
        record = {
            "id": row["id"],
            "name": row["name"],
            "status": row["status"],
            "progress": row["progress"],
            "epoch": row["epoch"],
            "epochs": params.get("epochs"),
            "history": row["history"],
            "model_id": row["model_id"],
            "error": row["error"],
            "params": params,
            "created_at": row["created_at"],
            "started_at": row["started_at"],
            "finished_at": row["finished_at"],
            "eta_seconds": None,
        }

        with self._lock:
            running = self._running.get(row["id"])
            if running is not None and row["status"] == "running":
                record["progress"] = running.progress
                record["epoch"] = running.epoch
                record["eta_seconds"] = _estimate_eta(running)
        return record

    def _recover_interrupted_jobs(self) -> None:
        with db.transaction(self._db_path) as connection:
            rows = connection.execute(
                "SELECT id FROM jobs WHERE status IN ('queued', 'running')"
            ).fetchall()
            connection.execute(
                "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? "
                "WHERE status IN ('queued', 'running')",
                (RESTARTED_ERROR, db.utc_now()),
            )
        for row in rows:
            logger.warning("Job %s failed: the server restarted before it finished", row["id"])

    # Dispatcher thread.

    def _wake(self) -> None:
        # A lock of its own: a full pipe blocks the sender until the dispatcher drains it, and
        # the dispatcher needs `_lock` before it gets there.
        with self._wake_lock:
            if not self._wake_writer.closed:
                self._wake_writer.send_bytes(b"\0")

    def _dispatch(self) -> None:
        try:
            while not self._stopping.is_set():
                self._start_queued_jobs()
                self._wait_for_events(DISPATCH_POLL_S)
                self._poll_workers()
        except Exception:
            logger.exception("Job dispatcher crashed; no further jobs will start")
        finally:
            self._shut_down_workers()

    def _wait_for_events(self, timeout: float) -> None:
        with self._lock:
            jobs = list(self._running.values())
        waitables: list[Any] = [self._wake_reader]
        for job in jobs:
            waitables.append(job.process.sentinel)
            if not job.connection.closed:
                waitables.append(job.connection)

        ready = wait(waitables, timeout)
        if self._wake_reader in ready:
            while self._wake_reader.poll():
                self._wake_reader.recv_bytes()

    def _start_queued_jobs(self) -> None:
        free_slots = self.settings.max_concurrent_jobs - len(self._running)
        if free_slots <= 0:
            return

        queued = db.fetch_all(
            self._db_path,
            "SELECT id, name, params FROM jobs WHERE status = 'queued' "
            "ORDER BY created_at, rowid LIMIT ?",
            (free_slots,),
        )
        for row in queued:
            self._start_job(row["id"], row["name"], row["params"])

    def _start_job(self, job_id: str, name: str, params: dict[str, Any]) -> None:
        # The lock makes "still queued?" and "now running" one step for `cancel`, so a job is
        # either cancelled while queued or has a worker that receives the cancel request.
        with self._lock:
            changed = db.execute(
                self._db_path,
                "UPDATE jobs SET status = 'running', started_at = ? "
                "WHERE id = ? AND status = 'queued'",
                (db.utc_now(), job_id),
            )
            if not changed:
                return

            reader, writer = self._context.Pipe(duplex=False)
            cancel_event = self._context.Event()
            process = self._context.Process(
                target=run_job,
                args=(
                    job_id,
                    name,
                    params,
                    self.settings,
                    writer,
                    cancel_event,
                    self._worker_threads,
                ),
                name=f"job-{job_id}",
                daemon=True,
            )
            try:
                process.start()
            except Exception as exc:
                reader.close()
                writer.close()
                error = " ".join(f"Could not start the worker process: {exc}".split())
                self._write_final(job_id, "failed", error=error)
                logger.exception("Job %s failed: could not start its worker process", job_id)
                return
            finally:
                # The parent must drop its copy of the write end, so the reader sees end of file
                # as soon as the worker exits.
                if not writer.closed:
                    writer.close()

            self._running[job_id] = _RunningJob(job_id, process, reader, cancel_event)
        logger.info("Job %s started in worker process %d", job_id, process.pid)

    def _poll_workers(self) -> None:
        now = time.monotonic()
        with self._lock:
            jobs = list(self._running.values())

        for job in jobs:
            self._read_messages(job)
            if job.dirty and now - job.last_write >= PROGRESS_WRITE_INTERVAL_S:
                self._write_progress(job)
            self._enforce_cancel(job, now)

            if not job.process.is_alive() and job.connection.closed:
                self._reap(job)
            elif job.finished and now - job.finished_at > TERMINATE_GRACE_S:
                # The result is already stored, so a worker that hangs on its way out is killed.
                job.process.kill()

    def _read_messages(self, job: _RunningJob) -> None:
        while not job.connection.closed:
            try:
                if not job.connection.poll():
                    return
                message = job.connection.recv()
            except (EOFError, OSError):
                job.connection.close()
                return
            self._handle_message(job, message)

    def _handle_message(self, job: _RunningJob, message: dict[str, Any]) -> None:
        kind = message.get("event")
        if job.finished:
            logger.warning("Job %s sent %r after its final status; ignored", job.job_id, kind)
        elif kind == "progress":
            with self._lock:
                job.progress = _clamp_progress(message.get("progress"))
                job.epoch = int(message.get("epoch", job.epoch))
                if job.rate_origin is None:
                    job.rate_origin = (time.monotonic(), job.progress)
            job.dirty = True
        elif kind == "epoch":
            with self._lock:
                job.history.append(message["metrics"])
                job.epoch = int(message["epoch"])
                job.progress = _clamp_progress(message.get("progress"))
            self._write_progress(job, history=True)
        elif kind == "finished":
            self._finish(job, message)
        else:
            logger.warning("Job %s sent an unknown message %r; ignored", job.job_id, kind)

    def _finish(self, job: _RunningJob, message: dict[str, Any]) -> None:
        status = message["status"]
        error = message.get("error")
        job.finished = True
        job.finished_at = time.monotonic()

        if status == "succeeded":
            job.progress = 1.0
            self._write_final(
                job.job_id, status, progress=1.0, epoch=job.epoch, model_id=message.get("model_id")
            )
            logger.info(
                "Job %s succeeded: model %s, test accuracy %s",
                job.job_id,
                message.get("model_id"),
                message.get("test_accuracy"),
            )
        elif status == "cancelled":
            self._write_final(job.job_id, status, progress=job.progress, epoch=job.epoch)
            logger.info("Job %s cancelled", job.job_id)
        elif status == "diverged":
            self._write_final(
                job.job_id, status, progress=job.progress, epoch=job.epoch, error=error
            )
            logger.warning("Job %s diverged: %s", job.job_id, error)
        elif status == "failed":
            self._write_final(
                job.job_id, status, progress=job.progress, epoch=job.epoch, error=error
            )
            logger.error(
                "Job %s failed: %s\n%s", job.job_id, error, message.get("traceback", "").rstrip()
            )
        else:
            raise ValueError(f"worker of job {job.job_id} sent an unknown status {status!r}")

    def _enforce_cancel(self, job: _RunningJob, now: float) -> None:
        if job.finished or job.cancel_requested_at is None:
            return
        if job.terminated_at is None and now - job.cancel_requested_at > CANCEL_GRACE_S:
            logger.warning("Job %s ignored its cancel request; sending SIGTERM", job.job_id)
            job.process.terminate()
            job.terminated_at = now
        elif job.terminated_at is not None and now - job.terminated_at > TERMINATE_GRACE_S:
            logger.warning("Job %s survived SIGTERM; sending SIGKILL", job.job_id)
            job.process.kill()

    def _reap(self, job: _RunningJob) -> None:
        job.process.join()
        if not job.finished:
            # The worker died without reporting: it was killed, crashed in C code, or ran out
            # of memory. A cancel request explains a kill that the dispatcher sent itself.
            if job.cancel_requested_at is not None:
                self._write_final(job.job_id, "cancelled", progress=job.progress, epoch=job.epoch)
                logger.info(
                    "Job %s cancelled (worker stopped with exit code %s)",
                    job.job_id,
                    job.process.exitcode,
                )
            else:
                error = (
                    f"The worker process stopped unexpectedly with exit code "
                    f"{job.process.exitcode}."
                )
                self._write_final(
                    job.job_id, "failed", progress=job.progress, epoch=job.epoch, error=error
                )
                logger.error("Job %s failed: %s", job.job_id, error)

        job.process.close()
        with self._lock:
            del self._running[job.job_id]

    def _shut_down_workers(self) -> None:
        with self._lock:
            jobs = list(self._running.values())
        for job in jobs:
            job.cancel_event.set()
        deadline = time.monotonic() + TERMINATE_GRACE_S
        for job in jobs:
            job.process.join(max(0.0, deadline - time.monotonic()))
            self._read_messages(job)
            if job.process.is_alive():
                job.process.kill()
                job.process.join()
            if not job.finished:
                self._write_final(
                    job.job_id,
                    "failed",
                    progress=job.progress,
                    epoch=job.epoch,
                    error=STOPPED_ERROR,
                )
                logger.warning("Job %s failed: the server stopped before it finished", job.job_id)
            job.connection.close()
            job.process.close()
        with self._lock:
            self._running.clear()

        changed = db.execute(
            self._db_path,
            "UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE status = 'queued'",
            (STOPPED_ERROR, db.utc_now()),
        )
        if changed:
            logger.warning("%d queued jobs failed: the server stopped before they started", changed)

    # SQLite writes.

    def _write_progress(self, job: _RunningJob, *, history: bool = False) -> None:
        with self._lock:
            progress, epoch = job.progress, job.epoch
            history_json = db.to_json(job.history) if history else None

        if history_json is None:
            db.execute(
                self._db_path,
                "UPDATE jobs SET progress = ?, epoch = ? WHERE id = ? AND status = 'running'",
                (progress, epoch, job.job_id),
            )
        else:
            db.execute(
                self._db_path,
                "UPDATE jobs SET progress = ?, epoch = ?, history = ? "
                "WHERE id = ? AND status = 'running'",
                (progress, epoch, history_json, job.job_id),
            )
        job.last_write = time.monotonic()
        job.dirty = False

    def _write_final(
        self,
        job_id: str,
        status: str,
        *,
        progress: float | None = None,
        epoch: int | None = None,
        model_id: str | None = None,
        error: str | None = None,
    ) -> None:
        assert status in TERMINAL_STATUSES, status
        db.execute(
            self._db_path,
            "UPDATE jobs SET status = ?, progress = COALESCE(?, progress), "
            "epoch = COALESCE(?, epoch), model_id = ?, error = ?, finished_at = ? "
            "WHERE id = ? AND status IN ('queued', 'running')",
            (status, progress, epoch, model_id, error, db.utc_now(), job_id),
        )


def worker_thread_count(max_concurrent_jobs: int) -> int:
    """Return the BLAS threads each worker gets: the usable cores but one, shared by the jobs.

    The core left over keeps the server responsive while jobs train. Each worker gets at least
    one thread.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # platforms without CPU affinity, such as macOS
        cores = os.cpu_count() or 1
    return max(1, (cores - 1) // max_concurrent_jobs)


def _clamp_progress(value: Any) -> float:
    """Return `value` as a finite fraction in [0, 1]; anything else becomes 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    if not math.isfinite(number):
        return 0.0
    return min(max(number, 0.0), 1.0)


def _estimate_eta(job: _RunningJob) -> float | None:
    """Estimate the seconds left from the progress rate since the first report, or None."""
    if job.rate_origin is None:
        return None

    origin_time, origin_progress = job.rate_origin
    done = job.progress - origin_progress
    if done <= 0:
        return None
    elapsed = time.monotonic() - origin_time
    return round(elapsed * (1.0 - job.progress) / done, 1)
