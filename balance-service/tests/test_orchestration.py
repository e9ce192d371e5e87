"""Jobs and routes end to end: WHMCS simulator and cdr/rating stubs on real ports, real RQ workers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from balance_service.models import ClaimIntent, Run
from tollgate_common.jobs import enqueue, get_queue
from tollgate_common.testing import run_jobs
from tollgate_sim.whmcs.state import Client, Fault, Invoice, InvoiceItem, Service

FIELDS = {"has_voip": 1, "manual_suspend": 2, "voip_suspended": 3, "low_balance_threshold": 4}
TODAY = dt.datetime.now(dt.UTC).date()


def configure(client, sim) -> None:
    body = {"url": sim.url, "identifier": "sim-identifier", "secret": "sim-secret", "client_fields": FIELDS}
    response = client.put("/v1/settings/whmcs", json=body)
    assert response.status_code == 200, response.json


def seed(sim, client_id=42, credit="10.00", voip="Yes", manual="No", suspended="None", threshold=""):
    fields = {1: voip, 2: manual, 3: suspended, 4: threshold}
    sim.state.clients[client_id] = Client(
        client_id, "Ada", "Lovelace", "ada@example.test", credit=Decimal(credit), customfields=fields
    )


def queued(redis_conn, queue: str) -> list[tuple[str, tuple]]:
    return [(job.func_name, tuple(job.args)) for job in get_queue(queue, redis_conn).jobs]


def owe(sim, client_id: int, amount: str) -> int:
    invoice = Invoice(len(sim.state.invoices) + 100, client_id, TODAY.isoformat(), TODAY.isoformat())
    invoice.items.append(InvoiceItem(1, "old invoice", Decimal(amount)))
    sim.state.invoices[invoice.id] = invoice
    return invoice.id


@pytest.fixture
def billing(client, whmcs_sim, peers):
    """A configured WHMCS with client 42 and packages: product 3 prepaid daily, 4 postpaid daily, 5 realtime."""
    configure(client, whmcs_sim)
    peers.packages = {
        3: {"id": 1, "billing_mode": "prepaid", "realtime": False},
        4: {"id": 2, "billing_mode": "postpaid", "realtime": False},
        5: {"id": 3, "billing_mode": "prepaid", "realtime": True},
    }
    return whmcs_sim


@pytest.mark.smoke
def test_settings_never_return_the_secret(client, whmcs_sim):
    """GET /v1/settings/whmcs shows the URL and field ids but only says the secret is set."""
    assert client.put("/v1/settings/whmcs", json={"url": whmcs_sim.url, "identifier": "i"}).status_code == 422
    configure(client, whmcs_sim)
    shown = client.get("/v1/settings/whmcs").json
    assert shown["secret_set"] is True and "secret" not in shown and "sim-secret" not in str(shown)
    assert shown["client_fields"] == {k: v for k, v in FIELDS.items()}
    again = client.put("/v1/settings/whmcs", json={"url": whmcs_sim.url, "identifier": "sim-identifier"})
    assert again.status_code == 200 and again.json["secret_set"] is True


def test_daily_autobill_charges_each_service_once_and_queues_follow_ups(app, client, billing, peers, redis_conn):
    """The daily run takes prepaid from credit, invoices the rest, bills postpaid next invoice, skips realtime."""
    seed(billing, credit="5.00")
    billing.state.services[7] = Service(7, 42, 3, name="VoIP Prepaid")
    billing.state.services[8] = Service(8, 42, 4, nextduedate="2026-12-01")
    peers.add_service(7, 42, product_id=3, amount="6.0049", calls=12)
    peers.add_service(8, 42, product_id=4, amount="2.50", calls=4)
    peers.add_service(9, 42, product_id=5, amount="1.00", calls=1)
    key = f"daily:{TODAY}"
    enqueue(
        redis_conn, "balance", "balance_service.jobs.autobill", f"autobill:{key}", "daily", job_id=f"autobill:{key}"
    )
    run_jobs(app, "balance")
    state = billing.state
    assert [(e.amount, e.description.endswith(f"[TG {key}:7]")) for e in state.credit_log] == [(Decimal("-5.00"), True)]
    [invoice] = state.invoices.values()
    assert [item.amount for item in invoice.items] == [Decimal("1.00")] and invoice.duedate == TODAY.isoformat()
    [item] = state.billable_items.values()
    assert (item.amount, item.invoiceaction) == (Decimal("2.50"), "nextinvoice")
    assert state.services[8].nextduedate == "2026-12-01"
    assert peers.claim_calls == [f"{key}:7", f"{key}:8"]
    run = client.get("/v1/runs").json["items"][0]
    assert (run["run_key"], run["status"]) == (key, "finished")
    charges = client.get(f"/v1/runs/{run['id']}/charges").json["items"]
    assert [(c["reference"], c["calls"], len(c["cdr_ids"])) for c in charges] == [
        (f"{key}:7", 12, 12),
        (f"{key}:8", 4, 4),
    ]
    assert (charges[0]["usage"], charges[0]["posted_amount"], charges[0]["carry_out"]) == ("6.0049", "6.00", "0.0049")
    assert client.get(f"/v1/runs/{run['id']}").json["report"]["charges"] == 2
    assert client.get("/v1/runs/999999/charges").status_code == 404
    assert client.get(f"/v1/runs/{key}").json["id"] == run["id"]
    assert run["report"]["charged"] == "8.50" and run["report"]["calls"] == 16
    assert ("cdr_service.jobs.sync_all", (key,)) in queued(redis_conn, "cdr")
    # The evaluation queued by the run suspends the client: no credit left and 1.00 owed.
    assert client.get("/v1/clients/42").json["voip_state"] == "suspended"
    assert ("cdr_service.jobs.suspend_service", (7, "client:42:1:7:suspend")) in queued(redis_conn, "cdr")
    merge = client.get("/internal/clients/42/merge-data").json
    assert (merge["credit"], merge["due_invoices_balance"]) == ("0.00", "1.00")
    assert [(m["service_id"], m["usage_current_period"]) for m in merge["services"]] == [(7, "6.00"), (8, "2.50")]


def test_rerunning_a_finished_run_key_charges_nothing(app, billing, peers):
    """Starting a run whose key finished returns the same report and sends no WHMCS write."""
    from balance_service.autobill import run_autobill
    from balance_service.jobs import cdr_api, rating_api, whmcs_client

    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=3, amount="3.00", calls=2)
    now = dt.datetime.now(dt.UTC)
    with app.app_context():
        first = run_autobill(app.extensions["db"], whmcs_client(), cdr_api(), rating_api(), "daily:x", "daily", now)
        peers.claims.clear()
        second = run_autobill(app.extensions["db"], whmcs_client(), cdr_api(), rating_api(), "daily:x", "daily", now)
    assert first == second and len(billing.calls("addcredit")) == 1


def test_crash_after_claim_resumes_from_the_intent(app, billing, peers):
    """A claim made but never recorded (crash) is claimed again by reference and charged once."""
    from balance_service.autobill import open_run, run_autobill
    from balance_service.jobs import cdr_api, rating_api, whmcs_client

    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=3, amount="3.00", calls=2)
    now = dt.datetime.now(dt.UTC)
    db = app.extensions["db"]
    run_id, _ = open_run(db, "daily:crash", "daily", now)
    with db.session() as session:
        session.add(ClaimIntent(run_id=run_id, service_id=7, client_id=42, billing_mode="prepaid"))
    with app.app_context():
        cdr_api().claim(7, "daily:crash:7", now)  # the claim the crashed attempt made
        report = run_autobill(db, whmcs_client(), cdr_api(), rating_api(), "daily:crash", "daily", now)
    assert report["charges"] == 1 and report["charged"] == "3.00"
    assert billing.state.clients[42].credit == Decimal("47.00")


def test_lost_reply_run_is_incomplete_then_finishes_with_the_same_credit_log(app, billing, peers):
    """A lost AddCredit reply leaves the run incomplete; resuming finds the credit and finishes without reposting."""
    from balance_service.autobill import run_autobill
    from balance_service.jobs import cdr_api, rating_api, whmcs_client

    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=3, amount="3.00", calls=2)
    billing.state.faults.append(Fault("addcredit", "lost_reply", remaining=1))
    now = dt.datetime.now(dt.UTC)
    db = app.extensions["db"]
    with app.app_context():
        first = run_autobill(db, whmcs_client(), cdr_api(), rating_api(), "daily:lost", "daily", now)
        assert first["unresolved"] == ["daily:lost:7"]
        # Calls synced after the first attempt wait for the next run; the resumed run keeps its services.
        peers.add_service(8, 42, product_id=3, amount="1.00", calls=1)
        second = run_autobill(db, whmcs_client(), cdr_api(), rating_api(), "daily:lost", "daily", now)
    assert second["unresolved"] == [] and len(billing.state.credit_log) == 1
    assert second["charges"] == 1 and peers.claim_calls == ["daily:lost:7"]
    with db.session() as session:
        assert session.scalar(select(Run.status).where(Run.run_key == "daily:lost")) == "finished"


def test_balance_suspension_writes_back_emails_once_and_payment_restores(app, client, billing, peers, redis_conn):
    """Zero credit suspends every VoIP service, writes Yes, queues one zero-balance email; a payment restores."""
    seed(billing, credit="0.00")
    peers.add_service(7, 42)
    peers.add_service(8, 42)
    invoice_id = owe(billing, 42, "4.00")
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "test")
    run_jobs(app, "balance")
    assert billing.state.clients[42].customfields[3] == "Yes"
    assert queued(redis_conn, "cdr") == [
        ("cdr_service.jobs.suspend_service", (7, "client:42:1:7:suspend")),
        ("cdr_service.jobs.suspend_service", (8, "client:42:1:8:suspend")),
    ]
    assert queued(redis_conn, "notify") == [
        ("notify_service.jobs.send", ("zero-balance:42:1", "VoIP Zero Balance", 42, {})),
    ]
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "again")
    run_jobs(app, "balance")
    assert len(queued(redis_conn, "notify")) == 1
    for service in peers.services:
        service["suspended"] = True
    billing.state.clients[42].credit = Decimal("20.00")
    billing.state.invoices[invoice_id].status = "Paid"
    accepted = client.post("/v1/events/whmcs", json={"event": "InvoicePaid", "invoice_id": invoice_id})
    assert accepted.status_code == 202 and accepted.json["accepted"] is True
    run_jobs(app, "balance")
    assert billing.state.clients[42].customfields[3] == "None"
    assert ("cdr_service.jobs.unsuspend_service", (7, "client:42:1:7:unsuspend")) in queued(redis_conn, "cdr")
    assert ("notify_service.jobs.send", ("restored:42:1", "VoIP Service Restored", 42, {})) in queued(
        redis_conn, "notify"
    )
    events = client.get("/v1/clients/42").json["events"]
    assert [e["kind"] for e in events] == ["restored", "suspended"]
    assert events[0]["actor"] == "whmcs InvoicePaid"


def test_manual_suspend_sends_no_zero_balance_email(app, billing, peers, redis_conn):
    """Manual VoIP Suspend = Yes suspends the services but is not a balance suspension: no zero-balance email."""
    seed(billing, credit="100.00", manual="Yes")
    peers.add_service(7, 42)
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "test")
    run_jobs(app, "balance")
    assert queued(redis_conn, "cdr") == [("cdr_service.jobs.suspend_service", (7, "client:42:1:7:suspend"))]
    assert queued(redis_conn, "notify") == []


def test_client_without_voip_is_never_suspended(app, billing, peers, redis_conn):
    """Has VoIP Service = No: zero credit changes nothing."""
    seed(billing, credit="0.00", voip="No")
    peers.add_service(7, 42)
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "test")
    run_jobs(app, "balance")
    assert queued(redis_conn, "cdr") == [] and billing.state.clients[42].customfields[3] == "None"


def test_low_balance_alert_is_queued_once_a_day(app, billing, peers, redis_conn):
    """Credit below the threshold queues one Low Balance Alert keyed by client and date."""
    seed(billing, credit="3.00", threshold="5")
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "a")
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "b")
    run_jobs(app, "balance")
    assert queued(redis_conn, "notify") == [
        (
            "notify_service.jobs.send",
            (f"low-balance:42:{TODAY}", "Low Balance Alert", 42, {"reminder": False, "threshold": "5"}),
        )
    ]


def test_admin_hold_survives_a_clear_balance_until_unsuspend(app, client, billing, peers, redis_conn):
    """A top-up restores the client's services except the one an admin suspended; only Unsuspend releases it."""
    seed(billing, credit="0.00")
    peers.add_service(7, 42)
    peers.add_service(8, 42)
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "zero")
    run_jobs(app, "balance")
    held = client.post("/v1/services/8/suspend", json={"reason": "fraud check"})
    assert held.status_code == 200 and held.json["held"] is True
    for service in peers.services:
        service["suspended"] = True
    billing.state.clients[42].credit = Decimal("100.00")
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "topped up")
    run_jobs(app, "balance")
    assert client.get("/v1/clients/42").json["voip_state"] == "active"
    unsuspends = [args for name, args in queued(redis_conn, "cdr") if name == "cdr_service.jobs.unsuspend_service"]
    assert unsuspends == [(7, "client:42:1:7:unsuspend")]
    released = client.post("/v1/services/8/unsuspend", json={})
    assert released.json["pbx_action"].startswith("admin:8:") and released.json["pbx_action"].endswith(":unsuspend")
    assert queued(redis_conn, "cdr")[-1] == ("cdr_service.jobs.unsuspend_service", (8, released.json["pbx_action"]))
    assert client.get("/v1/clients/42").json["held_services"] == []


