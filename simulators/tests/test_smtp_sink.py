"""The SMTP sink keeps what it receives and serves it over HTTP."""

import smtplib
import socket
import threading
from email.message import EmailMessage

import pytest
import requests
from werkzeug.serving import make_server

from tollgate_sim.smtp_sink import SmtpSink, create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def email(subject: str = "Low balance") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "billing@operator.example"
    message["To"] = "ada@example.com"
    message["Subject"] = subject
    message["X-Tollgate-Key"] = "low-balance:42:2026-11-25"
    message.set_content("Your credit is $1.00 USD.")
    message.add_alternative("<p>Your credit is <b>$1.00 USD</b>.</p>", subtype="html")
    return message


@pytest.fixture
def sink():
    sink = SmtpSink("127.0.0.1", free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def sink_http(sink):
    server = make_server("127.0.0.1", 0, create_app(sink), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.mark.smoke
def test_sink_keeps_text_html_and_headers(sink):
    """A message sent over SMTP is kept with its envelope, parts and headers."""
    with smtplib.SMTP(sink.host, sink.smtp_port, timeout=10) as connection:
        connection.send_message(email())
    [received] = sink.messages
    assert received["from"] == "billing@operator.example"
    assert received["to"] == ["ada@example.com"]
    assert received["subject"] == "Low balance"
    assert received["text"].strip() == "Your credit is $1.00 USD."
    assert received["html"].strip() == "<p>Your credit is <b>$1.00 USD</b>.</p>"
    assert received["headers"]["X-Tollgate-Key"] == "low-balance:42:2026-11-25"


def test_http_app_lists_and_clears_messages(sink, sink_http):
    """GET /messages lists what arrived; DELETE /messages empties the list."""
    with smtplib.SMTP(sink.host, sink.smtp_port, timeout=10) as connection:
        connection.send_message(email("first"))
        connection.send_message(email("second"))
    listed = requests.get(sink_http + "/messages", timeout=10).json()
    assert [message["subject"] for message in listed] == ["first", "second"]
    assert set(listed[0]) >= {"from", "to", "subject", "text", "html", "headers"}
    assert requests.delete(sink_http + "/messages", timeout=10).status_code == 204
    assert requests.get(sink_http + "/messages", timeout=10).json() == []


def test_sink_with_credentials_refuses_anonymous_senders():
    """With credentials set, only a client that logs in may send."""
    sink = SmtpSink("127.0.0.1", free_port(), credentials=("relay", "s3cret"))
    sink.start()
    try:
        with (
            smtplib.SMTP(sink.host, sink.smtp_port, timeout=10) as connection,
            pytest.raises(smtplib.SMTPSenderRefused),
        ):
            connection.send_message(email("anonymous"))
        with smtplib.SMTP(sink.host, sink.smtp_port, timeout=10) as connection:
            connection.login("relay", "s3cret")
            connection.send_message(email("logged in"))
    finally:
        sink.stop()
    assert [message["subject"] for message in sink.messages] == ["logged in"]
