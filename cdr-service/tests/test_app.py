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


@pytest.mark.smoke
def test_openapi_lists_the_routes(app):
    """/openapi.json is generated from the route schemas and names every public path."""
    paths = app.test_client().get("/openapi.json").json["paths"]
    for path in (
        "/v1/servers",
        "/v1/services/{service_id}",
        "/v1/services/{service_id}/cdrs",
        "/internal/services/{service_id}/claim",
        "/internal/billable",
    ):
        assert path in paths


def test_sync_all_reports_a_dead_server_and_syncs_the_others(app, client, redis_conn, fusionpbx_url, rating_stub):
    """One unreachable PBX is recorded in the run; the other server's calls are stored and rated."""
    from datetime import UTC, datetime, timedelta

    from tollgate_sim.fusionpbx import TrafficGenerator, seed_tenant

    seed_tenant(fusionpbx_url, "acme.pbx.example", extensions=["2112"])
    traffic = TrafficGenerator(fusionpbx_url, seed=5)
    start = datetime.now(UTC) - timedelta(hours=1)
    traffic.insert([traffic.make_call("acme.pbx.example", "outbound", "15145550000", 60, start, "2112")])
    dead = client.post(
        "/v1/servers",
        json={"name": "dead", "kind": "fusionpbx", "settings": {"db_dsn": "postgresql://x@127.0.0.1:1/db"}},
    ).json["id"]
    good = client.post("/v1/servers", json={"name": "good", "kind": "fusionpbx", "settings": {"db_dsn": fusionpbx_url}})
    client.put(
        "/v1/services/101",
        json={"client_id": 7, "product_id": 3, "server_id": good.json["id"], "domain": "acme.pbx.example"},
    )
    job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.sync_all", "cdr-sync:dead", job_id="cdr-sync:dead")
    run_jobs(app, "cdr")
    result = fetch_job(redis_conn, job.id).return_value()
    assert result["servers"] == 2 and result["stored"] == 1 and result["rating"]["billable"] == 1
    assert list(result["failures"]) == [str(dead)] and "unreachable" in result["failures"][str(dead)]
    assert client.get(f"/v1/servers/{dead}/sync").json["last_status"] == "failed"
