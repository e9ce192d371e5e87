"""Posting charges to the WHMCS simulator (billing-rules §5): credit first, invoice the rest, exactly once."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal

import pytest
from sqlalchemy import select

from balance_service.ledger import POSTPAID, PREPAID, charge_reference, record_charge
from balance_service.models import Charge, Posting, Run, ServiceCarry
from balance_service.posting import POSTED, SENDING, UNVERIFIED, Poster, add_to_line
from tollgate_sim.whmcs.state import Client, Fault, Service

CUTOFF = dt.datetime(2026, 11, 25, 0, 55, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 25)


def seed_client(sim, client_id: int = 42, credit: str = "10.00") -> None:
    sim.state.clients[client_id] = Client(client_id, "Ada", "Lovelace", "ada@example.test", credit=Decimal(credit))


def make_run(db, run_key: str = "daily:2026-11-25") -> int:
    with db.session() as session:
        run = Run(run_key=run_key, mode="daily", cutoff=CUTOFF)
        session.add(run)
        session.flush()
        return run.id


def charge(db, run_id: int, service_id: int, amount: str, mode: str = PREPAID, client_id: int = 42, **claim) -> Charge:
    with db.session() as session:
        run = session.get(Run, run_id)
        reference = charge_reference(run.run_key, service_id)
        body = {"claim_ref": reference, "amount": amount, "calls": 3, "cdr_ids": [1, 2, 3], **claim}
        return record_charge(session, run, body, client_id, mode)


def post(db, sim, run_id: int, client_id: int = 42, timeout: float = 5.0):
    return Poster(db, sim.client(timeout), run_id, client_id, TODAY).post()


def credit_log(sim, client_id: int = 42) -> list[tuple[str, str]]:
    return [(e.description, format(e.amount, "f")) for e in sim.state.credit_log if e.clientid == client_id]


def test_prepaid_charge_is_taken_from_credit(db, whmcs_sim):
    """A prepaid charge within the credit is one AddCredit remove carrying the charge reference."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "3.214")
    outcome = post(db, whmcs_sim, run_id)
    assert outcome.errors == [] and outcome.unresolved == []
    assert outcome.posted == {"credit_remove": Decimal("3.21")}
    assert whmcs_sim.state.clients[42].credit == Decimal("6.79")
    [(description, amount)] = credit_log(whmcs_sim)
    assert amount == "-3.21" and "[TG daily:2026-11-25:7]" in description and "3 calls" in description
    assert whmcs_sim.state.invoices == {}


