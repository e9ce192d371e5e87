"""The notify HTTP API: templates are saved only when valid, and admins can read the outbox."""

from urllib.parse import quote

import pytest

from tollgate_common.jobs import enqueue
from tollgate_common.testing import run_jobs

from .conftest import free_port

LOW = "/v1/templates/" + quote("Low Balance Alert")


def send_now(app, key, template, client_id=42, extra=None):
    """Queue the send job as balance-service does and run it with a real RQ worker."""
    enqueue(app.extensions["redis"], "notify", "notify_service.jobs.send", key, template, client_id, extra or {})
    run_jobs(app, "notify")


def test_a_default_template_is_served_until_the_operator_saves_one(client):
    """GET returns the shipped default, marked as such."""
    response = client.get(LOW)
    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Low Balance Alert"
    assert body["is_default"] is True
    assert "{$client_credit}" in body["text"]
    assert body["recipient"] == "client"


@pytest.mark.smoke
def test_a_saved_template_is_used_for_the_next_email(app, client, smtp):
    """PUT stores the operator's template and the next email is rendered from it."""
    template = {
        "subject": "Low credit: {$client_credit}",
        "text": "Dear {$client_first_name},\n{if $client_credit < 5}Top up now.{else}All fine.{/if}\n",
        "html": "<p>Dear {$client_first_name|upper}</p>",
    }
    response = client.put(LOW, json=template)
    assert response.status_code == 200
    assert response.get_json()["is_default"] is False
    assert client.get(LOW).get_json()["subject"] == "Low credit: {$client_credit}"

    send_now(app, "low-balance:42:2026-11-26", "Low Balance Alert")
    [mail] = smtp.messages
    assert mail["subject"] == "Low credit: $3.50 USD"
    assert mail["text"] == "Dear Ada,\nTop up now.\n"
    assert mail["html"].strip() == "<p>Dear ADA</p>"


@pytest.mark.smoke
def test_a_template_naming_an_unknown_field_is_refused_with_the_known_fields(client):
    """`{$nope}` is refused with 422, the field and its line, and the list of known fields."""
    response = client.put(LOW, json={"subject": "Hi", "text": "Hello\n{$nope}"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert "nope" in error["message"]
    assert error["details"]["unknown_fields"] == {"text": ["nope (line 2)"]}
    known = error["details"]["known_fields"]
    assert {"client_credit", "client_name", "client_due_invoices_balance"} <= set(known)
    assert "client_custom_field_<name>" in known
    assert client.get(LOW).get_json()["is_default"] is True


def test_a_template_with_broken_syntax_is_refused_naming_the_part(client):
    """A syntax error is reported against the part (subject, text or html) and its line."""
    response = client.put(
        LOW, json={"subject": "{if $client_id > 1}x", "text": "ok", "html": "<p>{$client_id|php}</p>"}
    )
    assert response.status_code == 422
    details = response.get_json()["error"]["details"]["fields"]
    assert details["subject"] == "line 1: {if} is never closed with {/if}"
    assert details["html"].startswith("line 1: unknown modifier |php")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "hello"}, "subject"),
        ({"subject": "hi"}, "text"),
        ({"subject": "hi", "text": "x", "recipient": "everyone"}, "recipient"),
        ({"subject": "hi", "text": "x", "colour": "red"}, "colour"),
    ],
)
def test_a_malformed_template_body_names_the_field(client, body, field):
    """A missing, invalid or unexpected field in the body is named in the 422."""
    response = client.put(LOW, json=body)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["message"]


def test_an_unknown_template_is_404(client):
    """GET of a template that is neither saved nor a default is 404."""
    response = client.get("/v1/templates/" + quote("No Such Template"))
    assert response.status_code == 404
    assert "Low Balance Alert" in response.get_json()["error"]["details"]["templates"]


def test_template_list_and_merge_fields(client):
    """Admins can list templates and the merge fields a template may use."""
    names = [template["name"] for template in client.get("/v1/templates").get_json()["templates"]]
    assert names == ["Low Balance Alert", "VoIP Manual Action", "VoIP Service Restored", "VoIP Zero Balance"]
    merge = client.get("/v1/merge-fields").get_json()
    assert "client_custom_field_<name>" in merge["patterns"]
    services = next(field for field in merge["fields"] if field["name"] == "voip_services")
    assert services["item_fields"] == ["service_id", "product", "usage_current_period"]


