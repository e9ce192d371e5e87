"""The send job over SMTP: a real SMTP server receives the mail, the outbox records it, retries back off."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from rq.job import Job
from rq.serializers import JSONSerializer
from sqlalchemy import select, update

from notify_service.models import OutboxMessage
from notify_service.outbox import build_notifier
from tollgate_common.errors import InvalidInput
from tollgate_common.jobs import enqueue, get_queue, job_id_for
from tollgate_common.testing import run_jobs
from tollgate_sim.smtp_sink import SmtpSink

from .conftest import free_port

SEND = "notify_service.jobs.send"
LOW_KEY = "low-balance:42:2026-11-25"


def outbox_row(app, key):
    with app.extensions["db"].session() as session:
        return session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))


def send_job(app, key, template="Low Balance Alert", client_id=42, extra=None, job_id=None):
    """Queue the send job as a producer does, then run the notify queue with a real RQ worker."""
    enqueue(app.extensions["redis"], "notify", SEND, key, template, client_id, extra or {}, job_id=job_id or key)
    run_jobs(app, "notify")
    return Job.fetch(job_id_for(job_id or key), connection=app.extensions["redis"], serializer=JSONSerializer)


@pytest.mark.smoke
def test_low_balance_alert_arrives_with_headers_text_and_html(app, smtp):
    """The job renders the template with the client's data and the SMTP server receives it."""
    send_job(app, LOW_KEY)
    [mail] = smtp.messages
    assert mail["to"] == ["ada@example.com"]
    assert mail["from"] == "billing@operator.example"
    assert mail["subject"] == "Your VoIP credit is running low (account 42)"
    assert mail["headers"]["X-Tollgate-Key"] == LOW_KEY
    assert mail["headers"]["Message-ID"].endswith("@operator.example>")
    assert "The credit on your account 42 is down to $3.50 USD." in mail["text"]
    assert "You asked to be warned at 10." in mail["text"]
    assert "SIP Trunk (service 7): $6.40 USD" in mail["text"]
    assert "<strong>$3.50 USD</strong>" in mail["html"]
    row = outbox_row(app, LOW_KEY)
    assert (row.status, row.attempts, row.to_address, row.last_error) == ("sent", 1, "ada@example.com", None)
    assert row.subject == mail["subject"]


def test_the_same_key_twice_sends_one_email(app, smtp):
    """Two jobs for one key (even under different job ids) send a single email."""
    first = send_job(app, LOW_KEY, job_id="first-delivery")
    second = send_job(app, LOW_KEY, job_id="redelivered")
    assert len(smtp.messages) == 1
    assert first.return_value()["status"] == "sent"
    assert second.return_value()["status"] == "already_sent"
    assert outbox_row(app, LOW_KEY).attempts == 1


def test_smtp_down_then_up_is_retried_with_backoff_and_sent_once(make_app):
    """With the relay down the message fails visibly and is retried later; once it is up it is sent once."""
    port = free_port()
    app = make_app(smtp_port=port, retry_base_seconds=60)
    job = send_job(app, "zero-balance:42:17", template="VoIP Zero Balance")
    row = outbox_row(app, "zero-balance:42:17")
    assert (row.status, row.attempts) == ("failed", 1)
    assert "ConnectionRefusedError" in row.last_error
    registry = get_queue("notify", app.extensions["redis"]).scheduled_job_registry
    assert registry.get_job_ids() == [job.id]
    wait = registry.get_scheduled_time(job.id).timestamp() - time.time()
    assert 50 < wait <= 60

    sink = SmtpSink("127.0.0.1", port)
    sink.start()
    try:
        # Release the scheduled retry now instead of waiting the minute out.
        registry.requeue(job.id)
        run_jobs(app, "notify")
    finally:
        sink.stop()
    [mail] = sink.messages
    assert mail["subject"] == "Outgoing calls paused on account 42"
    row = outbox_row(app, "zero-balance:42:17")
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def test_backoff_doubles_after_each_failure(make_app):
    """Each failed attempt waits twice as long as the one before, and the outbox says when."""
    app = make_app(smtp_port=free_port(), retry_base_seconds=30)
    with app.app_context():
        notifier = build_notifier(app.config["SETTINGS"], app.extensions["db"])
        delays = [notifier.send(LOW_KEY, "Low Balance Alert", 42, {}).retry_in_seconds for _ in range(3)]
    assert delays == [30, 60, 120]
    row = outbox_row(app, LOW_KEY)
    assert (row.status, row.attempts) == ("failed", 3)
    assert row.next_attempt_at is not None


