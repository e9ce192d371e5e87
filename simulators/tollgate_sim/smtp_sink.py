"""A local SMTP server that keeps every message it receives, and an HTTP app to read and clear them."""

from __future__ import annotations

import ssl
import threading
import warnings
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from flask import Flask, Response, jsonify


def parse_message(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
    """Describe one received message: envelope, subject, text and HTML parts, and every header."""
    message: EmailMessage = BytesParser(policy=policy.default).parsebytes(raw)  # type: ignore[assignment]
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    return {
        "from": str(message.get("From", mail_from)),
        "to": list(rcpt_tos),
        "mail_from": mail_from,
        "subject": str(message.get("Subject", "")),
        "text": text_part.get_content() if text_part is not None else None,
        "html": html_part.get_content() if html_part is not None else None,
        "headers": {name: str(value) for name, value in message.items()},
    }


class SinkHandler:
    """aiosmtpd handler that stores each message in its sink."""

    def __init__(self, sink: SmtpSink):
        self.sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        # SMTP carries CRLF line ends; store messages with local ones, as a mail server writes them to disk.
        raw = raw.replace(b"\r\n", b"\n")
        self.sink.add(parse_message(raw, envelope.mail_from or "", list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class SinkController(Controller):
    """aiosmtpd's controller, quiet about AUTH without TLS: a local sink may test login in clear text."""

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()


class SmtpSink:
    """An SMTP server on `host:smtp_port` that accepts every message and keeps it in `.messages`.

    Pass `tls_context` to offer STARTTLS (or with `implicit_tls=True`, TLS from the first byte), and
    `credentials` to require AUTH LOGIN/PLAIN with that user name and password.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        smtp_port: int = 2525,
        *,
        tls_context: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
        credentials: tuple[str, str] | None = None,
    ):
        self.host = host
        self.smtp_port = smtp_port
        self._messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        options: dict[str, Any] = {"server_hostname": "tollgate-smtp-sink", "ready_timeout": 10}
        if tls_context is not None and implicit_tls:
            options["ssl_context"] = tls_context
        elif tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        if credentials is not None:
            options.update(
                authenticator=self._authenticator(credentials),
                auth_required=True,
                auth_require_tls=tls_context is not None,
            )
        self.controller = SinkController(SinkHandler(self), hostname=host, port=smtp_port, **options)

    @staticmethod
    def _authenticator(credentials: tuple[str, str]) -> Any:
        expected = (credentials[0].encode(), credentials[1].encode())

        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
            return AuthResult(success=ok, handled=False)

        return authenticate

    def start(self) -> None:
        """Listen for SMTP; returns once the server accepts connections."""
        self.controller.start()

    def stop(self) -> None:
        """Stop listening."""
        self.controller.stop()

    def add(self, message: dict[str, Any]) -> None:
        with self._lock:
            self._messages.append(message)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """A copy of the messages received so far, oldest first."""
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        """Forget every message received so far."""
        with self._lock:
            self._messages.clear()


def create_app(sink: SmtpSink) -> Flask:
    """An HTTP app to read (`GET /messages`) and clear (`DELETE /messages`) what the sink received."""
    app = Flask(__name__)

    @app.get("/messages")
    def list_messages() -> Response:
        """List received messages: from, to, subject, text, html and headers."""
        return jsonify(sink.messages)

    @app.delete("/messages")
    def clear_messages() -> tuple[str, int]:
        """Forget every received message."""
        sink.clear()
        return "", 204

    return app