def test_short_credit_takes_what_is_there_and_invoices_the_rest_one_line_per_service(db, whmcs_sim):
    """With 5.00 credit and 8.00 of charges, 5.00 is removed and one invoice due today carries the 3.00 left."""
    seed_client(whmcs_sim, credit="5.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "4.00")
    charge(db, run_id, 8, "4.00")
    post(db, whmcs_sim, run_id)
    assert whmcs_sim.state.clients[42].credit == Decimal("0.00")
    [invoice] = whmcs_sim.state.invoices.values()
    assert (invoice.status, invoice.duedate, invoice.total) == ("Unpaid", TODAY.isoformat(), Decimal("3.00"))
    assert [item.amount for item in invoice.items] == [Decimal("3.00")]
    assert "service #8" in invoice.items[0].description
    assert "[TG daily:2026-11-25:client:42]" in invoice.notes
    assert whmcs_sim.state.outstanding(42) == Decimal("3.00")


def test_no_credit_invoices_every_service_on_its_own_line(db, whmcs_sim):
    """At zero credit nothing is removed and the invoice has one line per service."""
    seed_client(whmcs_sim, credit="0.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "1.50")
    charge(db, run_id, 8, "2.25")
    post(db, whmcs_sim, run_id)
    assert whmcs_sim.calls("addcredit") == []
    [invoice] = whmcs_sim.state.invoices.values()
    assert [item.amount for item in invoice.items] == [Decimal("1.50"), Decimal("2.25")]


def test_postpaid_charge_goes_to_the_next_invoice_and_keeps_the_due_date(db, whmcs_sim):
    """A postpaid charge is a billable item for the next invoice; credit and the next due date are untouched."""
    seed_client(whmcs_sim, credit="10.00")
    whmcs_sim.state.services[7] = Service(7, 42, 3, nextduedate="2026-12-01")
    run_id = make_run(db)
    charge(db, run_id, 7, "12.345", mode=POSTPAID)
    post(db, whmcs_sim, run_id)
    [item] = whmcs_sim.state.billable_items.values()
    assert (item.amount, item.invoiceaction, item.clientid) == (Decimal("12.35"), "nextinvoice", 42)
    assert "[TG daily:2026-11-25:7]" in item.description
    assert whmcs_sim.state.clients[42].credit == Decimal("10.00")
    assert whmcs_sim.state.services[7].nextduedate == "2026-12-01"
    assert whmcs_sim.calls("updateclientproduct") == []


def test_posting_twice_sends_nothing_the_second_time(db, whmcs_sim):
    """Re-running a finished client posting makes no WHMCS write at all."""
    seed_client(whmcs_sim, credit="2.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "5.00")
    post(db, whmcs_sim, run_id)
    writes = len(whmcs_sim.calls("addcredit")) + len(whmcs_sim.calls("createinvoice"))
    post(db, whmcs_sim, run_id)
    assert len(whmcs_sim.calls("addcredit")) + len(whmcs_sim.calls("createinvoice")) == writes == 2


def test_recording_a_charge_twice_returns_the_first(db):
    """The same claim recorded twice is one charge, and the carry is consumed once."""
    run_id = make_run(db)
    first = charge(db, run_id, 7, "1.004")
    second = charge(db, run_id, 7, "1.004")
    assert first.id == second.id
    with db.session() as session:
        assert session.get(ServiceCarry, 7).carry == Decimal("0.004")


def test_sub_cent_carry_keeps_posted_total_within_half_a_cent_of_rated(db, whmcs_sim):
    """Over many runs of 0.0049 each, the total posted stays within half a cent of the total rated."""
    seed_client(whmcs_sim, credit="100.00")
    rated = Decimal(0)
    for day in range(1, 12):
        run_id = make_run(db, f"daily:2026-11-{day:02d}")
        charge(db, run_id, 7, "0.0049")
        rated += Decimal("0.0049")
        post(db, whmcs_sim, run_id)
        posted = Decimal("100.00") - whmcs_sim.state.clients[42].credit
        assert abs(posted - rated) <= Decimal("0.005")
    assert posted == Decimal("0.05")


def test_negative_adjustment_is_given_back_as_credit(db, whmcs_sim):
    """A rerate in the client's favour larger than new usage is added back to credit, never invoiced."""
    seed_client(whmcs_sim, credit="1.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "0.50", adjustment="-2.00")
    post(db, whmcs_sim, run_id)
    assert whmcs_sim.state.clients[42].credit == Decimal("2.50")
    [(description, amount)] = credit_log(whmcs_sim)
    assert amount == "1.50" and "correction" in description


def test_lost_reply_then_rerun_leaves_the_same_credit_log_as_without_the_fault(db, whmcs_sim, other_whmcs_sim):
    """AddCredit applied but its reply lost: the rerun finds it by reference and the credit log matches a clean run."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "3.00")
    charge(db, run_id, 8, "2.00")
    whmcs_sim.state.faults.append(Fault("addcredit", "lost_reply", remaining=1))
    first = post(db, whmcs_sim, run_id)
    assert first.unresolved == ["daily:2026-11-25:7"]
    with db.session() as session:
        assert session.scalar(select(Posting.status).where(Posting.reference == "daily:2026-11-25:7")) == UNVERIFIED
    second = post(db, whmcs_sim, run_id)
    assert second.unresolved == []
    faulty_log = credit_log(whmcs_sim)

    with db.session() as session:
        for posting in session.scalars(select(Posting)):
            session.delete(posting)
    seed_client(other_whmcs_sim, credit="10.00")
    post(db, other_whmcs_sim, run_id)
    assert faulty_log == credit_log(other_whmcs_sim)
    assert len(faulty_log) == 2 and whmcs_sim.state.clients[42].credit == Decimal("5.00")


def test_crash_between_marking_and_sending_posts_once_after_lookup(db, whmcs_sim):
    """A posting left `posting` by a crash before the call is looked up, not found, then sent once."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "3.00")
    poster = Poster(db, whmcs_sim.client(), run_id, 42, TODAY)
    [posting_id] = poster._ensure_plan()
    with db.session() as session:
        session.get(Posting, posting_id).status = SENDING
    post(db, whmcs_sim, run_id, timeout=1.0)  # the resume first waits out the timeout of a send in flight
    assert [entry["action"] for entry in whmcs_sim.state.api_log].count("getcredits") == 1
    assert credit_log(whmcs_sim) == [(credit_log(whmcs_sim)[0][0], "-3.00")]


def test_a_resume_started_while_the_old_send_is_in_flight_waits_for_it_instead_of_sending_again(db, whmcs_sim):
    """Lock lost (Redis restarted) mid-send: a second attempt finds the posting `posting` and must not resend it
    before the first call's timeout has passed; it then finds the credit removal by its reference."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "3.00")
    whmcs_sim.state.faults.append(Fault("addcredit", "latency", seconds=1.0))
    first = threading.Thread(target=post, args=(db, whmcs_sim, run_id), kwargs={"timeout": 2.0})
    first.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with db.session() as session:
            if session.scalar(select(Posting.status)) == SENDING:
                break
        time.sleep(0.01)
    began = time.monotonic()
    outcome = post(db, whmcs_sim, run_id, timeout=2.0)  # the resume, while the first call sleeps in WHMCS
    first.join()
    assert time.monotonic() - began >= 2.0  # waited out the first attempt's timeout before looking
    assert outcome.unresolved == [] and outcome.posted == {"credit_remove": Decimal("3.00")}
    assert [amount for _description, amount in credit_log(whmcs_sim)] == ["-3.00"]
    assert whmcs_sim.state.clients[42].credit == Decimal("7.00")


def test_credit_spent_elsewhere_moves_the_shortfall_to_the_invoice(db, whmcs_sim):
    """When credit drops between planning and sending, the removal shrinks and the invoice takes the rest."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "6.00")
    poster = Poster(db, whmcs_sim.client(), run_id, 42, TODAY)
    poster._ensure_plan()
    whmcs_sim.state.clients[42].credit = Decimal("4.00")
    poster.post()
    assert whmcs_sim.state.clients[42].credit == Decimal("0.00")
    [invoice] = whmcs_sim.state.invoices.values()
    assert invoice.total == Decimal("2.00")
    with db.session() as session:
        statuses = {p.kind: (p.status, p.amount) for p in session.scalars(select(Posting))}
    assert statuses == {"credit_remove": (POSTED, Decimal("4.00")), "invoice": (POSTED, Decimal("2.00"))}


def test_php_error_page_on_invoice_is_retried_later_without_duplicate(db, whmcs_sim):
    """A PHP fatal error (nothing applied) leaves the invoice planned; the next attempt creates it once."""
    seed_client(whmcs_sim, credit="0.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "3.00")
    whmcs_sim.state.faults.append(Fault("createinvoice", "error500", remaining=1))
    first = post(db, whmcs_sim, run_id)
    assert first.unresolved == ["daily:2026-11-25:client:42"]
    post(db, whmcs_sim, run_id)
    assert len(whmcs_sim.state.invoices) == 1


def test_postpaid_lost_reply_is_held_for_an_admin_not_reposted(db, whmcs_sim):
    """A billable item whose reply was lost cannot be looked up in WHMCS, so it is held, never posted twice."""
    seed_client(whmcs_sim)
    run_id = make_run(db)
    charge(db, run_id, 7, "3.00", mode=POSTPAID)
    whmcs_sim.state.faults.append(Fault("addbillableitem", "lost_reply", remaining=1))
    post(db, whmcs_sim, run_id)
    second = post(db, whmcs_sim, run_id)
    assert second.unresolved == ["daily:2026-11-25:7"]
    assert len(whmcs_sim.state.billable_items) == 1


def test_timed_out_credit_removal_is_found_by_reference(db, whmcs_sim):
    """A removal that timed out on our side but completed in WHMCS is found on the next attempt, not re-sent."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "3.00")
    whmcs_sim.state.faults.append(Fault("addcredit", "timeout", remaining=1, seconds=0.6))
    first = post(db, whmcs_sim, run_id, timeout=0.3)
    assert first.unresolved == ["daily:2026-11-25:7"]
    deadline = time.monotonic() + 3
    while not whmcs_sim.state.credit_log and time.monotonic() < deadline:
        time.sleep(0.05)
    post(db, whmcs_sim, run_id)
    assert len(credit_log(whmcs_sim)) == 1 and whmcs_sim.state.clients[42].credit == Decimal("7.00")


def test_rerating_adjustment_is_added_to_the_next_charge(db, whmcs_sim):
    """A rerate that found 0.25 more is posted as part of the next charge, not as a second full charge."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "1.00", adjustment="0.25")
    post(db, whmcs_sim, run_id)
    assert [amount for _description, amount in credit_log(whmcs_sim)] == ["-1.25"]


def test_credit_gone_after_planning_moves_every_removal_onto_one_invoice(db, whmcs_sim):
    """When the credit is spent between planning and sending, one invoice gets a line per service."""
    seed_client(whmcs_sim, credit="10.00")
    run_id = make_run(db)
    charge(db, run_id, 7, "6.00")
    charge(db, run_id, 8, "3.00")
    poster = Poster(db, whmcs_sim.client(), run_id, 42, TODAY)
    poster._ensure_plan()
    whmcs_sim.state.clients[42].credit = Decimal("0.00")
    poster.post()
    [invoice] = whmcs_sim.state.invoices.values()
    assert [(item.description.split(":")[0], item.amount) for item in invoice.items] == [
        ("VoIP usage, service #7", Decimal("6.00")),
        ("VoIP usage, service #8", Decimal("3.00")),
    ]


@pytest.mark.smoke
def test_a_second_shortfall_on_a_charge_merges_into_its_line():
    """A charge that falls short twice keeps one invoice line, with both shortfalls added."""
    first = {"charge_reference": "d:7", "service_id": 7, "description": "svc 7", "amount": "1.00"}
    other = {"charge_reference": "d:8", "service_id": 8, "description": "svc 8", "amount": "2.00"}
    merged = add_to_line([first, other], {**first, "amount": "0.50"})
    assert [(line["charge_reference"], line["amount"]) for line in merged] == [("d:7", "1.50"), ("d:8", "2.00")]
