"""When rating-service is down, the sync still stores every call, fails so RQ retries, and rates later."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from cdr_service.jobs import rate_new
from cdr_service.models import Cdr
from tollgate_common.jobs import enqueue, fetch_job
from tollgate_common.testing import run_jobs
from tollgate_sim.fusionpbx import TrafficGenerator, seed_tenant


@pytest.fixture
def app_overrides():
    """Point the app at a port where no rating-service listens."""
    return {"rating_url": "http://127.0.0.1:9"}


def test_calls_are_stored_and_the_job_fails_for_a_retry(app, client, redis_conn, fusionpbx_url):
    """The job fails (so RQ retries it) with the calls stored and unrated; they are not lost."""
    seed_tenant(fusionpbx_url, "acme.pbx.example", extensions=["2112"])
    traffic = TrafficGenerator(fusionpbx_url, seed=8)
    traffic.insert(traffic.generate("acme.pbx.example", 30, datetime.now(UTC) - timedelta(hours=3), datetime.now(UTC)))
    server_id = client.post(
        "/v1/servers", json={"name": "pbx", "kind": "fusionpbx", "settings": {"db_dsn": fusionpbx_url}}
    ).json["id"]
    client.put(
        "/v1/services/101", json={"client_id": 7, "product_id": 3, "server_id": server_id, "domain": "acme.pbx.example"}
    )
    job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.sync_server", server_id, job_id="down:1")
    run_jobs(app, "cdr")
    finished = fetch_job(redis_conn, job.id)
    assert finished.get_status() in ("failed", "scheduled")
    with app.extensions["db"].engine.connect() as connection:
        stored, unrated = connection.execute(
            select(func.count(), func.count().filter(Cdr.rated_at.is_(None))).select_from(Cdr)
        ).one()
    assert stored > 0 and stored == unrated
    assert client.get(f"/v1/servers/{server_id}/sync").json["last_status"] == "ok"
    assert client.get("/internal/report").json == [{"service_id": 101, "unrated": stored, "quarantined": 0}]


def test_rate_new_raises_unavailable(app, client, service_101, store_calls, make_call):
    """Rating directly reports rating-service as unavailable rather than marking calls rated."""
    from tollgate_common.errors import Unavailable

    store_calls([make_call("15145550000", datetime.now(UTC) - timedelta(hours=1))])
    with app.app_context(), pytest.raises(Unavailable):
        rate_new()
