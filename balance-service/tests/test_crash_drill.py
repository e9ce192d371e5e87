"""A crash before or after any WHMCS write of a run, then a rerun, ends as if nothing had crashed (§5)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from balance_service.autobill import run_autobill
from balance_service.jobs import cdr_api, rating_api
from balance_service.whmcs import Credentials, WhmcsClient
from tollgate_sim.whmcs.state import Client

WRITES_IN_RUN = 4
"""Client 42: two credit removals and an invoice; client 44: one credit given back."""


class Crash(BaseException):
    """Stands for the worker dying: nothing after it in the run gets to execute."""


class CrashingWhmcs(WhmcsClient):
    """A WHMCS client that dies just before, or just after, its n-th write."""

    def __init__(self, url: str, crash_at: int, when: str):
        super().__init__(Credentials(url, "sim-identifier", "sim-secret"), timeout=5, read_retries=0)
        self.crash_at, self.when, self.writes = crash_at, when, 0

    def call(self, action: str, *, write: bool, **params: Any) -> dict[str, Any]:
        if not write:
            return super().call(action, write=write, **params)
        self.writes += 1
        if self.writes == self.crash_at and self.when == "before":
            raise Crash
        reply = super().call(action, write=write, **params)
        if self.writes == self.crash_at and self.when == "after":
            raise Crash
        return reply


def whmcs_state(sim) -> dict[str, Any]:
    """What an operator would compare in WHMCS: credit logs, balances and invoices."""
    state = sim.state
    return {
        "credits": [(e.clientid, e.description, e.amount) for e in state.credit_log],
        "balances": {cid: c.credit for cid, c in state.clients.items()},
        "invoices": [
            (i.userid, i.notes, [(item.description, item.amount) for item in i.items]) for i in state.invoices.values()
        ],
    }


@pytest.fixture
def scenario(client, whmcs_sim, peers):
    body = {"url": whmcs_sim.url, "identifier": "sim-identifier", "secret": "sim-secret"}
    assert client.put("/v1/settings/whmcs", json=body).status_code == 200
    peers.packages = {3: {"billing_mode": "prepaid", "realtime": False}}
    whmcs_sim.state.clients[42] = Client(42, "Ada", "L", "ada@example.test", credit=Decimal("5.00"))
    whmcs_sim.state.clients[44] = Client(44, "Bo", "B", "bo@example.test", credit=Decimal("1.00"))
    peers.add_service(7, 42, amount="4.00", calls=3)
    peers.add_service(8, 42, amount="4.00", calls=2)
    peers.add_service(9, 44, amount="0.50", adjustment="-2.00", calls=1)
    return whmcs_sim


EXPECTED_CREDITS = [(42, Decimal("-4.00"), 7), (42, Decimal("-1.00"), 8), (44, Decimal("1.50"), 9)]


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("crash_at", range(1, WRITES_IN_RUN + 1))
def test_crash_at_any_write_then_rerun_matches_a_clean_run(app, scenario, crash_at, when):
    """Kill the run before or after each write, rerun it: WHMCS holds each posting exactly once."""
    db = app.extensions["db"]
    now = dt.datetime(2026, 11, 25, 0, 55, tzinfo=dt.UTC)
    with app.app_context():
        crashing = CrashingWhmcs(scenario.url, crash_at, when)
        with pytest.raises(Crash):
            run_autobill(db, crashing, cdr_api(), rating_api(), "daily:drill", "daily", now)
        # A resume waits out the in-flight window (the timeout) of a posting the crash left `posting`.
        clean = WhmcsClient(Credentials(scenario.url, "sim-identifier", "sim-secret"), timeout=1)
        report = run_autobill(db, clean, cdr_api(), rating_api(), "daily:drill", "daily", now)
    assert report["unresolved"] == [] and report["failures"] == []
    final = whmcs_state(scenario)
    credits = [
        (cid, amount, description.split("#")[1].split(" ")[0].rstrip(":"))
        for cid, description, amount in final["credits"]
    ]
    assert credits == [(cid, amount, str(service)) for cid, amount, service in EXPECTED_CREDITS]
    assert final["balances"] == {42: Decimal("0.00"), 44: Decimal("2.50")}
    [(userid, notes, items)] = final["invoices"]
    assert userid == 42 and "[TG daily:drill:client:42]" in notes
    assert [amount for _description, amount in items] == [Decimal("3.00")]