def test_admin_unsuspend_leaves_a_balance_suspended_client_off(app, client, billing, peers, redis_conn):
    """Lifting an admin hold on a client suspended for balance does not turn the service back on."""
    seed(billing, credit="0.00")
    peers.add_service(7, 42)
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "zero")
    run_jobs(app, "balance")
    client.post("/v1/services/7/suspend", json={})
    released = client.post("/v1/services/7/unsuspend", json={})
    assert released.status_code == 200 and released.json["pbx_action"] is None
    assert [name for name, _ in queued(redis_conn, "cdr")].count("cdr_service.jobs.unsuspend_service") == 0


def test_merge_data_for_notify(client, billing, peers):
    """Merge data gives money as strings, the due invoices balance and custom fields by WHMCS name."""
    seed(billing, credit="12.5", threshold="10")
    billing.state.services[7] = Service(7, 42, 3, name="VoIP Basic")
    owe(billing, 42, "2.25")
    data = client.get("/internal/clients/42/merge-data").json
    assert data["credit"] == "12.50" and data["due_invoices_balance"] == "2.25"
    assert (data["currency_prefix"], data["currency_suffix"]) == ("$", " USD")
    assert data["custom_fields"]["Low Balance Threshold"] == "10"
    assert data["services"] == [{"service_id": 7, "product": "VoIP Basic", "usage_current_period": "0.00"}]


