"""A full billing day through the real processes: sync, rate, charge, suspend, email, restore (issue 7).

The calls are the hand-written ones of conftest.py; every expected figure below is worked out by hand
from docs/rating.md and spec/billing-rules.md (§4 rating, §5 charging, §6 suspension, §7 emails).
Tariff (gateway.demo): 1 USA/Canada 0.0100 6/6, 1800 toll-free 0, 1876 Jamaica 0.2200 60/60,
4420 London 0.0150 60/60, 447 UK mobile 0.1200 60/60, 4915 Germany mobile 0.1100 60/60; no 81 (Japan).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from conftest import ADMIN_KEY
from redis import Redis
from rq.job import Job

from gateway.demo import FUSIONPBX_EXTENSIONS, FUSIONPBX_TENANT, NEXT_DUE_IN_DAYS, Demo, DemoEnvironment

D = Decimal


def wait_for(check, timeout: float = 60, message: str = ""):
    """Poll `check()` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"not within {timeout} s: {message}")


# -- what each client's calls cost, by hand ------------------------------------------------------------
# Per call, as the client view shows it: number -> (billed seconds, free seconds, cost, reason).

MAPLE_101 = {  # Vodia, +25 %, 100 free minutes (6000 s) consumed in call-start order
    # 0.01 x 1.25 = 0.0125/min; 6/6: 5940 s stays 5940 s, all of it inside the pool (6000 - 5940 = 60 s left)
    "16135550101": (5940, 5940, D("0"), "billable"),
    # 150 s stays 150 s (6/6); the last 60 free seconds cover part: 0.0125 x 90 / 60 = 0.01875 -> 0.0188 (half-up)
    "16135550102": (150, 60, D("0.0188"), "billable"),
    # 10-digit NANP -> 16135550103; 6/6: 61 s -> 6 + ceil(55/6) x 6 = 66 s; 0.0125 x 66 / 60 = 0.01375 -> 0.0138
    "6135550103": (66, 0, D("0.0138"), "billable"),
    # 011 44 20...: London 0.015 x 1.25 = 0.01875/min; 60/60: 90 s -> 120 s; 0.01875 x 2 = 0.0375 (pool empty)
    "011442079460000": (120, 0, D("0.0375"), "billable"),
    "16135550104": (0, 0, D("0"), "unanswered"),
    "15195550100": (0, 0, D("0"), "inbound_not_billed"),  # inbound, shown under the DID it came in on
    "102": (0, 0, D("0"), "local"),
}
MAPLE_USAGE = D("0.0701")  # 0 + 0.0188 + 0.0138 + 0.0375
MAPLE_POSTED = D("0.07")  # 0.0701 to cents, half-up; carry 0.0701 - 0.07 = 0.0001

NORTHWIND_102 = {  # FusionPBX, +20 %, no free minutes, inbound not billed
    # 0.01 x 1.20 = 0.012/min; 6/6: 61 s -> 66 s; 0.012 x 66 / 60 = 0.0132
    "16135550123": (66, 0, D("0.0132"), "billable"),
    # UK mobile 0.12 x 1.20 = 0.144/min; 60/60: 1500 s = 25 min exactly; 0.144 x 25 = 3.6000
    "011447700900123": (1500, 0, D("3.60"), "billable"),
    # Germany mobile 0.11 x 1.20 = 0.132/min; 60/60: 1230 s -> 21 min = 1260 s; 0.132 x 21 = 2.7720
    "011491512345678": (1260, 0, D("2.772"), "billable"),
    "16135550124": (0, 0, D("0"), "unanswered"),
    "202": (0, 0, D("0"), "local"),
    "911": (0, 0, D("0"), "excluded"),  # exclude_from_billing 911: shown, never billed
    "15195550200": (0, 0, D("0"), "inbound_not_billed"),
    "0118131234567": (0, 0, D("0"), "no_rate"),  # Japan: unrated, not charged, listed in the run report
    # *97 matches the suppress filter *xx: not in the view at all
}
NORTHWIND_USAGE = D("6.3852")  # 0.0132 + 3.6000 + 2.7720
NORTHWIND_POSTED = D("6.39")  # 6.3852 half-up to cents; carry 6.3852 - 6.39 = -0.0048
NORTHWIND_FROM_CREDIT = D("6.00")  # all the credit there is (6.00) ...
NORTHWIND_INVOICED = D("0.39")  # ... and the rest on an invoice: 6.39 - 6.00