def test_outbox_lists_messages_by_status(make_app, client, smtp):
    """`GET /v1/outbox?status=` shows sent and failed messages with attempts and the last error."""
    app = make_app()
    broken = make_app(smtp_port=free_port())
    send_now(app, "low-balance:42:2026-11-25", "Low Balance Alert")
    send_now(broken, "zero-balance:42:5", "VoIP Zero Balance")

    everything = client.get("/v1/outbox").get_json()
    assert everything["total"] == 2
    assert [item["key"] for item in everything["items"]] == ["zero-balance:42:5", "low-balance:42:2026-11-25"]
    failed = client.get("/v1/outbox?status=failed").get_json()
    [message] = failed["items"]
    assert (message["key"], message["status"], message["attempts"]) == ("zero-balance:42:5", "failed", 1)
    assert "Connection refused" in message["last_error"]
    assert message["next_attempt_at"] is not None
    [sent] = client.get("/v1/outbox?status=sent").get_json()["items"]
    assert (sent["to_address"], sent["backend"]) == ("ada@example.com", "smtp")


def test_outbox_refuses_an_unknown_status(client):
    """An unknown status filter is a 422 naming `status`."""
    response = client.get("/v1/outbox?status=lost")
    assert response.status_code == 422
    assert "status" in response.get_json()["error"]["message"]


def test_outbox_refuses_an_offset_past_any_page(client):
    """An offset too large for the database is a 422 naming `offset`, not a 500."""
    response = client.get("/v1/outbox?offset=194203452338417542360488146100178386944")
    assert response.status_code == 422
    assert "offset" in response.get_json()["error"]["details"]["fields"]
    assert client.get("/v1/outbox?offset=2147483647").get_json()["items"] == []


def test_routes_need_the_internal_token(app):
    """Without the internal token the service refuses the request."""
    assert app.test_client().get("/v1/outbox").status_code == 401


def test_one_message_by_key_and_404_for_an_unknown_key(app, client, smtp):
    """`GET /v1/outbox/{key}` shows one message; an unknown key is 404."""
    send_now(app, "low-balance:42:2026-11-25", "Low Balance Alert")
    body = client.get("/v1/outbox/low-balance:42:2026-11-25").get_json()
    assert (body["status"], body["subject"]) == ("sent", "Your VoIP credit is running low (account 42)")
    assert client.get("/v1/outbox/low-balance:1:2026-01-01").status_code == 404


def test_an_admin_can_retry_a_failed_message_once_the_cause_is_fixed(make_app, client, smtp):
    """After a failure an admin retry sends the message; retrying a sent message is a 409."""
    broken = make_app(smtp_port=free_port(), max_attempts=1)
    send_now(broken, "zero-balance:42:8", "VoIP Zero Balance")
    assert client.get("/v1/outbox/zero-balance:42:8").get_json()["status"] == "failed"

    response = client.post("/v1/outbox/zero-balance:42:8/retry")
    assert response.status_code == 202
    assert client.post("/v1/outbox/zero-balance:42:8/retry").get_json()["job_id"] == response.get_json()["job_id"]
    run_jobs(client.application, "notify")
    assert len(smtp.messages) == 1
    body = client.get("/v1/outbox/zero-balance:42:8").get_json()
    assert (body["status"], body["attempts"]) == ("sent", 2)
    conflict = client.post("/v1/outbox/zero-balance:42:8/retry")
    assert conflict.status_code == 409
    assert conflict.get_json()["error"]["details"] == {"status": "sent"}


def test_preview_renders_with_a_clients_data_without_sending(client, smtp):
    """Preview shows the subject, text and HTML a client would get, and sends nothing."""
    response = client.post(LOW + "/preview", json={"client_id": 42, "extra": {"client_first_name": "Countess"}})
    assert response.status_code == 200
    body = response.get_json()
    assert body["subject"] == "Your VoIP credit is running low (account 42)"
    assert body["text"].startswith("Hello Countess,")
    assert "<strong>$3.50 USD</strong>" in body["html"]
    assert smtp.messages == []
    assert client.get("/v1/outbox").get_json()["total"] == 0


def test_preview_of_an_unknown_client_says_so(client, balance):
    """A client balance-service does not know gives a 404 from preview."""
    response = client.post(LOW + "/preview", json={"client_id": 999})
    assert response.status_code == 404