def test_unknown_client_is_404(client, billing):
    """A client WHMCS does not know answers 404 in the common envelope."""
    response = client.get("/v1/clients/999")
    assert response.status_code == 404 and response.json["error"]["code"] == "client_not_found"


def test_frequent_run_charges_only_realtime_services(app, billing, peers, redis_conn):
    """The frequent run charges realtime packages and leaves daily ones for the daily run."""
    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=3, amount="3.00", calls=2)
    peers.add_service(9, 42, product_id=5, amount="1.25", calls=1)
    enqueue(redis_conn, "balance", "balance_service.jobs.autobill", "frequent:s1", "frequent")
    run_jobs(app, "balance")
    assert [e.amount for e in billing.state.credit_log] == [Decimal("-1.25")]
    assert peers.claim_calls == ["frequent:s1:9"]


def test_product_without_package_is_reported_not_charged(app, client, billing, peers, redis_conn):
    """A billable service whose product has no package is listed in the run report and not claimed."""
    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=77, amount="3.00", calls=2)
    enqueue(redis_conn, "balance", "balance_service.jobs.autobill", "daily:np", "daily")
    run_jobs(app, "balance")
    report = client.get("/v1/runs").json["items"][0]["report"]
    assert report["skipped"] == [{"service_id": 7, "reason": "no package for the product"}]
    assert peers.claim_calls == [] and billing.state.credit_log == []


