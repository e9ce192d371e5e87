"""The outbox: one row per idempotency key, claimed atomically, delivered once, failures kept and retried."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from redis import Redis
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from tollgate_common.db import Database
from tollgate_common.errors import Conflict, InvalidInput, NotFound, TollgateError
from tollgate_common.jobs import enqueue

from .clients import BalanceClient
from .config import Settings
from .defaults import RECIPIENT_ADMIN
from .delivery import DeliveryError, Email, SmtpSender, WhmcsSender
from .merge import CATALOGUE, MERGE_FIELDS, client_merge_fields, merged
from .models import OutboxMessage
from .templates import TemplateContent, find_template
from .templating import render

QUEUED, SENT, FAILED = "queued", "sent", "failed"
STATUSES = (QUEUED, SENT, FAILED)

TOLLGATE_FIELDS = tuple(field.name for field in MERGE_FIELDS if not field.name.startswith("client_"))
"""Fields WHMCS does not build itself; with WHMCS delivery they travel as customvars."""

log = structlog.get_logger(__name__)


def utcnow() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Outcome:
    """What one send attempt did; `retry_in_seconds` is set when the message should be tried again later."""

    key: str
    status: str
    attempts: int
    error: str | None = None
    retry_in_seconds: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The outcome as the job's JSON result."""
        return {"key": self.key, "status": self.status, "attempts": self.attempts, "error": self.error}