HARBOR_103 = {  # LesNet, postpaid, +15 %, inbound billed at the flat 0.0080/min in whole minutes (no markup)
    # 0.01 x 1.15 = 0.0115/min; 6/6: 125 s -> 6 + ceil(119/6) x 6 = 126 s; 0.0115 x 126 / 60 = 0.02415 -> 0.0242
    "12045551234": (126, 0, D("0.0242"), "billable"),
    # inbound on the DID 12045550300: 60/60: 125 s -> 180 s; 0.0080 x 3 = 0.0240
    "12045550300": (180, 0, D("0.024"), "billable"),
    # toll-free 1800 at 0: 300 s (6/6) cost 0
    "18005551234": (300, 0, D("0"), "billable"),
    "12045551235": (0, 0, D("0"), "unanswered"),
    # Jamaica 0.22 x 1.15 = 0.253/min; 60/60: 61 s -> 120 s; 0.253 x 2 = 0.5060
    "18765550100": (120, 0, D("0.506"), "billable"),
}
HARBOR_USAGE = D("0.5542")  # 0.0242 + 0.0240 + 0 + 0.5060
HARBOR_POSTED = D("0.55")  # 0.5542 half-up; carry 0.5542 - 0.55 = 0.0042


@pytest.fixture(scope="module")
def billed(day):
    """The day's daily autobill, then one autosuspend run, both waited for; returns the autobill outcome."""
    outcome = day.post("/cron/autobill", params={"mode": "daily", "wait": 120})
    assert outcome["status"] == "finished", outcome
    suspend = day.post("/cron/autosuspend", params={"run_key": "e2e-day-first", "wait": 60})
    assert suspend["status"] == "finished", suspend
    wait_for(lambda: len(day.messages()) >= 2, message="the low-balance and zero-balance emails")
    wait_for(
        lambda: (
            all(action["status"] == "done" for action in day.get("/v1/pbx-actions"))
            and "reloadxml" in day.esl_commands()
        ),
        message="the FusionPBX suspension done",
    )
    return outcome


def run_day(billed) -> str:
    """The date of the daily run's key (`autobill:daily:<date>`), as its references carry it."""
    return billed["run_key"].removeprefix("autobill:daily:")


