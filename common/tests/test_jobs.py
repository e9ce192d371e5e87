"""RQ helpers against real Redis: business-key idempotency, request ids into jobs, progress, reports."""

import pytest
import structlog
from flask import Flask

from tollgate_common.db import Database
from tollgate_common.errors import NotFound
from tollgate_common.jobs import enqueue, fetch_job, job_id_for, job_report
from tollgate_common.logs import bind_request_id
from tollgate_common.testing import run_jobs


@pytest.fixture
def worker_app(redis_conn, tmp_path):
    """A minimal app carrying what the worker needs: settings, a database and Redis."""
    app = Flask(__name__)

    class Settings:
        service_name = "test"

    app.config["SETTINGS"] = Settings()
    app.extensions["db"] = Database(f"sqlite:///{tmp_path / 'jobs.db'}")
    app.extensions["redis"] = redis_conn
    return app


def test_job_id_for_business_keys():
    """Business keys map to RQ-legal ids, and the mapping is stable."""
    assert job_id_for("autobill:daily:2026-11-25") == "autobill_daily_2026-11-25"
    assert job_id_for("a b/c") == "a_b_c"


@pytest.mark.smoke
def test_same_business_key_returns_existing_job(redis_conn):
    """Enqueuing twice with one key makes one job; without a key, two."""
    first, created = enqueue(redis_conn, "cdr", "jobs_fixtures.echo", 1, job_id="k:1")
    second, created_again = enqueue(redis_conn, "cdr", "jobs_fixtures.echo", 2, job_id="k:1")
    assert (created, created_again) == (True, False)
    assert second.id == first.id and second.args == [1]
    assert len(redis_conn.lrange("rq:queue:cdr", 0, -1)) == 1
    enqueue(redis_conn, "cdr", "jobs_fixtures.echo", 3)
    enqueue(redis_conn, "cdr", "jobs_fixtures.echo", 3)
    assert len(redis_conn.lrange("rq:queue:cdr", 0, -1)) == 3


def test_request_id_travels_into_the_job(worker_app, redis_conn):
    """The request id bound when enqueuing is the one the job sees in its log context."""
    bind_request_id("req-abc-123")
    job, _ = enqueue(redis_conn, "cdr", "jobs_fixtures.context_request_id", job_id="ctx")
    structlog.contextvars.clear_contextvars()
    run_jobs(worker_app, "cdr")
    assert fetch_job(redis_conn, "ctx").return_value() == "req-abc-123"
    assert job.meta["request_id"] == "req-abc-123"


def test_progress_and_report(worker_app, redis_conn):
    """A job's progress lands in meta and the report shows result and times."""
    enqueue(redis_conn, "cdr", "jobs_fixtures.count_to", 3, job_id="progress")
    run_jobs(worker_app, "cdr")
    report = job_report(fetch_job(redis_conn, "progress"))
    assert report["status"] == "finished"
    assert report["progress"] == {"done": 3, "total": 3, "message": "counted"}
    assert report["result"] == 3
    assert report["ended_at"] >= report["started_at"]


def test_failed_job_reports_its_error(worker_app, redis_conn):
    """A failing job is reported failed with the exception's last line."""
    enqueue(redis_conn, "cdr", "jobs_fixtures.fail", job_id="broken", retry=None)
    run_jobs(worker_app, "cdr")
    report = job_report(fetch_job(redis_conn, "broken"))
    assert report["status"] == "failed"
    assert report["error"] == "ValueError: carrier said no"


def test_unknown_job_is_not_found(redis_conn):
    with pytest.raises(NotFound):
        fetch_job(redis_conn, "never-queued")


def test_failed_job_is_requeued_by_the_same_key(worker_app, redis_conn):
    """Re-triggering a run whose job failed (a crash, a dead worker) runs it again, once."""
    enqueue(redis_conn, "cdr", "jobs_fixtures.fail_once", "flag:fail-once", job_id="rerun", retry=None)
    run_jobs(worker_app, "cdr")
    assert fetch_job(redis_conn, "rerun").get_status() == "failed"
    _, queued = enqueue(redis_conn, "cdr", "jobs_fixtures.fail_once", "flag:fail-once", job_id="rerun")
    _, queued_again = enqueue(redis_conn, "cdr", "jobs_fixtures.fail_once", "flag:fail-once", job_id="rerun")
    assert (queued, queued_again) == (True, False)
    run_jobs(worker_app, "cdr")
    assert fetch_job(redis_conn, "rerun").return_value() == "done on attempt 2"


def test_retrying_job_reports_its_last_error(worker_app, redis_conn):
    """A job that failed and waits to retry says why, so an operator sees the cause before the last try."""
    from rq import Retry

    enqueue(redis_conn, "cdr", "jobs_fixtures.fail", job_id="retrying", retry=Retry(max=2, interval=600))
    run_jobs(worker_app, "cdr")
    report = job_report(fetch_job(redis_conn, "retrying"))
    assert report["status"] == "scheduled"
    assert report["error"] == "ValueError: carrier said no"
