"""The two delivery back ends: an SMTP relay (Tollgate renders) and WHMCS SendEmail (WHMCS renders)."""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import requests

from tollgate_common import phpserial


class DeliveryError(Exception):
    """A delivery attempt failed; `permanent` means retrying the same message cannot succeed."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Email:
    """A rendered email ready for SMTP."""

    key: str
    to: str
    subject: str
    text: str
    html: str | None = None


def message_id_for(key: str, domain: str) -> str:
    """A Message-ID derived from the idempotency key, so a resent copy is recognisably the same message."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True)
class SmtpSender:
    """Sends rendered emails through an SMTP relay, with STARTTLS, implicit TLS or neither, and optional login."""

    host: str
    port: int
    security: str
    username: str
    password: str
    from_address: str
    timeout_seconds: float
    ca_file: str = ""

    def build(self, email: Email) -> EmailMessage:
        """Build the MIME message: text, plus an HTML alternative when the template has one."""
        message = EmailMessage()
        message["From"] = self.from_address
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(usegmt=True)
        domain = self.from_address.rpartition("@")[2] or "tollgate.local"
        message["Message-ID"] = message_id_for(email.key, domain)
        message["X-Tollgate-Key"] = email.key
        message.set_content(email.text)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
        return message

    def send(self, email: Email) -> None:
        """Deliver one email, or raise DeliveryError saying what the relay answered."""
        try:
            message = self.build(email)
        except ValueError as exc:
            # The email library refuses header values with line breaks: such data is never sendable.
            raise DeliveryError(f"cannot build the email: {exc}", permanent=True) from exc
        context = ssl.create_default_context(cafile=self.ca_file or None)
        try:
            if self.security == "ssl":
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout_seconds, context=context
                )
            else:
                connection = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
            with connection:
                if self.security == "starttls":
                    connection.starttls(context=context)
                if self.username:
                    connection.login(self.username, self.password)
                connection.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(
                f"{to}: {code} {reply.decode(errors='replace')}" for to, (code, reply) in exc.recipients.items()
            )
            raise DeliveryError(f"SMTP refused the recipient: {refused}", permanent=True) from exc
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryError(
                f"SMTP login refused: {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP answered {exc.smtp_code} {exc.smtp_error.decode(errors='replace')}",
                permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 530,
            ) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP relay {self.host}:{self.port} failed: {exc.__class__.__name__}: {exc}") from exc


def api_endpoint(url: str) -> str:
    """Accept either the WHMCS base URL or the full includes/api.php address."""
    url = url.rstrip("/")
    return url if url.endswith("api.php") else url + "/includes/api.php"


@dataclass(frozen=True)
class WhmcsSender:
    """Asks WHMCS to render and send one of its own templates to a client, through the SendEmail API."""

    url: str
    identifier: str
    secret: str
    accesskey: str
    timeout_seconds: float

    def send(self, template: str, client_id: int, customvars: dict[str, Any]) -> None:
        """Call SendEmail with the template name and customvars, or raise DeliveryError with WHMCS's message."""
        if not self.url:
            raise DeliveryError("WHMCS delivery needs NOTIFY_WHMCS_URL", permanent=True)
        form = {
            "action": "SendEmail",
            "identifier": self.identifier,
            "secret": self.secret,
            "responsetype": "json",
            "messagename": template,
            "id": str(client_id),
            # base64(serialize()) carries lists such as voip_services, which a form array cannot.
            "customvars": phpserial.encode_base64(customvars),
        }
        if self.accesskey:
            form["accesskey"] = self.accesskey
        try:
            response = requests.post(api_endpoint(self.url), data=form, timeout=self.timeout_seconds)
        except requests.RequestException as exc:
            raise DeliveryError(f"WHMCS unreachable: {exc.__class__.__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            raise DeliveryError(f"WHMCS answered HTTP {response.status_code} with a non-JSON body") from None
        if response.status_code == 403 or body.get("result") != "success":
            raise DeliveryError(f"WHMCS SendEmail failed: {body.get('message') or response.status_code}")