def test_run_report_lists_what_was_charged_unrated_and_quarantined(day, billed):
    report = billed["result"]
    assert run_day(billed) in (day.seeded_on.isoformat(), datetime.now(UTC).date().isoformat())
    assert report["charges"] == 3
    assert report["calls"] == 4 + 3 + 4  # charged calls: Maple 4 (one free), Northwind 3, Harbor 4 (one at 0)
    assert D(report["rated"]) == MAPLE_USAGE + NORTHWIND_USAGE + HARBOR_USAGE == D("7.0095")
    assert D(report["charged"]) == MAPLE_POSTED + NORTHWIND_POSTED + HARBOR_POSTED == D("7.01")
    assert {kind: D(amount) for kind, amount in report["posted"].items()} == {
        "credit_remove": MAPLE_POSTED + NORTHWIND_FROM_CREDIT,  # 0.07 + 6.00 = 6.07
        "invoice": NORTHWIND_INVOICED,  # 0.39
        "billable_item": HARBOR_POSTED,  # 0.55
    }
    assert report["failures"] == [] and report["unresolved"] == [] and report["open_postings"] == []
    assert {"service_id": 102, "unrated": 1, "quarantined": 0} in report["cdr_report"]  # the Japan call
    # The Vodia record that ends before it starts, quarantined by this run's own sync after its cutoff.
    assert {"service_id": 101, "unrated": 0, "quarantined": 1} in report["cdr_report"]
    assert report["cdr_sync"] == "finished" and report["cdr_sync_failures"] == {}

    runs = day.get("/v1/runs")["items"]
    assert [(run["run_key"], run["status"]) for run in runs] == [(f"daily:{run_day(billed)}", "finished")]
    assert runs[0]["report"] == report
    assert day.get(f"/v1/runs/{runs[0]['id']}")["report"] == runs[0]["report"]

    charges = {charge["service_id"]: charge for charge in day.get(f"/v1/runs/{runs[0]['id']}/charges")["items"]}
    expected = {
        101: ("prepaid", 1, 4, MAPLE_USAGE, MAPLE_POSTED, D("0.0001")),
        102: ("prepaid", 2, 3, NORTHWIND_USAGE, NORTHWIND_POSTED, D("-0.0048")),
        103: ("postpaid", 3, 4, HARBOR_USAGE, HARBOR_POSTED, D("0.0042")),
    }
    for service_id, (mode, client_id, calls, usage, posted, carry) in expected.items():
        charge = charges[service_id]
        assert (charge["billing_mode"], charge["client_id"], charge["calls"]) == (mode, client_id, calls)
        assert len(charge["cdr_ids"]) == calls
        assert (D(charge["usage"]), D(charge["posted_amount"]), D(charge["carry_out"])) == (usage, posted, carry)
        assert D(charge["carry_in"]) == D(charge["adjustment"]) == 0
        assert charge["reference"] == f"daily:{run_day(billed)}:{service_id}"

    quarantined = day.get("/v1/cdrs/quarantine")
    assert [(row["service_id"], row["source_id"] != "", row["reason"]) for row in quarantined] == [
        (101, True, "connect: ends before it starts")
    ]


@pytest.mark.parametrize(
    ("service_id", "calls", "usage", "free_seconds"),
    [(101, MAPLE_101, MAPLE_USAGE, 6000), (102, NORTHWIND_102, NORTHWIND_USAGE, 0), (103, HARBOR_103, HARBOR_USAGE, 0)],
)
def test_client_view_shows_each_call_and_the_totals(day, billed, service_id, calls, usage, free_seconds):
    view = day.get(f"/v1/services/{service_id}/cdrs", period="current", per_page=50)
    shown = {
        row["number"] if row["direction"] != "outbound" else row["destination"]: (
            row["billed_seconds"],
            row["free_seconds"],
            D(row["cost"]),
            row["reason"],
        )
        for row in view["rows"]
    }
    assert shown == calls
    billed_seconds = sum(billed for billed, _, _, _ in calls.values())
    assert view["totals"]["calls"] == len(calls)
    assert D(view["totals"]["billed_minutes"]) == D(billed_seconds) / 60  # 101: 6276 s; 102: 2826 s; 103: 726 s
    assert D(view["totals"]["free_minutes"]) == D(free_seconds) / 60  # 101: 5940 + 60 = 6000 s = 100 min
    assert D(view["totals"]["amount"]) == usage
    assert "*97" not in {row["destination"] for row in view["rows"]}  # suppressed: never shown


