"""Cron routes and job status: enqueue the work under a business key and report on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask_smorest import Blueprint
from marshmallow import EXCLUDE, Schema, fields, validate
from rq.job import JobStatus

from tollgate_common.jobs import enqueue, fetch_job, job_report
from tollgate_common.service import get_redis, settings

bp = Blueprint("cron", __name__, description="Cron triggers and job status")

SLOT_MINUTES = 5
"""Frequent work (CDR sync, autosuspend, realtime autobill) runs at most once per 5-minute slot."""

DONE_STATUSES = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


class CronQuerySchema(Schema):
    """Query of every cron route; unknown parameters are ignored, as crontab lines carry extras."""

    class Meta:
        unknown = EXCLUDE

    run_key = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Name the run explicitly; by default the 5-minute slot (or the UTC date)."},
    )
    wait = fields.Integer(
        load_default=0,
        metadata={"description": "Seconds to wait for the outcome (200 with the report when it finished)."},
    )
    runfrom = fields.String(metadata={"description": "Accepted and ignored (`runfrom=cron` in crontab lines)."})


class AutobillQuerySchema(CronQuerySchema):
    """`/cron/autobill` also takes the billing mode."""

    mode = fields.String(load_default="daily", validate=validate.OneOf(["daily", "frequent"]))


class ProgressSchema(Schema):
    """What a long job last reported of its progress."""

    done = fields.Integer(allow_none=True)
    total = fields.Integer(allow_none=True)
    message = fields.String(allow_none=True)


class JobReportSchema(Schema):
    """A job's status, progress, result or error (`tollgate_common.jobs.job_report`)."""

    id = fields.String(required=True)
    status = fields.String(
        required=True,
        validate=validate.OneOf([status.value for status in JobStatus]),
        metadata={"description": "RQ's job status."},
    )
    description = fields.String(allow_none=True)
    queue = fields.String(allow_none=True)
    enqueued_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    started_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    ended_at = fields.String(allow_none=True, metadata={"format": "date-time"})
    progress = fields.Nested(ProgressSchema, allow_none=True)
    result = fields.Raw(allow_none=True, metadata={"description": "What the job returned, once finished."})
    error = fields.String(allow_none=True, metadata={"description": "Last line of the failure, once failed."})


class CronRunSchema(JobReportSchema):
    """A cron trigger's answer: the job report plus the run key and whether this call queued it."""

    job_id = fields.String(required=True)
    run_key = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={"description": "Whether this call queued the work."})


def current_slot(now: datetime | None = None) -> str:
    """Name the 5-minute slot `now` falls in, e.g. `2026-11-25T17:50`."""
    now = now or datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % SLOT_MINUTES, second=0, microsecond=0).strftime(
        "%Y-%m-%dT%H:%M"
    )


def run_key_for(kind: str, explicit: str | None, mode: str | None = None, now: datetime | None = None) -> str:
    """Business key of a cron run: `cdr-sync:<slot>`, `autosuspend:<slot>`, `autobill:daily:<date>`..."""
    if explicit:
        return explicit if explicit.startswith(kind + ":") else f"{kind}:{explicit}"
    now = now or datetime.now(UTC)
    if kind == "autobill":
        if mode == "daily":
            return f"autobill:daily:{now.date().isoformat()}"
        return f"autobill:frequent:{current_slot(now)}"
    return f"{kind}:{current_slot(now)}"


def trigger(queue: str, func_path: str, wait: int, run_key: str, *args: object) -> tuple[dict[str, Any], int]:
    """Enqueue `func_path` once per `run_key`; answer 202, or the outcome when `?wait=` lets it finish."""
    redis = get_redis()
    job, created = enqueue(redis, queue, func_path, *args, job_id=run_key)
    deadline = time.monotonic() + max(0, min(wait, settings().cron_wait_max_seconds))
    while time.monotonic() < deadline and job.get_status(refresh=True) not in DONE_STATUSES:
        time.sleep(0.2)
    report = job_report(job)
    body = {"job_id": job.id, "run_key": run_key, "created": created, **report}
    status = 200 if job.get_status() in DONE_STATUSES else 202
    return body, status


@bp.route("/cron/cdr-sync", methods=["GET", "POST"])
@bp.arguments(CronQuerySchema, location="query")
@bp.response(202, CronRunSchema, description="Queued (or already queued under this run key).")
@bp.alt_response(200, schema=CronRunSchema, description="Finished within `wait` seconds.")
def cron_cdr_sync(query: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Sync CDRs from every server (and rate them) once per slot."""
    run_key = run_key_for("cdr-sync", query.get("run_key"))
    return trigger("cdr", "cdr_service.jobs.sync_all", query["wait"], run_key, run_key)


@bp.route("/cron/autobill", methods=["GET", "POST"])
@bp.arguments(AutobillQuerySchema, location="query")
@bp.response(202, CronRunSchema, description="Queued (or already queued under this run key).")
@bp.alt_response(200, schema=CronRunSchema, description="Finished within `wait` seconds.")
def cron_autobill(query: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Charge usage: `mode=daily` (default) once a day, `mode=frequent` once per slot for realtime packages."""
    mode = query["mode"]
    run_key = run_key_for("autobill", query.get("run_key"), mode)
    return trigger("balance", "balance_service.jobs.autobill", query["wait"], run_key, run_key, mode)


@bp.route("/cron/autosuspend", methods=["GET", "POST"])
@bp.arguments(CronQuerySchema, location="query")
@bp.response(202, CronRunSchema, description="Queued (or already queued under this run key).")
@bp.alt_response(200, schema=CronRunSchema, description="Finished within `wait` seconds.")
def cron_autosuspend(query: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Evaluate every VoIP client's balance and suspend or restore, once per slot."""
    run_key = run_key_for("autosuspend", query.get("run_key"))
    return trigger("balance", "balance_service.jobs.autosuspend", query["wait"], run_key, run_key)


@bp.route("/v1/jobs/<job_id>", methods=["GET"])
@bp.response(200, JobReportSchema)
def job_status(job_id: str) -> dict[str, Any]:
    """Report a job's status, progress, result or error."""
    return job_report(fetch_job(get_redis(), job_id))