def test_autosuspend_evaluates_voip_clients_and_survives_one_failure(app, client, billing, peers, redis_conn):
    """Autosuspend acts on every Has VoIP client; a client deleted from WHMCS is reported, the rest proceed."""
    seed(billing, client_id=1, credit="0.00")
    seed(billing, client_id=2, credit="9.00")
    seed(billing, client_id=3, credit="0.00", voip="No")
    seed(billing, client_id=4, credit="0.00")
    enqueue(redis_conn, "balance", "balance_service.jobs.sync_clients", "2026-11-25")
    run_jobs(app, "balance")
    del billing.state.clients[4]
    job, _ = enqueue(redis_conn, "balance", "balance_service.jobs.autosuspend", "slot-9", job_id="autosuspend:slot-9")
    run_jobs(app, "balance")
    result = job.return_value()
    assert result["evaluated"] == 3
    assert [c["client_id"] for c in result["changed"]] == [1]
    assert [e["client_id"] for e in result["errors"]] == [4]
    assert client.get("/v1/clients/3").json["voip_state"] == "active"


@pytest.mark.parametrize(("outcome", "items"), [("posted", 1), ("not_posted", 2)])
def test_admin_resolves_an_unverified_billable_item_and_the_run_finishes(
    app, client, billing, peers, redis_conn, outcome, items
):
    """After a lost AddBillableItem reply the admin says whether it landed; the resumed run finishes accordingly."""
    from balance_service.autobill import run_autobill
    from balance_service.jobs import cdr_api, rating_api, whmcs_client

    seed(billing)
    billing.state.services[8] = Service(8, 42, 4)
    peers.add_service(8, 42, product_id=4, amount="2.50", calls=4)
    billing.state.faults.append(Fault("addbillableitem", "lost_reply", remaining=1))
    with app.app_context():
        report = run_autobill(
            app.extensions["db"], whmcs_client(), cdr_api(), rating_api(), "daily:r", "daily", dt.datetime.now(dt.UTC)
        )
    assert report["unresolved"] == ["daily:r:8"]
    [open_posting] = report["open_postings"]
    assert (open_posting["kind"], open_posting["status"], open_posting["amount"]) == (
        "billable_item",
        "unverified",
        "2.50",
    )
    posting_id = open_posting["id"]
    resolved = client.post(f"/v1/postings/{posting_id}/resolve", json={"outcome": outcome})
    assert resolved.status_code == 200, resolved.json
    run_jobs(app, "balance")
    # The lost call did land, so a wrong `not_posted` shows as a second item: the admin's word is followed.
    assert len(billing.state.billable_items) == items
    assert client.get("/v1/runs").json["items"][0]["status"] == "finished"
    again = client.post(f"/v1/postings/{posting_id}/resolve", json={"outcome": outcome})
    assert again.status_code == 409


