"""Service assignments over their life: late assignment, reassignment, termination, test, unrated rerate."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cdr_service.models import Cdr
from tollgate_common.testing import run_jobs
from tollgate_sim.fusionpbx import seed_tenant

NOW = datetime.now(UTC).replace(microsecond=0)


def owners(app):
    with app.extensions["db"].session() as session:
        return {row.destination_number: row.service_id for row in session.scalars(select(Cdr))}


def test_calls_stored_before_the_service_exists_are_attributed_when_it_appears(
    app, client, service_101, store_calls, make_call
):
    """Calls of a tenant without a service wait unattributed and go to the service once it is assigned."""
    store_calls([make_call("15145550000", NOW - timedelta(hours=1), tenant="beta.example", extension="3001")])
    assert owners(app) == {"15145550000": None}
    response = client.put(
        "/v1/services/102",
        json={"client_id": 8, "product_id": 3, "server_id": service_101["server_id"], "domain": "beta.example"},
    )
    assert response.status_code == 200
    assert owners(app) == {"15145550000": 102}


def test_reassigning_extensions_moves_unclaimed_calls_and_clears_their_rating(
    app, client, service_101, store_calls, make_call, rate_all, rating_stub
):
    """Moving extension 2113 to a new service moves its unclaimed calls, which are rated again."""
    store_calls(
        [
            make_call("15145550000", NOW - timedelta(hours=1), extension="2112"),
            make_call("15145550001", NOW - timedelta(hours=1), extension="2113"),
        ]
    )
    rate_all()
    body = {"client_id": 7, "product_id": 3, "server_id": service_101["server_id"], "domain": "acme.pbx.example"}
    client.put("/v1/services/101", json={**body, "username": "2112"})
    client.put("/v1/services/103", json={**body, "client_id": 9, "username": "2113"})
    assert owners(app) == {"15145550000": 101, "15145550001": 103}
    with app.extensions["db"].session() as session:
        moved = session.scalars(select(Cdr).where(Cdr.service_id == 103)).one()
    assert moved.rated_at is None
    assert rate_all()["rated"] == 1


def test_terminated_service_keeps_its_calls_but_gets_no_new_ones(app, client, service_101, store_calls, make_call):
    """After DELETE, calls made before the end stay (or, synced late, go) to the service; later calls do not."""
    store_calls([make_call("15145550000", NOW - timedelta(hours=2))])
    response = client.delete("/v1/services/101")
    assert response.status_code == 200 and response.json["status"] == "Terminated"
    after = datetime.now(UTC) + timedelta(minutes=1)
    store_calls([make_call("15145550001", NOW - timedelta(hours=1)), make_call("15145550002", after)])
    assert owners(app) == {"15145550000": 101, "15145550001": 101, "15145550002": None}
    assert client.get("/internal/services?ids=101").json[0]["status"] == "Terminated"


def test_service_test_checks_the_tenant_on_the_pbx(client, fusionpbx_url):
    """POST /v1/services/{id}/test finds the tenant's domain, and says so when it is missing."""
    seed_tenant(fusionpbx_url, "acme.pbx.example", extensions=["2112"])
    server_id = client.post(
        "/v1/servers", json={"name": "pbx", "kind": "fusionpbx", "settings": {"db_dsn": fusionpbx_url}}
    ).json["id"]
    body = {"client_id": 7, "product_id": 3, "server_id": server_id}
    client.put("/v1/services/101", json={**body, "domain": "acme.pbx.example"})
    client.put("/v1/services/102", json={**body, "domain": "missing.pbx.example"})
    assert client.post("/v1/services/101/test").json == {
        "ok": True,
        "message": "FusionPBX domain acme.pbx.example found",
    }
    missing = client.post("/v1/services/102/test").json
    assert missing["ok"] is False and "missing.pbx.example" in missing["message"]


def test_unknown_server_is_named(client):
    """PUT with a server that does not exist is a 422 naming server_id."""
    response = client.put("/v1/services/101", json={"client_id": 1, "product_id": 1, "server_id": 99, "domain": "a.b"})
    assert response.status_code == 422 and "server_id" in response.json["error"]["details"]["fields"]


def test_rerate_of_unrated_calls_only(app, client, service_101, store_calls, make_call, rate_all, rating_stub):
    """`only_unrated` rates the calls that had no rate and leaves rated calls alone."""
    store_calls(
        [make_call("442079460000", NOW - timedelta(hours=1)), make_call("15145550000", NOW - timedelta(hours=1))]
    )
    rate_all()
    rating_stub.config["RATE"] = rating_stub.config["RATE"] * 2
    rating_stub.config["REQUESTS"].clear()
    assert client.post("/v1/cdrs/rerate", json={"only_unrated": True}).status_code == 202
    run_jobs(app, "cdr")
    sent = [cdr["number"] for request in rating_stub.config["REQUESTS"] for cdr in request["cdrs"]]
    assert sent == ["442079460000"]
    with app.extensions["db"].session() as session:
        rated = session.scalars(select(Cdr).where(Cdr.destination_number == "15145550000")).one()
    assert str(rated.rate_per_minute).startswith("0.01")


def test_ids_beyond_the_integer_columns_are_refused_cleanly(client, service_101):
    """Huge ids and NUL characters are a 404 or a 422 naming the field, never a database error."""
    body = {"client_id": 7, "product_id": 3, "server_id": 2**40, "domain": "acme.pbx.example"}
    response = client.put("/v1/services/101", json=body)
    assert response.status_code == 422 and "server_id" in response.json["error"]["details"]["fields"]
    nul = client.put("/v1/services/101", json={**body, "server_id": service_101["server_id"], "status": "Act\x00ive"})
    assert nul.status_code == 422 and "status" in nul.json["error"]["details"]["fields"]
    assert client.get(f"/v1/services/{2**40}/cdrs").status_code == 404
    assert client.put(f"/v1/services/{2**40}", json={**body, "server_id": service_101["server_id"]}).status_code == 422
    claim = client.post("/internal/services/999/claim", json={"claim_ref": "x", "cutoff": NOW.isoformat()})
    assert claim.status_code == 404
