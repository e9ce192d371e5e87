"""The Vodia adapter against the Vodia simulator over real HTTP: auth, paging, parsing, suspension."""

from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select

from cdr_service.adapters.vodia import sip_user
from cdr_service.models import Cdr
from tollgate_common.jobs import enqueue, fetch_job
from tollgate_common.testing import run_jobs
from tollgate_sim.vodia import create_app as create_vodia

TENANT = "rucken.example"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def vodia(live_server):
    """A Vodia PBX with one tenant, extensions 8300-8302, a trunk, and an admin without API access."""
    app = create_vodia()
    state = app.extensions["vodia"]
    state.add_domain(TENANT)
    for account in ("8300", "8301", "8302"):
        state.add_account(TENANT, account)
    state.add_trunk(TENANT, 3, "carrier")
    state.add_admin("noapi", "pw", api_access=False)
    return {"url": live_server(app), "state": state}


def add_server(client, vodia, **settings):
    """Register the Vodia server and service 201; return the server id."""
    values = {"base_url": vodia["url"], "username": "admin", "password": "password", "page_size": 3, **settings}
    response = client.post("/v1/servers", json={"name": "vodia", "kind": "vodia", "settings": values})
    assert response.status_code == 201, response.json
    server_id = response.json["id"]
    client.put(
        "/v1/services/201",
        json={
            "client_id": 9,
            "product_id": 5,
            "server_id": server_id,
            "domain": f"{TENANT} | 5484815577 | 8300 | 8301",
            "username": "8300",
        },
    )
    return server_id


def sync(app, redis_conn, server_id, key):
    """Run sync_server through a real RQ worker; return its result."""
    job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.sync_server", server_id, job_id=f"vodia-sync:{key}")
    run_jobs(app, "cdr")
    finished = fetch_job(redis_conn, job.id)
    assert finished.get_status() == "finished", finished.latest_result().exc_string
    return finished.return_value()


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("address", "user"),
    [
        ('"Ann" <sip:8300@tenant.example>', "8300"),
        ("<sip:+15145550000@tenant.example;user=phone>", "15145550000"),
        ("sip:18005551212@x", "18005551212"),
        ("tel:+442079460000", "442079460000"),
    ],
)
def test_sip_address_user_part(address, user):
    """The number is the user part of the SIP address."""
    assert sip_user(address) == user


@pytest.mark.parametrize("auth", ["session", "basic"])
def test_sync_pages_parses_and_stores_once(app, client, redis_conn, vodia, rating_stub, auth):
    """Both auth modes; pages of 3; direction from trunks; billsec from connect to end; stored once."""
    state = vodia["state"]
    start = (NOW - timedelta(hours=2)).timestamp()
    out = state.add_call(TENANT, "outbound", "8300", "15145550000", start, 61, trunk=3)
    inbound = state.add_call(TENANT, "inbound", "8301", "16135550000", start + 60, 30, trunk=3, did="5484815577")
    local = state.add_call(TENANT, "local", "8300", "8302", start + 120, 12)
    missed = state.add_call(TENANT, "outbound", "8300", "15145550001", start + 180, 0, trunk=3)
    empty = state.add_call(
        TENANT, "outbound", "8301", "15145550002", start + 240, 0, trunk=3, unanswered_connect="empty"
    )
    state.generate_calls(TENANT, 4, start + 300, start + 900, seed=3, trunk=3)
    server_id = add_server(client, vodia, auth=auth)
    assert client.post(f"/v1/servers/{server_id}/test").json["ok"] is True
    first = sync(app, redis_conn, server_id, "first")
    assert first["fetched"] == 9 and first["stored"] == 9
    assert sync(app, redis_conn, server_id, "second")["stored"] == 0
    with app.extensions["db"].session() as session:
        calls = {row.source_id: row for row in session.scalars(select(Cdr))}
    call = calls[str(out["id"])]
    assert (call.direction, call.extension, call.destination_number, call.billsec) == (
        "outbound",
        "8300",
        "15145550000",
        61,
    )
    assert call.service_id == 201 and call.billable
    assert (calls[str(inbound["id"])].direction, calls[str(inbound["id"])].caller_destination) == (
        "inbound",
        "5484815577",
    )
    assert calls[str(inbound["id"])].service_id == 201
    assert calls[str(local["id"])].direction == "local"
    assert (calls[str(missed["id"])].billsec, calls[str(missed["id"])].status) == (0, "no_answer")
    assert calls[str(empty["id"])].billsec == 0


def test_bad_credentials_and_missing_api_access(client, vodia):
    """A wrong password and an admin without API access are reported plainly."""
    server_id = add_server(client, vodia, password="wrong")
    assert "wrong username or password" in client.post(f"/v1/servers/{server_id}/test").json["message"]
    client.patch(f"/v1/servers/{server_id}", json={"settings": {"username": "noapi", "password": "pw"}})
    assert "API access" in client.post(f"/v1/servers/{server_id}/test").json["message"]


def test_suspend_disables_the_service_accounts(app, client, redis_conn, vodia):
    """Suspension sets disabled on the service's accounts only; unsuspension clears it."""
    add_server(client, vodia)

    def disabled():
        """Each account's `disabled` flag as the simulator holds it."""
        state = requests.get(vodia["url"] + "/_sim/state", timeout=5).json()
        accounts = state["domains"][TENANT]["accounts"]
        return {name: settings["disabled"] for name, settings in accounts.items()}

    enqueue(redis_conn, "cdr", "cdr_service.jobs.suspend_service", 201, "v:s1", job_id="v:s1")
    run_jobs(app, "cdr")
    assert disabled() == {"8300": "true", "8301": "true", "8302": "false"}
    enqueue(redis_conn, "cdr", "cdr_service.jobs.unsuspend_service", 201, "v:u1", job_id="v:u1")
    run_jobs(app, "cdr")
    assert disabled() == {"8300": "false", "8301": "false", "8302": "false"}
