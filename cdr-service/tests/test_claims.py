"""Contract B for balance-service: services, billable totals, idempotent claims, rerate adjustments, report."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from cdr_service.models import Cdr
from tollgate_common.jobs import enqueue
from tollgate_common.testing import run_jobs

NOW = datetime.now(UTC).replace(microsecond=0)


def test_services_list_by_client_and_ids(client, service_101):
    """/internal/services lists known VoIP services, filtered by client or ids."""
    client.put(
        "/v1/services/102",
        json={"client_id": 8, "product_id": 4, "server_id": service_101["server_id"], "domain": "beta.example"},
    )
    assert [s["service_id"] for s in client.get("/internal/services?client_id=7").json] == [101]
    both = client.get("/internal/services?ids=101,102").json
    assert [(s["service_id"], s["client_id"], s["kind"], s["suspended"]) for s in both] == [
        (101, 7, "fusionpbx", False),
        (102, 8, "fusionpbx", False),
    ]
    assert client.get("/internal/services?ids=1,x").status_code == 422
    assert [s["service_id"] for s in client.get("/internal/services?ids=101,330440569975").json] == [101]
    assert client.get("/internal/services?ids=330440569975").json == []


@pytest.mark.smoke
def test_claim_is_idempotent_and_takes_each_call_once(client, store_calls, make_call, rate_all, rating_stub):
    """A claim takes the rated billable calls before the cutoff; the same ref answers the same claim."""
    store_calls(
        [
            make_call("15145550000", NOW - timedelta(hours=3), 61),
            make_call("15145550001", NOW - timedelta(hours=2), 30),
            make_call("15145550002", NOW - timedelta(hours=2), 0),
            make_call("15145550003", NOW - timedelta(minutes=10), 120),
        ]
    )
    rate_all()
    cutoff = (NOW - timedelta(hours=1)).isoformat()
    billable = client.get("/internal/billable", query_string={"cutoff": cutoff}).json
    assert billable == [{"service_id": 101, "client_id": 7, "product_id": 3, "calls": 2, "amount": "0.016"}]
    first = client.post("/internal/services/101/claim", json={"claim_ref": "daily:1:101", "cutoff": cutoff}).json
    assert first["calls"] == 2 and first["amount"] == "0.016" and first["adjustment"] == "0.00"
    assert len(first["cdr_ids"]) == 2
    again = client.post("/internal/services/101/claim", json={"claim_ref": "daily:1:101", "cutoff": cutoff}).json
    assert again == first
    later = client.post(
        "/internal/services/101/claim", json={"claim_ref": "daily:2:101", "cutoff": NOW.isoformat()}
    ).json
    assert later["calls"] == 1 and not set(later["cdr_ids"]) & set(first["cdr_ids"])
    assert client.get("/internal/claims/daily:1:101").json == first
    assert client.get("/internal/billable", query_string={"cutoff": NOW.isoformat()}).json == []


@pytest.mark.smoke
def test_rerate_of_a_charged_call_becomes_an_adjustment(
    app, client, redis_conn, store_calls, make_call, rate_all, rating_stub
):
    """Rerating a claimed call keeps its charge; the difference rides on the service's next claim."""
    store_calls([make_call("15145550000", NOW - timedelta(hours=3), 60)])
    rate_all()
    first = client.post("/internal/services/101/claim", json={"claim_ref": "r:1", "cutoff": NOW.isoformat()}).json
    assert first["amount"] == "0.01"
    rating_stub.config["RATE"] = Decimal("0.03")
    response = client.post("/v1/cdrs/rerate", json={"since": (NOW - timedelta(days=1)).isoformat()})
    assert response.status_code == 202
    run_jobs(app, "cdr")
    with app.extensions["db"].session() as session:
        stored = session.scalars(select(Cdr)).one()
    assert stored.cost == Decimal("0.0300") and stored.charged_cost == Decimal("0.0100")
    second = client.post("/internal/services/101/claim", json={"claim_ref": "r:2", "cutoff": NOW.isoformat()}).json
    assert second["calls"] == 0 and Decimal(second["adjustment"]) == Decimal("0.0200")
    enqueue(redis_conn, "cdr", "cdr_service.jobs.rerate", None, None, None, False, job_id="rerate-again")
    run_jobs(app, "cdr")
    third = client.post("/internal/services/101/claim", json={"claim_ref": "r:3", "cutoff": NOW.isoformat()}).json
    assert Decimal(third["adjustment"]) == 0


@pytest.mark.smoke
def test_report_counts_unrated_and_quarantined(app, client, store_calls, make_call, rate_all, rating_stub):
    """The report lists, per service, calls with no rate and rows held in quarantine."""
    from cdr_service.adapters.base import FetchBatch, RejectedRow
    from cdr_service.attribution import Attributor
    from cdr_service.models import ServiceAssignment
    from cdr_service.store import store_batch

    store_calls(
        [make_call("442079460000", NOW - timedelta(hours=1)), make_call("15145550000", NOW - timedelta(hours=1))]
    )
    rate_all()
    db = app.extensions["db"]
    with db.session() as session:
        attributor = Attributor(session.scalars(select(ServiceAssignment)).all())
    rejected = RejectedRow(source_id="bad-1", tenant="acme.pbx.example", reason="billsec: missing", raw={})
    store_batch(db, 1, FetchBatch(rejected=[rejected]), attributor)
    report = client.get("/internal/report", query_string={"since": (NOW - timedelta(days=1)).isoformat()}).json
    assert report == [{"service_id": 101, "unrated": 1, "quarantined": 1}]
    held = client.get("/v1/cdrs/quarantine").json
    assert held[0]["reason"] == "billsec: missing"
