"""A top-up restores a balance-suspended client within a minute: WHMCS hook -> event route -> real worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import requests

from tollgate_common.jobs import enqueue, get_queue
from tollgate_common.testing import TEST_INTERNAL_TOKEN, run_jobs, serve_app
from tollgate_sim.whmcs.state import Client, Invoice, InvoiceItem

WORKER = Path(sys.executable).parent / "balance-worker"
FIELDS = {"has_voip": 1, "manual_suspend": 2, "voip_suspended": 3, "low_balance_threshold": 4}
RESTORE_WITHIN_SECONDS = 60


def worker_env(database_url: str, redis_url: str, peers_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "BALANCE_DATABASE_URL": database_url,
        "TOLLGATE_REDIS_URL": redis_url,
        "TOLLGATE_INTERNAL_TOKEN": TEST_INTERNAL_TOKEN,
        "TOLLGATE_CDR_URL": peers_url,
        "TOLLGATE_RATING_URL": peers_url,
        "TOLLGATE_LOG_LEVEL": "WARNING",
    }


def test_top_up_restores_the_client_well_within_a_minute(
    app, client, whmcs_sim, peers, redis_conn, database_url, redis_url
):
    """Paying what is owed after adding funds: the hooks reach the event route and a real worker restores at once."""
    body = {"url": whmcs_sim.url, "identifier": "sim-identifier", "secret": "sim-secret", "client_fields": FIELDS}
    assert client.put("/v1/settings/whmcs", json=body).status_code == 200
    whmcs_sim.state.clients[42] = Client(
        42, "Ada", "Lovelace", "ada@example.test", credit=Decimal("0.00"), customfields={1: "Yes", 3: "None"}
    )
    invoice = Invoice(900, 42, "2026-11-01", "2026-11-15")
    invoice.items.append(InvoiceItem(1, "VoIP usage", Decimal("4.00")))
    whmcs_sim.state.invoices[invoice.id] = invoice
    peers.add_service(7, 42)
    enqueue(redis_conn, "balance", "balance_service.jobs.evaluate_client", 42, "autosuspend")
    run_jobs(app, "balance")
    assert client.get("/v1/clients/42").json["voip_state"] == "suspended"
    assert whmcs_sim.state.clients[42].customfields[3] == "Yes"
    # No cdr worker runs here: the suspend is still queued and cdr-service reports the service active.
    # The restore must queue the unsuspend all the same, or the late suspend would cut the paying client off.
    assert get_queue("cdr", redis_conn).job_ids == ["pbx_client_42_1_7_suspend"]

    worker = subprocess.Popen(
        [str(WORKER)],
        env=worker_env(database_url, redis_url, peers.url),
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with serve_app(app) as balance_url:
            # The WHMCS hook file posts to the event route with its key (here the service's own token).
            config = {
                "webhook_url": f"{balance_url}/v1/events/whmcs",
                "webhook_headers": {"X-Internal-Token": TEST_INTERNAL_TOKEN},
            }
            assert requests.put(f"{whmcs_sim.url}/_sim/config", json=config, timeout=5).json() == {"ok": True}
            time.sleep(1.0)  # let the worker start listening; the clock starts at the payment
            whmcs_sim.client().add_credit(42, Decimal("20.00"), "Add Funds", remove=False)
            paid_at = time.monotonic()
            paid = requests.post(f"{whmcs_sim.url}/_sim/payments", json={"invoiceid": 900}, timeout=5)
            assert paid.json()["status"] == "Paid"
            unsuspend_job = "pbx_client_42_1_7_unsuspend"  # queued after the pending suspend
            queued_after = written_after = None
            while time.monotonic() - paid_at < RESTORE_WITHIN_SECONDS and written_after is None:
                if queued_after is None and unsuspend_job in get_queue("cdr", redis_conn).job_ids:
                    queued_after = time.monotonic() - paid_at
                if queued_after is not None and whmcs_sim.state.clients[42].customfields[3] == "None":
                    written_after = time.monotonic() - paid_at
                time.sleep(0.05)
    finally:
        worker.terminate()
        worker.wait(timeout=15)

    hooks = [(h["event"], h.get("delivery_error")) for h in whmcs_sim.state.hook_log]
    assert ("InvoicePaid", None) in hooks and ("AddInvoicePayment", None) in hooks
    assert queued_after is not None and written_after is not None, "the client was not restored within a minute"
    print(f"top-up restore: PBX unsuspend queued after {queued_after:.2f} s, field written after {written_after:.2f} s")
    # "Within a minute" with a wide margin: the event route queues the evaluation, which needs no cron.
    assert written_after < 10
    view = client.get("/v1/clients/42").json
    assert (view["voip_state"], view["suspended_by"], view["credit"]) == ("active", None, "20.00")
    restored = get_queue("notify", redis_conn).fetch_job("restored_42_1")
    assert restored is not None and list(restored.args[:2]) == ["restored:42:1", "VoIP Service Restored"]
