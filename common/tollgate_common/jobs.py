"""RQ on Redis: a queue per consuming service, JSON payloads, dotted-path jobs with business-key ids."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from rq import Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer

from .errors import NotFound
from .logs import current_request_id

QUEUES = ("cdr", "rating", "balance", "notify")
"""One queue per consuming service, named after it."""

RESULT_TTL_SECONDS = 7 * 24 * 3600
"""How long a finished job (and so its business key) is kept: a re-trigger within it finds the same job."""

FAILURE_TTL_SECONDS = 30 * 24 * 3600
"""How long a failed job stays visible for admins."""

DEFAULT_JOB_TIMEOUT_SECONDS = 3600
DEFAULT_RETRY = Retry(max=3, interval=[10, 60, 300])
"""Retry transient failures after 10 s, 1 min and 5 min; jobs are idempotent, so a retry is safe."""


def job_id_for(business_key: str) -> str:
    """Turn a business key (`autobill:daily:2026-11-25`) into an RQ job id (letters, digits, `_`, `-`)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", business_key)


def redis_connection(url: str) -> Redis:
    """Return a pooled Redis client; one per process, made in the app factory or worker."""
    return Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30, health_check_interval=30)


def get_queue(name: str, connection: Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)


def enqueue(
    connection: Redis,
    queue_name: str,
    func_path: str,
    *args: Any,
    job_id: str | None = None,
    retry: Retry | None = DEFAULT_RETRY,
    timeout: int = DEFAULT_JOB_TIMEOUT_SECONDS,
    description: str | None = None,
    **kwargs: Any,
) -> tuple[Job, bool]:
    """Enqueue `func_path` (a dotted path, so the producer never imports the consumer).

    With a `job_id` (a business key, see `job_id_for`) the call is idempotent: when that job exists
    the existing one is returned and nothing new is queued, except that a job which failed is put
    back on its queue (jobs are idempotent, so a rerun after a crash finishes the same work once).
    Returns (job, queued): whether this call queued work.
    """
    queue = get_queue(queue_name, connection)
    if job_id is not None:
        job_id = job_id_for(job_id)
    meta = {"request_id": current_request_id()}
    options = dict(
        job_id=job_id,
        retry=retry,
        job_timeout=timeout,
        result_ttl=RESULT_TTL_SECONDS,
        failure_ttl=FAILURE_TTL_SECONDS,
        description=description or func_path,
        meta=meta,
        args=args,
        kwargs=kwargs,
    )
    if job_id is None:
        return queue.enqueue(func_path, **options), True
    try:
        return queue.enqueue(func_path, unique=True, **options), True
    except DuplicateJobError:
        job = fetch_job(connection, job_id)
        if job.get_status() != JobStatus.FAILED:
            return job, False
        try:
            return job.requeue(), True
        except InvalidJobOperation:  # a concurrent trigger requeued it first
            return fetch_job(connection, job_id), False


def fetch_job(connection: Redis, job_id: str) -> Job:
    try:
        return Job.fetch(job_id_for(job_id), connection=connection, serializer=JSONSerializer)
    except NoSuchJobError:
        raise NotFound(f"job {job_id!r} not found") from None


def job_report(job: Job) -> dict[str, Any]:
    """Describe a job for `/v1/jobs/{id}`: status, progress, result or error."""
    job.refresh()
    status = job.get_status()
    status_text = status.value if isinstance(status, JobStatus) else str(status)
    error = None
    if status != JobStatus.FINISHED:
        # Recorded by the worker on every failure, so a job waiting to retry also says why.
        error = job.meta.get("last_error")
    return {
        "id": job.id,
        "status": status_text,
        "description": job.description,
        "queue": job.origin,
        "enqueued_at": utc_iso(job.enqueued_at),
        "started_at": utc_iso(job.started_at),
        "ended_at": utc_iso(job.ended_at),
        "progress": job.meta.get("progress"),
        "result": job.return_value() if status == JobStatus.FINISHED else None,
        "error": error,
    }


def utc_iso(moment: datetime | None) -> str | None:
    """ISO-8601 in UTC; RQ hands back naive UTC datetimes in some versions and aware ones in others."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat()


def report_progress(done: int, total: int | None = None, message: str | None = None) -> None:
    """Record progress of the running job in `job.meta` (no-op outside a worker)."""
    job = get_current_job()
    if job is None:
        return
    job.meta["progress"] = {"done": done, "total": total, "message": message}
    job.save_meta()


def current_job_request_id() -> str | None:
    job = get_current_job()
    return job.meta.get("request_id") if job is not None else None


def queue_names(names: Sequence[str]) -> list[str]:
    unknown = [name for name in names if name not in QUEUES]
    if unknown:
        raise ValueError(f"unknown queue(s) {unknown}; known: {QUEUES}")
    return list(names)