def test_whmcs_credit_log_invoice_billable_item_and_custom_field(day, billed):
    def client(client_id):
        return day.sim(f"{day.whmcs}/_sim/clients/{client_id}")

    credits = day.sim(f"{day.whmcs}/_sim/credits")
    assert sorted((c["clientid"], D(c["amount"])) for c in credits) == [
        (1, -MAPLE_POSTED),  # -0.07
        (2, -NORTHWIND_FROM_CREDIT),  # -6.00
    ]
    for entry in credits:
        assert entry["description"].endswith(f"[TG daily:{run_day(billed)}:{100 + entry['clientid']}]")

    invoices = day.sim(f"{day.whmcs}/_sim/invoices", userid=2)
    assert len(invoices) == 1
    invoice = invoices[0]
    due_today = run_day(billed)
    assert (invoice["status"], D(invoice["total"]), invoice["duedate"]) == ("Unpaid", NORTHWIND_INVOICED, due_today)
    reference = f"[TG daily:{run_day(billed)}:102]"
    assert [(D(item["amount"]), reference in item["description"]) for item in invoice["items"]] == [
        (NORTHWIND_INVOICED, True)
    ]
    assert [invoice for invoice in day.sim(f"{day.whmcs}/_sim/invoices") if invoice["userid"] != 2] == []

    items = day.sim(f"{day.whmcs}/_sim/billable-items")
    assert [(i["clientid"], D(i["amount"]), i["invoiceaction"]) for i in items] == [(3, HARBOR_POSTED, "nextinvoice")]
    assert items[0]["description"].endswith(f"[TG daily:{run_day(billed)}:103]")

    # credit 50.00 - 0.07 = 49.93; 6.00 - 6.00 = 0.00 with 0.39 owed; postpaid 0.00 untouched
    balances = {cid: (D(client(cid)["credit"]), D(client(cid)["outstanding"])) for cid in (1, 2, 3)}
    assert balances == {1: (D("49.93"), D("0")), 2: (D("0"), D("0.39")), 3: (D("0"), D("0"))}
    # autobill never moves a next due date (the demo's is today + 10 days), nor suspends the WHMCS service itself
    due = (day.seeded_on + timedelta(days=NEXT_DUE_IN_DAYS)).isoformat()
    services = [day.sim(f"{day.whmcs}/_sim/services/{sid}") for sid in (101, 102, 103)]
    assert [(service["nextduedate"], service["status"]) for service in services] == [(due, "Active")] * 3
    # field 13 VoIP Suspended: Yes for the suspended client; None stays; the admin's No (exempt) stays
    assert {cid: client(cid)["customfields"]["13"] for cid in (1, 2, 3)} == {1: "None", 2: "Yes", 3: "No"}


def test_emails_low_balance_then_zero_balance_to_the_client_only(day, billed):
    messages = day.messages()
    assert sorted((m["to"], m["subject"]) for m in messages) == [
        (["noah@northwind.example"], "Outgoing calls paused on account 2"),  # VoIP Zero Balance
        (["noah@northwind.example"], "Your VoIP credit is running low (account 2)"),  # Low Balance Alert
    ]
    by_subject = {m["subject"]: m["text"] for m in messages}
    low = by_subject["Your VoIP credit is running low (account 2)"]
    assert "$0.00" in low and "5.00" in low  # credit 6.00 - 6.00 = 0.00 crossed the 5.00 threshold
    assert "$6.39" in low  # this period's usage of service 102
    zero = by_subject["Outgoing calls paused on account 2"]
    assert "$0.00" in zero and "$0.39" in zero  # credit, and the unpaid invoice 6.39 - 6.00


def test_pbx_suspension_on_fusionpbx_only(day, billed):
    actions = day.get("/v1/pbx-actions")
    assert [(a["service_id"], a["action"], a["strategy"], a["status"]) for a in actions] == [
        (102, "suspend", "extensions", "done")
    ]
    assert day.extensions_enabled() == {"201": "false", "202": "false", "203": "false"}
    tenant = FUSIONPBX_TENANT
    assert day.esl_commands() == [
        *(
            command
            for extension in FUSIONPBX_EXTENSIONS
            for command in (
                f"cache delete directory:{extension}@{tenant}",
                f"sofia profile internal flush_inbound_reg {extension}@{tenant} reboot",
            )
        ),
        "reloadxml",
    ]
    vodia = day.sim(f"{day.vodia}/_sim/state")["domains"]["maple.vodia.demo"]["accounts"]
    assert {account: settings["disabled"] for account, settings in vodia.items()} == {"101": "false", "102": "false"}
    peers = day.sim(f"{day.lesnet}/_sim/accounts/11330/peers")
    assert [(peer["enabled"], [did["enabled"] for did in peer["dids"]]) for peer in peers] == [(True, [True])]
    assert (day.get("/v1/clients/1")["voip_state"], day.get("/v1/clients/3")["voip_state"]) == ("active", "active")
    client2 = day.get("/v1/clients/2")
    assert (client2["voip_state"], client2["suspended_by"]) == ("suspended", "balance")


