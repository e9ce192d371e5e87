"""FusionPBX HTTP export mode against the simulator's export page over real HTTP."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cdr_service.models import Cdr, SyncWatermark
from tollgate_common.jobs import enqueue, fetch_job
from tollgate_common.testing import run_jobs
from tollgate_sim.fusionpbx import TrafficGenerator, seed_tenant
from tollgate_sim.fusionpbx.export import create_export_app

TENANT = "acme.pbx.example"
API_KEY = "k" * 40
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def export_site(fusionpbx_url, live_server):
    """Serve the export page of a FusionPBX with one tenant; `permissions` can be narrowed per test."""
    seed_tenant(fusionpbx_url, TENANT, extensions=["2112", "2113"])

    def serve(permissions=("xml_cdr_export", "xml_cdr_export_csv")):
        """Start the export page with `permissions`; return its URL."""
        return live_server(create_export_app(fusionpbx_url, API_KEY, permissions, domain_name=TENANT))

    return serve


def add_server(client, url, key=API_KEY):
    """Register the export-mode server; return its id."""
    return client.post(
        "/v1/servers",
        json={
            "name": "pbx-http",
            "kind": "fusionpbx",
            "settings": {"base_url": url, "api_key": key, "export_domain": TENANT},
        },
    ).json["id"]


def sync(app, redis_conn, server_id, key):
    """Run sync_server through a real RQ worker; return the job."""
    job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.sync_server", server_id, job_id=f"http-sync:{key}")
    run_jobs(app, "cdr")
    return fetch_job(redis_conn, job.id)


def test_export_mode_syncs_a_leg_calls_once(app, client, redis_conn, fusionpbx_url, export_site, rating_stub):
    """Calls come through the CSV export with their numbers and billsec; a second sync stores nothing new."""
    url = export_site()
    traffic = TrafficGenerator(fusionpbx_url, seed=2)
    rows = traffic.generate(TENANT, 40, NOW - timedelta(hours=4), NOW - timedelta(hours=1))
    traffic.insert(rows)
    client.put(
        "/v1/services/101",
        json={"client_id": 7, "product_id": 3, "server_id": add_server(client, url), "domain": TENANT},
    )
    first = sync(app, redis_conn, 1, "first")
    assert first.get_status() == "finished", first.latest_result().exc_string
    a_legs = {row["xml_cdr_uuid"]: row for row in rows if row["leg"] == "a"}
    assert first.return_value()["stored"] == len(a_legs)
    second = sync(app, redis_conn, 1, "second").return_value()
    assert second["stored"] == 0 and second["fetched"] == len(a_legs)
    with app.extensions["db"].session() as session:
        stored = {row.source_id: row for row in session.scalars(select(Cdr))}
        watermark = session.get(SyncWatermark, 1)
    assert set(stored) == set(a_legs)
    sample = next(row for row in a_legs.values() if row["direction"] == "outbound" and row["billsec"] > 0)
    call = stored[sample["xml_cdr_uuid"]]
    assert (call.destination_number, call.billsec, call.service_id) == (
        sample["destination_number"],
        sample["billsec"],
        101,
    )
    assert int(call.start_at.timestamp()) == sample["start_epoch"]
    assert watermark.last_status == "ok"


def test_wrong_key_is_a_clear_error(app, client, redis_conn, export_site):
    """A key FusionPBX does not accept redirects to the login page: the test and the sync say so."""
    server_id = add_server(client, export_site(), key="x" * 40)
    result = client.post(f"/v1/servers/{server_id}/test").json
    assert result["ok"] is False and "login page" in result["message"]
    job = sync(app, redis_conn, server_id, "bad-key")
    assert job.get_status() in ("failed", "scheduled")
    with app.extensions["db"].session() as session:
        watermark = session.get(SyncWatermark, server_id)
    assert watermark.last_status == "failed" and "login page" in watermark.last_error


def test_missing_permission_is_a_clear_error(client, export_site):
    """An `access denied` body names the permissions the key's user needs."""
    server_id = add_server(client, export_site(permissions=("xml_cdr_export",)))
    result = client.post(f"/v1/servers/{server_id}/test").json
    assert result["ok"] is False and "xml_cdr_export_csv" in result["message"]
