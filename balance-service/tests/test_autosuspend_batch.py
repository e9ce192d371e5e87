"""Autosuspend in chunks: one transaction per chunk, a savepoint per client, write-backs after the commit."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from balance_service.evaluate import evaluate_chunk
from balance_service.jobs import evaluate_one, whmcs_client
from balance_service.models import Client as Mirrored
from balance_service.models import utcnow
from balance_service.whmcs_settings import load_settings
from tollgate_common.jobs import enqueue, get_queue
from tollgate_common.testing import run_jobs
from tollgate_sim.whmcs.state import Client, Invoice, InvoiceItem, Service

FIELDS = {"has_voip": 1, "manual_suspend": 2, "voip_suspended": 3, "low_balance_threshold": 4}


def configure(client, sim) -> None:
    body = {"url": sim.url, "identifier": "sim-identifier", "secret": "sim-secret", "client_fields": FIELDS}
    assert client.put("/v1/settings/whmcs", json=body).status_code == 200


def seed(sim, client_id: int, credit: str) -> None:
    fields = {1: "Yes", 2: "No", 3: "None", 4: ""}
    sim.state.clients[client_id] = Client(
        client_id, "Ada", "Lovelace", f"c{client_id}@example.test", credit=Decimal(credit), customfields=fields
    )


def autosuspend(redis_conn, app, slot: str) -> dict:
    job, _ = enqueue(redis_conn, "balance", "balance_service.jobs.autosuspend", slot, job_id=f"autosuspend:{slot}")
    run_jobs(app, "balance")
    return job.return_value()


def sync(redis_conn, app) -> None:
    enqueue(redis_conn, "balance", "balance_service.jobs.sync_clients", "2026-11-25")
    run_jobs(app, "balance")


def pbx_jobs(redis_conn) -> list[str]:
    return sorted(job.id for job in get_queue("cdr", redis_conn).jobs)


def test_a_client_failing_mid_chunk_is_rolled_back_alone_and_never_marked_yes(
    app, client, whmcs_sim, peers, redis_conn
):
    """cdr-service fails for one client: its change is rolled back and WHMCS is not told Yes; the rest proceed.

    Had `VoIP Suspended` = Yes been written for the rolled-back suspension, the next run would read it as an
    admin's own Yes and hold the client suspended past a top-up.
    """
    configure(client, whmcs_sim)
    for client_id in (1, 2, 3):
        seed(whmcs_sim, client_id=client_id, credit="0.00")
        peers.add_service(client_id * 10, client_id)
    sync(redis_conn, app)
    peers.failing_clients = {2}
    first = autosuspend(redis_conn, app, "s1")
    assert [c["client_id"] for c in first["changed"]] == [1, 3]
    assert [e["client_id"] for e in first["errors"]] == [2]
    assert whmcs_sim.state.clients[2].customfields[3] == "None"
    assert client.get("/v1/clients/2").json["voip_state"] == "active"
    assert [whmcs_sim.state.clients[c].customfields[3] for c in (1, 3)] == ["Yes", "Yes"]

    peers.failing_clients = set()
    second = autosuspend(redis_conn, app, "s2")
    assert [c["client_id"] for c in second["changed"]] == [2]
    view = client.get("/v1/clients/2").json
    assert (view["voip_state"], view["suspended_by"]) == ("suspended", "balance")
    assert whmcs_sim.state.clients[2].customfields[3] == "Yes"
    assert pbx_jobs(redis_conn) == [f"pbx_client_{c}_1_{c * 10}_suspend" for c in (1, 2, 3)]

    # A top-up restores the client: the suspension was ours, not an admin's.
    whmcs_sim.state.clients[2].credit = Decimal("20.00")
    third = autosuspend(redis_conn, app, "s3")
    assert [(c["client_id"], c["voip_state"]) for c in third["changed"]] == [(2, "active")]
    assert whmcs_sim.state.clients[2].customfields[3] == "None"


def test_steady_state_run_changes_nothing_and_writes_nothing_to_whmcs(app, client, whmcs_sim, peers, redis_conn):
    """A second run over unchanged balances decides the same, queues nothing and sends no UpdateClient."""
    configure(client, whmcs_sim)
    for client_id, credit in ((1, "0.00"), (2, "9.00"), (3, "0.00")):
        seed(whmcs_sim, client_id=client_id, credit=credit)
        peers.add_service(client_id * 10, client_id)
    sync(redis_conn, app)
    assert len(autosuspend(redis_conn, app, "s1")["changed"]) == 2
    updates = len([e for e in whmcs_sim.state.api_log if e["action"].lower() == "updateclient"])
    queued = pbx_jobs(redis_conn)
    again = autosuspend(redis_conn, app, "s2")
    assert (again["evaluated"], again["changed"], again["errors"]) == (3, [], [])
    assert len([e for e in whmcs_sim.state.api_log if e["action"].lower() == "updateclient"]) == updates == 2
    assert pbx_jobs(redis_conn) == queued


@pytest.mark.smoke
def test_a_payment_evaluated_during_the_run_is_not_undone_by_the_runs_older_read(
    app, client, whmcs_sim, peers, redis_conn
):
    """Details read before a top-up must not re-suspend a client the payment event already restored."""
    configure(client, whmcs_sim)
    seed(whmcs_sim, client_id=42, credit="0.00")
    peers.add_service(7, 42)
    sync(redis_conn, app)
    autosuspend(redis_conn, app, "s1")
    assert client.get("/v1/clients/42").json["voip_state"] == "suspended"
    with app.app_context():
        whmcs = whmcs_client()
        with app.extensions["db"].session() as session:
            row = load_settings(session)
        read_at = utcnow()
        stale = {42: whmcs.get_client(42)}  # the run's bulk read: credit 0.00
        whmcs_sim.state.clients[42].credit = Decimal("25.00")
        assert evaluate_one(whmcs, 42, "whmcs InvoicePaid").changed  # the payment event, meanwhile
        results, errors = evaluate_chunk(
            app.extensions["db"],
            whmcs,
            row,
            stale,
            owed={},
            read_at=read_at,
            actor="autosuspend s2",
            services_of=lambda cid: [],
            enqueue=lambda *a, **k: None,
            today=dt.datetime.now(dt.UTC).date(),
            reminders=True,
            currencies=whmcs.get_currencies(),
            concurrency=2,
        )
    assert errors == [] and [(r.client_id, r.changed, r.voip_state) for r in results] == [(42, False, "active")]
    view = client.get("/v1/clients/42").json
    assert (view["voip_state"], view["credit"]) == ("active", "25.00")


def test_daily_sync_mirrors_every_client_with_what_it_owes_and_its_services(app, client, whmcs_sim, redis_conn):
    """The full sync pages through GetClients and mirrors each client's credit, amount owed and services."""
    configure(client, whmcs_sim)
    for client_id in range(1, 8):
        seed(whmcs_sim, client_id=client_id, credit=f"{client_id}.00")
    whmcs_sim.state.services[70] = Service(70, 7, 3, name="VoIP Prepaid")
    invoice = Invoice(500, 7, "2026-11-01", "2026-11-15")
    invoice.items.append(InvoiceItem(1, "usage", Decimal("2.50")))
    whmcs_sim.state.invoices[invoice.id] = invoice
    job, _ = enqueue(redis_conn, "balance", "balance_service.jobs.sync_clients", "2026-11-25")
    run_jobs(app, "balance")
    assert job.return_value() == {"day": "2026-11-25", "synced": 7, "errors": []}
    seven = client.get("/v1/clients/7").json
    assert (seven["credit"], seven["outstanding"], seven["voip_state"]) == ("7.00", "2.50", "active")
    assert client.get("/v1/clients/3").json["credit"] == "3.00"
    with app.extensions["db"].session() as session:
        services = {c.client_id: c.services for c in session.scalars(select(Mirrored))}
    assert sorted(services) == list(range(1, 8))
    assert [s["service_id"] for s in services[7]] == [70] and services[1] == []