@pytest.mark.smoke
def test_openapi_describes_every_route(client):
    """/openapi.json lists the balance routes from the same schemas the routes use."""
    paths = client.get("/openapi.json").json["paths"]
    for path in (
        "/v1/settings/whmcs",
        "/internal/clients/{client_id}/merge-data",
        "/v1/runs",
        "/v1/runs/{run_ref}",
        "/v1/runs/{run_ref}/charges",
        "/v1/clients/{client_id}",
        "/v1/events/whmcs",
        "/v1/services/{service_id}/suspend",
        "/v1/services/{service_id}/unsuspend",
        "/v1/postings/{posting_id}/resolve",
    ):
        assert path in paths, path


def test_a_run_held_by_another_worker_is_not_worked_twice(app, billing, peers, redis_conn):
    """While one worker holds a run key, a second trigger of it backs off and posts nothing."""
    from balance_service.jobs import RunBusy, autobill

    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=3, amount="3.00", calls=2)
    lock = redis_conn.lock("balance:autobill:daily:busy", timeout=30)
    assert lock.acquire(blocking=False)
    with app.app_context(), pytest.raises(RunBusy):
        autobill("autobill:daily:busy", "daily")
    assert billing.state.credit_log == [] and peers.claim_calls == []
    lock.release()
    with app.app_context():
        assert autobill("autobill:daily:busy", "daily")["charged"] == "3.00"


def test_clearing_manual_suspend_while_short_keeps_suspended_and_a_top_up_restores(
    app, client, billing, peers, redis_conn
):
    """Manual flag cleared at zero credit: still suspended, now by balance; a later top-up restores with an email."""
    seed(billing, credit="10.00", manual="Yes")
    peers.add_service(7, 42)
    owe(billing, 42, "4.00")
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "manual")
    run_jobs(app, "balance")
    billing.state.clients[42].customfields[2] = "No"
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "cleared")
    run_jobs(app, "balance")
    view = client.get("/v1/clients/42").json
    assert (view["voip_state"], view["suspended_by"]) == ("suspended", "balance")
    billing.state.invoices.clear()
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "paid")
    run_jobs(app, "balance")
    assert client.get("/v1/clients/42").json["voip_state"] == "active"
    assert ("notify_service.jobs.send", ("restored:42:1", "VoIP Service Restored", 42, {})) in queued(
        redis_conn, "notify"
    )


def test_next_run_finishes_a_run_left_unfinished_by_a_dead_worker(app, client, billing, peers, redis_conn):
    """Charges recorded by a run whose worker died are posted by the next run before its own."""
    from balance_service.autobill import open_run
    from balance_service.jobs import cdr_api

    seed(billing, credit="50.00")
    peers.add_service(7, 42, product_id=3, amount="3.00", calls=2)
    db = app.extensions["db"]
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    run_id, _ = open_run(db, "daily:dead", "daily", earlier)
    with db.session() as session:
        session.add(ClaimIntent(run_id=run_id, service_id=7, client_id=42, billing_mode="prepaid"))
    with app.app_context():
        cdr_api().claim(7, "daily:dead:7", earlier)
    enqueue(redis_conn, "balance", "balance_service.jobs.autobill", "autobill:daily:next", "daily")
    run_jobs(app, "balance")
    assert [e.description.endswith("[TG daily:dead:7]") for e in billing.state.credit_log] == [True]
    runs = {run["run_key"]: run for run in client.get("/v1/runs").json["items"]}
    assert runs["daily:dead"]["status"] == "finished"
    assert runs["daily:next"]["report"]["resumed_runs"] == [{"run_key": "daily:dead", "unresolved": [], "failures": []}]