def whmcs_and_ledger(day) -> dict:
    """Everything a repeated run could change: WHMCS's credit log, invoices and billable items, and the ledger."""
    run_id = day.get("/v1/runs")["items"][0]["id"]
    return {
        "credits": day.sim(f"{day.whmcs}/_sim/credits"),
        "invoices": day.sim(f"{day.whmcs}/_sim/invoices"),
        "items": day.sim(f"{day.whmcs}/_sim/billable-items"),
        "clients": [day.sim(f"{day.whmcs}/_sim/clients/{cid}") for cid in (1, 2, 3)],
        "runs": day.get("/v1/runs"),
        "charges": day.get(f"/v1/runs/{run_id}/charges"),
        "views": [day.get(f"/v1/services/{sid}/cdrs", period="current", per_page=50) for sid in (101, 102, 103)],
    }


def test_the_same_day_again_charges_nothing_and_sends_nothing(day, billed):
    before = whmcs_and_ledger(day)
    messages = day.messages()

    same_day = {"mode": "daily", "run_key": f"daily:{run_day(billed)}", "wait": 120}
    again = day.post("/cron/autobill", params=same_day)
    assert (again["created"], again["result"]) == (False, billed["result"])
    assert whmcs_and_ledger(day) == before

    # Even once the queue has forgotten the job (its result expired), the day's run key is the same run.
    Job.fetch(again["job_id"], connection=Redis.from_url(day.stack.env["TOLLGATE_REDIS_URL"])).delete()
    forgotten = day.post("/cron/autobill", params=same_day)
    assert (forgotten["created"], forgotten["status"]) == (True, "finished")
    assert whmcs_and_ledger(day) == before

    suspend = day.post("/cron/autosuspend", params={"run_key": "e2e-day-second", "wait": 60})
    assert (suspend["status"], suspend["result"]["changed"], suspend["result"]["errors"]) == ("finished", [], [])
    time.sleep(2)  # a second email, if one were queued, would reach the sink well within this
    assert day.messages() == messages
    assert day.get("/v1/outbox")["total"] == 2


def test_top_up_and_payment_event_restore_calling_within_a_minute(day, billed):
    demo = Demo(DemoEnvironment.from_env(day.stack.gateway_url, ADMIN_KEY, day.stack.env))
    commands_before = len(day.esl_commands())
    started = time.monotonic()
    topped = demo.topup(2, D("20"))
    assert topped["event"]["event"] == "InvoicePaid" and len(topped["paid_invoices"]) == 1

    def restored():
        enabled = day.extensions_enabled() == {"201": "true", "202": "true", "203": "true"}
        reloaded = "reloadxml" in day.esl_commands()[commands_before:]
        done = all(action["status"] == "done" for action in day.get("/v1/pbx-actions"))
        return enabled and reloaded and done and day.get("/v1/clients/2")["voip_state"] == "active"

    wait_for(restored, timeout=60, message="client 2 restored after the top-up")
    elapsed = time.monotonic() - started
    assert elapsed < 60, f"restored after {elapsed:.1f} s"

    client = day.sim(f"{day.whmcs}/_sim/clients/2")
    # 0.00 + 20.00 added; the 0.39 invoice paid by the client's payment, not from credit
    assert (D(client["credit"]), D(client["outstanding"]), client["customfields"]["13"]) == (D("20.00"), 0, "None")
    assert [invoice["status"] for invoice in day.sim(f"{day.whmcs}/_sim/invoices", userid=2)] == ["Paid"]
    # the extensions are enabled in the database, their directory cache cleared, the XML reloaded
    assert day.esl_commands()[commands_before:] == [
        *(f"cache delete directory:{extension}@{FUSIONPBX_TENANT}" for extension in FUSIONPBX_EXTENSIONS),
        "reloadxml",
    ]
    actions = day.get("/v1/pbx-actions")
    assert sorted((a["service_id"], a["action"], a["status"]) for a in actions) == [
        (102, "suspend", "done"),
        (102, "unsuspend", "done"),
    ]
    restored_mail = wait_for(
        lambda: [m for m in day.messages() if m["subject"] == "Calling is back on account 2"], message="restored email"
    )
    assert [m["to"] for m in restored_mail] == [["noah@northwind.example"]]
