"""Cron routes and job status: enqueue the work under a business key and report on it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from rq.job import JobStatus

from tollgate_common.errors import BadRequest
from tollgate_common.jobs import enqueue, fetch_job, job_report
from tollgate_common.service import get_redis, settings

bp = Blueprint("cron", __name__, description="Cron triggers and job status")

SLOT_MINUTES = 5
"""Frequent work (CDR sync, autosuspend, realtime autobill) runs at most once per 5-minute slot."""

DONE_STATUSES = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}


def current_slot(now: datetime | None = None) -> str:
    """Name the 5-minute slot `now` falls in, e.g. `2026-11-25T17:50`."""
    now = now or datetime.now(UTC)
    return now.replace(minute=now.minute - now.minute % SLOT_MINUTES, second=0, microsecond=0).strftime(
        "%Y-%m-%dT%H:%M"
    )


def run_key_for(kind: str, mode: str | None = None, now: datetime | None = None) -> str:
    """Business key of a cron run: `cdr-sync:<slot>`, `autosuspend:<slot>`, `autobill:daily:<date>`..."""
    explicit = request.values.get("run_key")
    if explicit:
        return explicit if explicit.startswith(kind + ":") else f"{kind}:{explicit}"
    now = now or datetime.now(UTC)
    if kind == "autobill":
        if mode == "daily":
            return f"autobill:daily:{now.date().isoformat()}"
        return f"autobill:frequent:{current_slot(now)}"
    return f"{kind}:{current_slot(now)}"


def wait_seconds() -> int:
    raw = request.values.get("wait", "0")
    try:
        seconds = int(raw)
    except ValueError:
        raise BadRequest(f"wait: {raw!r} is not a whole number of seconds", {"field": "wait"}) from None
    return max(0, min(seconds, settings().cron_wait_max_seconds))


def trigger(queue: str, func_path: str, run_key: str, *args: object) -> Response:
    """Enqueue `func_path` once per `run_key`; answer 202, or the outcome when `?wait=` lets it finish."""
    redis = get_redis()
    job, created = enqueue(redis, queue, func_path, *args, job_id=run_key)
    deadline = time.monotonic() + wait_seconds()
    while time.monotonic() < deadline and job.get_status(refresh=True) not in DONE_STATUSES:
        time.sleep(0.2)
    report = job_report(job)
    body = {"job_id": job.id, "run_key": run_key, "created": created, **report}
    status = 200 if job.get_status() in DONE_STATUSES else 202
    return jsonify(body), status


@bp.route("/cron/cdr-sync", methods=["GET", "POST"])
def cron_cdr_sync() -> Response:
    """Sync CDRs from every server (and rate them) once per slot."""
    run_key = run_key_for("cdr-sync")
    return trigger("cdr", "cdr_service.jobs.sync_all", run_key, run_key)


@bp.route("/cron/autobill", methods=["GET", "POST"])
def cron_autobill() -> Response:
    """Charge usage: `mode=daily` (default) once a day, `mode=frequent` once per slot for realtime packages."""
    mode = request.values.get("mode", "daily")
    if mode not in {"daily", "frequent"}:
        raise BadRequest(f"mode: {mode!r} is not daily or frequent", {"field": "mode"})
    run_key = run_key_for("autobill", mode)
    return trigger("balance", "balance_service.jobs.autobill", run_key, run_key, mode)


@bp.route("/cron/autosuspend", methods=["GET", "POST"])
def cron_autosuspend() -> Response:
    """Evaluate every VoIP client's balance and suspend or restore, once per slot."""
    run_key = run_key_for("autosuspend")
    return trigger("balance", "balance_service.jobs.autosuspend", run_key, run_key)


@bp.route("/v1/jobs/<job_id>", methods=["GET"])
def job_status(job_id: str) -> Response:
    """Report a job's status, progress, result or error."""
    return jsonify(job_report(fetch_job(get_redis(), job_id)))