def test_a_message_out_of_attempts_stays_failed_and_the_job_fails(make_app):
    """After the last attempt the outbox keeps the failure and RQ lists the job as failed."""
    app = make_app(smtp_port=free_port(), max_attempts=1)
    job = send_job(app, LOW_KEY)
    assert job.get_status() == "failed"
    row = outbox_row(app, LOW_KEY)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)


@pytest.mark.smoke
def test_template_syntax_in_client_data_comes_out_literally(app, balance, smtp):
    """Values such as `{{ 7*7 }}` or `{$client_credit}` in client data are printed as they are."""
    balance.clients[42]["first_name"] = "{{ 7*7 }}"
    balance.clients[42]["company_name"] = "{$client_credit} <b>Ltd</b>"
    send_job(app, "zero-balance:42:99", template="VoIP Zero Balance")
    [mail] = smtp.messages
    assert "Hello {{ 7*7 }} Lovelace ({$client_credit} <b>Ltd</b>)," in mail["text"]
    assert "Hello {{ 7*7 }} Lovelace ({$client_credit} &lt;b&gt;Ltd&lt;/b&gt;)," in mail["html"]
    assert "49" not in mail["text"]


def test_extra_fields_override_client_fields(app, smtp):
    """Extra values given to the job override the client's merge fields, as WHMCS customvars do."""
    send_job(app, "restored:42:1", template="VoIP Service Restored", extra={"client_first_name": "Countess"})
    assert smtp.messages[0]["text"].startswith("Hello Countess,")


def test_manual_action_goes_to_the_admin(app, smtp):
    """An admin template is sent to NOTIFY_ADMIN_EMAIL with the task and the client's details."""
    extra = {"task_id": "31", "task_action": "suspend", "task_service_id": "7", "task_server": "lesnet-1"}
    send_job(app, "manual-task:31", template="VoIP Manual Action", extra=extra)
    [mail] = smtp.messages
    assert mail["to"] == ["noc@operator.example"]
    assert mail["subject"] == "Manual PBX action needed: suspend service 7"
    assert "Client:    Ada Lovelace (Analytical Engines) (#42, ada@example.com)" in mail["text"]


def test_a_client_without_email_fails_at_once_without_retry(app, balance, smtp):
    """A message that cannot succeed is marked failed with the reason and not retried."""
    balance.clients[42]["email"] = ""
    job = send_job(app, LOW_KEY)
    assert job.get_status() == "failed"
    row = outbox_row(app, LOW_KEY)
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "client 42 has no email address")
    assert smtp.messages == []


def test_balance_service_down_is_retried(make_app, balance):
    """When client data cannot be read, the attempt fails visibly and is retried later."""
    app = make_app(balance_url=f"http://127.0.0.1:{free_port()}")
    job = send_job(app, LOW_KEY)
    assert job.get_status() == "scheduled"
    row = outbox_row(app, LOW_KEY)
    assert row.status == "failed"
    assert "balance-service unreachable" in row.last_error


def test_only_one_worker_can_claim_a_message(app):
    """Two workers claiming the same key at once: one wins, the other is told to look again later."""
    with app.app_context():
        notifier = build_notifier(app.config["SETTINGS"], app.extensions["db"])
        notifier.record(LOW_KEY, "Low Balance Alert", 42, {})
        assert notifier.claim(LOW_KEY, "a" * 32).attempts == 1
        assert notifier.claim(LOW_KEY, "b" * 32) is None
        outcome = notifier.not_claimed(LOW_KEY)
    assert outcome.status == "in_progress"
    assert outcome.retry_in_seconds == notifier.lease_seconds