@dataclass
class Notifier:
    """Renders and delivers messages through the configured back end, recording each in the outbox."""

    db: Database
    delivery: str
    smtp: SmtpSender
    whmcs: WhmcsSender
    balance: BalanceClient
    admin_email: str
    retry_base_seconds: int
    max_attempts: int
    lease_seconds: int

    def send(self, key: str, template: str, client_id: int | None, extra: dict[str, Any]) -> Outcome:
        """Deliver the message of `key` unless it was already sent or another worker is delivering it."""
        check_request(key, template, client_id, extra)
        self.record(key, template, client_id, extra)
        token = secrets.token_hex(16)
        claimed = self.claim(key, token)
        if claimed is None:
            return self.not_claimed(key)
        attempts = claimed.attempts
        try:
            to_address, subject, backend = self.deliver(key, claimed.template, claimed.client_id, claimed.extra)
        except DeliveryError as exc:
            return self.fail(key, token, attempts, str(exc), permanent=exc.permanent)
        except TollgateError as exc:
            return self.fail(key, token, attempts, exc.message, permanent=False)
        with self.db.session() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.key == key, OutboxMessage.claim_token == token)
                .values(
                    status=SENT,
                    backend=backend,
                    to_address=to_address,
                    subject=subject,
                    sent_at=utcnow(),
                    updated_at=utcnow(),
                    last_error=None,
                    next_attempt_at=None,
                    claim_token=None,
                    claimed_until=None,
                )
            )
        log.info("notify_sent", key=key, template=claimed.template, backend=backend, attempts=attempts)
        return Outcome(key, SENT, attempts)

    def record(self, key: str, template: str, client_id: int | None, extra: dict[str, Any]) -> None:
        """Create the outbox row of `key` if it does not exist; the first request for a key decides its content."""
        now = utcnow()
        try:
            with self.db.session() as session:
                if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
                    return
                session.add(
                    OutboxMessage(
                        key=key,
                        template=template,
                        client_id=client_id,
                        extra=extra,
                        status=QUEUED,
                        attempts=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            # Another worker inserted the same key between our check and our insert: theirs stands.
            return

    def claim(self, key: str, token: str) -> OutboxMessage | None:
        """Take the message for this worker in one UPDATE; return it (attempts counted), or None if not ours."""
        now = utcnow()
        with self.db.session() as session:
            previous = session.scalar(select(OutboxMessage.claim_token).where(OutboxMessage.key == key))
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.key == key,
                    OutboxMessage.status != SENT,
                    or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now),
                )
                .values(
                    claim_token=token,
                    claimed_until=now + timedelta(seconds=self.lease_seconds),
                    attempts=OutboxMessage.attempts + 1,
                    updated_at=now,
                )
            )
            if result.rowcount != 1:
                return None
            if previous is not None:
                # The last worker's lease ran out mid-delivery: whether that email left is unknown.
                log.warning("notify_lease_expired", key=key)
            return session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))

    def not_claimed(self, key: str) -> Outcome:
        """Report a message this worker could not claim: sent already, or being delivered elsewhere."""
        with self.db.session() as session:
            row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
        assert row is not None
        if row.status == SENT:
            return Outcome(key, "already_sent", row.attempts)
        # Look again once the other worker's lease is over: by then it has sent, failed or died.
        return Outcome(key, "in_progress", row.attempts, retry_in_seconds=self.lease_seconds)

    def fail(self, key: str, token: str, attempts: int, error: str, *, permanent: bool) -> Outcome:
        """Record a failed attempt and when the next one is due (none when permanent or out of attempts)."""
        retry_in = None if permanent or attempts >= self.max_attempts else self.backoff_seconds(attempts)
        now = utcnow()
        with self.db.session() as session:
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.key == key, OutboxMessage.claim_token == token)
                .values(
                    status=FAILED,
                    last_error=error,
                    next_attempt_at=now + timedelta(seconds=retry_in) if retry_in else None,
                    updated_at=now,
                    claim_token=None,
                    claimed_until=None,
                )
            )
        log.warning("notify_failed", key=key, attempts=attempts, error=error, retry_in_seconds=retry_in)
        return Outcome(key, FAILED, attempts, error, retry_in)

    def backoff_seconds(self, attempts: int) -> int:
        """Exponential backoff: the base after the first failure, doubling after each later one."""
        return self.retry_base_seconds * 2 ** (attempts - 1)

    def deliver(
        self, key: str, template_name: str, client_id: int | None, extra: dict[str, Any]
    ) -> tuple[str, str, str]:
        """Send through the right back end; return the recipient, subject and back end for the outbox."""
        with self.db.session() as session:
            template = find_template(session, template_name)
        data = self.merge_data(client_id, extra)
        if template is not None and template.recipient == RECIPIENT_ADMIN:
            if not self.admin_email:
                raise DeliveryError("admin templates need NOTIFY_ADMIN_EMAIL", permanent=True)
            return self.send_rendered(key, template, self.admin_email, data)
        if client_id is None:
            raise DeliveryError(
                f"template {template_name!r} goes to a client but no client_id was given", permanent=True
            )
        if self.delivery == "whmcs":
            customvars = {name: data[name] for name in TOLLGATE_FIELDS if name in data}
            customvars.update({name: data[name] for name in extra})
            self.whmcs.send(template_name, client_id, customvars)
            return str(data.get("client_email", "")), f"(rendered by WHMCS) {template_name}", "whmcs"
        if template is None:
            raise DeliveryError(f"no template named {template_name!r}", permanent=True)
        if not data.get("client_email"):
            raise DeliveryError(f"client {client_id} has no email address", permanent=True)
        return self.send_rendered(key, template, str(data["client_email"]), data)

    def merge_data(self, client_id: int | None, extra: dict[str, Any]) -> dict[str, Any]:
        """The client's merge fields from balance-service, with `extra` laid over them."""
        client_fields = (
            client_merge_fields(self.balance.merge_data(client_id), utcnow().date())
            if client_id is not None
            else {"date": utcnow().date().isoformat()}
        )
        return merged(client_fields, extra)

    def send_rendered(
        self, key: str, template: TemplateContent, to_address: str, data: dict[str, Any]
    ) -> tuple[str, str, str]:
        """Render the template with our sandbox and send it by SMTP."""
        rendered = render_email(template, data)
        self.smtp.send(Email(key=key, to=to_address, **rendered))
        return to_address, rendered["subject"], "smtp"

    def preview(self, template: TemplateContent, client_id: int | None, extra: dict[str, Any]) -> dict[str, Any]:
        """Render a template with a client's data without sending or recording anything."""
        return render_email(template, self.merge_data(client_id, extra))


