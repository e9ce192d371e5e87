"""The cdr service app: health, readiness, internal auth and the sync job."""

import pytest

from tollgate_common.jobs import enqueue, fetch_job
from tollgate_common.testing import run_jobs


@pytest.mark.smoke
def test_healthz_is_public(app):
    """/healthz answers without the internal token."""
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["service"] == "cdr"


def test_readyz_reports_database_and_redis(client):
    """/readyz checks the service's database and Redis."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "redis": "ok"}


def test_routes_need_internal_token(app):
    """A caller without the internal token gets the 401 envelope."""
    response = app.test_client().get("/v1/anything")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_sync_job_runs_once_per_key(app, redis_conn):
    """The sync job records its run; the same key enqueued twice is one job."""
    job, created = enqueue(redis_conn, "cdr", "cdr_service.jobs.sync_all", "cdr-sync:test", job_id="cdr-sync:test")
    again, created_again = enqueue(
        redis_conn, "cdr", "cdr_service.jobs.sync_all", "cdr-sync:test", job_id="cdr-sync:test"
    )
    assert created and not created_again and again.id == job.id
    run_jobs(app, "cdr")
    finished = fetch_job(redis_conn, job.id)
    assert finished.get_status() == "finished"
    assert finished.return_value()["status"] == "finished"