def test_a_delivery_whose_worker_died_is_taken_over_after_its_lease(app, smtp):
    """A message left claimed by a worker that stopped is sent once its lease has run out."""
    with app.app_context():
        notifier = build_notifier(app.config["SETTINGS"], app.extensions["db"])
        notifier.record(LOW_KEY, "Low Balance Alert", 42, {})
        notifier.claim(LOW_KEY, "a" * 32)
        assert notifier.send(LOW_KEY, "Low Balance Alert", 42, {}).status == "in_progress"
        assert smtp.messages == []
        with app.extensions["db"].session() as session:
            session.execute(
                update(OutboxMessage).where(OutboxMessage.key == LOW_KEY).values(claimed_until=OutboxMessage.created_at)
            )
        assert notifier.send(LOW_KEY, "Low Balance Alert", 42, {}).status == "sent"
    assert len(smtp.messages) == 1
    assert outbox_row(app, LOW_KEY).attempts == 2


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        (("", "Low Balance Alert", 42, {}), "key"),
        ((LOW_KEY, "", 42, {}), "template"),
        ((LOW_KEY, "Low Balance Alert", "42", {}), "client_id"),
        ((LOW_KEY, "Low Balance Alert", 42, {"x": [1]}), "extra"),
    ],
)
def test_a_malformed_send_request_names_the_argument(app, arguments, field):
    """A producer passing a bad argument gets an error naming it."""
    with app.app_context():
        notifier = build_notifier(app.config["SETTINGS"], app.extensions["db"])
        with pytest.raises(InvalidInput) as error:
            notifier.send(*arguments)
    assert error.value.details == {"field": field}


def test_an_email_address_with_a_line_break_is_refused_not_injected(app, balance, smtp):
    """A client email holding a header break fails permanently instead of adding headers."""
    balance.clients[42]["email"] = "ada@example.com\r\nBcc: everyone@example.com"
    job = send_job(app, LOW_KEY)
    assert job.get_status() == "failed"
    row = outbox_row(app, LOW_KEY)
    assert row.status == "failed"
    assert row.last_error.startswith("cannot build the email")
    assert smtp.messages == []


def test_a_malformed_job_fails_without_being_retried(app):
    """A job queued with bad arguments fails at once; the producer's retry policy does not re-run it."""
    job = send_job(app, LOW_KEY, extra={"threshold": ["not", "text"]})
    assert job.get_status() == "failed"
    assert get_queue("notify", app.extensions["redis"]).scheduled_job_registry.get_job_ids() == []
    assert outbox_row(app, LOW_KEY) is None


def test_the_first_request_for_a_key_decides_what_is_sent(make_app, smtp):
    """A later job for the same key with other arguments retries the first message, unchanged."""
    broken = make_app(smtp_port=free_port())
    send_job(broken, LOW_KEY, job_id="first")
    app = make_app()
    send_job(app, LOW_KEY, template="VoIP Service Restored", extra={"client_first_name": "Other"}, job_id="second")
    [mail] = smtp.messages
    assert mail["subject"] == "Your VoIP credit is running low (account 42)"
    assert mail["text"].startswith("Hello Ada,")


def test_concurrent_workers_send_a_key_once(app, smtp):
    """Several workers racing on one key deliver exactly one email."""
    notifier = build_notifier(app.config["SETTINGS"], app.extensions["db"])
    barrier = threading.Barrier(4)

    def worker():
        barrier.wait()
        return notifier.send(LOW_KEY, "Low Balance Alert", 42, {}).status

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = sorted(pool.map(lambda _: worker(), range(4)))
    assert statuses.count("sent") == 1
    assert set(statuses) <= {"sent", "in_progress", "already_sent"}
    assert len(smtp.messages) == 1