def render_email(template: TemplateContent, data: dict[str, Any]) -> dict[str, Any]:
    """Render subject (on one line, so data cannot add headers), text and optional HTML."""
    return {
        "subject": " ".join(render(template.subject, data, CATALOGUE).split()),
        "text": render(template.text, data, CATALOGUE),
        "html": render(template.html, data, CATALOGUE, html=True) if template.html else None,
    }


def check_request(key: str, template: str, client_id: int | None, extra: Any) -> None:
    """Refuse a malformed send request, naming the argument."""
    if not isinstance(key, str) or not key.strip() or len(key) > 255:
        raise InvalidInput("key: give a non-empty idempotency key of at most 255 characters", {"field": "key"})
    if not isinstance(template, str) or not template.strip():
        raise InvalidInput("template: give a template name", {"field": "template"})
    if client_id is not None and (isinstance(client_id, bool) or not isinstance(client_id, int)):
        raise InvalidInput("client_id: give an integer client id or null", {"field": "client_id"})
    if not isinstance(extra, dict) or not all(
        isinstance(name, str) and (value is None or isinstance(value, (str, int))) for name, value in extra.items()
    ):
        raise InvalidInput("extra: give an object of field names to strings", {"field": "extra"})


def build_notifier(settings: Settings, db: Database) -> Notifier:
    """Wire a Notifier from the service settings."""
    return Notifier(
        db=db,
        delivery=settings.delivery,
        smtp=SmtpSender(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value(),
            from_address=settings.smtp_from,
            timeout_seconds=settings.smtp_timeout_seconds,
            ca_file=settings.smtp_ca_file,
        ),
        whmcs=WhmcsSender(
            url=settings.whmcs_url,
            identifier=settings.whmcs_identifier,
            secret=settings.whmcs_secret.get_secret_value(),
            accesskey=settings.whmcs_accesskey.get_secret_value(),
            timeout_seconds=settings.whmcs_timeout_seconds,
        ),
        balance=BalanceClient(settings.balance_url, settings.internal_token),
        admin_email=settings.admin_email,
        retry_base_seconds=settings.retry_base_seconds,
        max_attempts=settings.max_attempts,
        lease_seconds=settings.claim_lease_seconds,
    )


def list_outbox(db: Database, status: str | None, limit: int, offset: int) -> tuple[list[OutboxMessage], int]:
    """Return a page of outbox messages, newest first, optionally of one status, and the total."""
    with db.session() as session:
        query = select(OutboxMessage)
        if status is not None:
            query = query.where(OutboxMessage.status == status)
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = session.scalars(query.order_by(OutboxMessage.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def get_message(db: Database, key: str) -> OutboxMessage:
    """Return the outbox message of `key` or raise NotFound."""
    with db.session() as session:
        row = session.scalar(select(OutboxMessage).where(OutboxMessage.key == key))
    if row is None:
        raise NotFound(f"no outbox message with key {key!r}")
    return row


def retry_now(db: Database, redis: Redis, key: str) -> str:
    """Queue one more attempt of a failed message at once (after an operator fixed its cause); return the job id."""
    row = get_message(db, key)
    if row.status != FAILED:
        raise Conflict(f"message {key!r} is {row.status}; only failed messages can be retried", {"status": row.status})
    # One job per failed attempt: a double click queues a single retry.
    job, _ = enqueue(
        redis,
        "notify",
        "notify_service.jobs.send",
        row.key,
        row.template,
        row.client_id,
        row.extra,
        job_id=f"{row.key}:retry:{row.attempts}",
        retry=None,
    )
    return job.id
