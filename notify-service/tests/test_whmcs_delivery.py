"""WHMCS delivery: SendEmail with the template name and customvars, against the WHMCS simulator over HTTP."""

import pytest
import requests
from sqlalchemy import select

from notify_service.models import OutboxMessage
from tollgate_common import phpserial
from tollgate_common.jobs import enqueue
from tollgate_common.testing import run_jobs
from tollgate_sim.whmcs import create_app as create_whmcs
from tollgate_sim.whmcs.phpserial import decode_base64

from .conftest import HttpServer

LOW_KEY = "low-balance:42:2026-11-25"


@pytest.fixture
def whmcs():
    with HttpServer(create_whmcs()) as server:
        requests.post(server.url + "/_sim/client-fields", json={"11": "Low Balance Threshold"}, timeout=10)
        requests.post(
            server.url + "/_sim/clients",
            json={
                "id": 42,
                "firstname": "Ada",
                "lastname": "Lovelace",
                "email": "ada@example.com",
                "credit": "3.50",
                "customfields": {"11": "10"},
            },
            timeout=10,
        )
        requests.post(
            server.url + "/_sim/templates",
            json={
                "name": "Low Balance Alert",
                "subject": "Credit low: {$client_credit}",
                "message": "Dear {$client_first_name}, usage {$voip_usage_current_period}, "
                "threshold {$client_custom_field_lowbalancethreshold}, reason {$reason}.",
            },
            timeout=10,
        )
        yield server


@pytest.fixture
def whmcs_app(make_app, whmcs):
    return make_app(delivery="whmcs", whmcs_url=whmcs.url, whmcs_identifier="sim-identifier", whmcs_secret="sim-secret")


def outbox_of(whmcs):
    return requests.get(whmcs.url + "/_sim/outbox", timeout=10).json()


def send(app, key, template="Low Balance Alert", extra=None):
    enqueue(app.extensions["redis"], "notify", "notify_service.jobs.send", key, template, 42, extra or {}, job_id=key)
    run_jobs(app, "notify")
    with app.extensions["db"].session() as session:
        return session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


@pytest.mark.smoke
def test_whmcs_renders_its_template_with_our_customvars(whmcs_app, whmcs, smtp):
    """SendEmail names the WHMCS template and client; WHMCS merges our usage fields and extras."""
    row = send(whmcs_app, LOW_KEY, extra={"reason": "below threshold"})
    [email] = outbox_of(whmcs)
    assert (email["messagename"], email["relid"], email["to"]) == ("Low Balance Alert", 42, "ada@example.com")
    assert email["subject"] == "Credit low: $3.50 USD"
    assert email["body"] == "Dear Ada, usage $6.40 USD, threshold 10, reason below threshold."
    # A PHP array arrives keyed by position, as unserialize() gives it.
    assert email["customvars"]["voip_services"] == {
        "0": {"service_id": "7", "product": "SIP Trunk", "usage_current_period": "$6.40 USD"}
    }
    assert (row.status, row.backend, row.to_address) == ("sent", "whmcs", "ada@example.com")
    assert smtp.messages == []


def test_the_same_key_twice_calls_sendemail_once(whmcs_app, whmcs):
    """A repeated job for one key does not make WHMCS send a second email."""
    send(whmcs_app, LOW_KEY)
    enqueue(
        whmcs_app.extensions["redis"],
        "notify",
        "notify_service.jobs.send",
        LOW_KEY,
        "Low Balance Alert",
        42,
        {},
        job_id="second-delivery",
    )
    run_jobs(whmcs_app, "notify")
    assert len(outbox_of(whmcs)) == 1


def test_a_whmcs_error_stays_visible_and_is_retried(make_app, whmcs):
    """WHMCS's own message (here a wrong secret) is kept in the outbox and the job is retried later."""
    app = make_app(delivery="whmcs", whmcs_url=whmcs.url, whmcs_identifier="sim-identifier", whmcs_secret="wrong")
    row = send(app, LOW_KEY)
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error == "WHMCS SendEmail failed: Authentication Failed"
    assert row.next_attempt_at is not None
    assert outbox_of(whmcs) == []


def test_a_template_missing_in_whmcs_is_reported(whmcs_app, whmcs):
    """A template WHMCS does not have fails with WHMCS's message, for the operator to create it."""
    row = send(whmcs_app, "zero-balance:42:3", template="VoIP Zero Balance")
    assert row.status == "failed"
    assert row.last_error == "WHMCS SendEmail failed: Email Template not found"


def test_admin_templates_still_go_by_smtp(whmcs_app, whmcs, smtp):
    """With WHMCS delivery, an admin template is rendered here and sent by SMTP to the admin."""
    send(whmcs_app, "manual-task:5", template="VoIP Manual Action", extra={"task_action": "unsuspend"})
    assert outbox_of(whmcs) == []
    [mail] = smtp.messages
    assert mail["to"] == ["noc@operator.example"]


def test_php_serialize_round_trips_through_the_simulator_decoder():
    """Our customvars encoding is what a PHP unserialize() reads, nested lists and UTF-8 included."""
    value = {"reason": "crédit épuisé", "count": 2, "voip_services": [{"product": "SIP"}]}
    decoded = decode_base64(phpserial.encode_base64(value))
    assert decoded["reason"] == "crédit épuisé"
    assert decoded["count"] == 2
    assert decoded["voip_services"] == {0: {"product": "SIP"}}
