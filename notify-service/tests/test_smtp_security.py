"""SMTP back end security options against a real TLS-capable SMTP server: STARTTLS, implicit TLS, login."""

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from notify_service.models import OutboxMessage
from notify_service.outbox import build_notifier
from tollgate_sim.smtp_sink import SmtpSink

from .conftest import free_port

KEY = "low-balance:42:2026-11-25"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 and localhost, as a private relay might use."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tollgate test relay")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "relay.pem", folder / "relay.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return str(cert_path), context


def deliver(app):
    with app.app_context():
        return build_notifier(app.config["SETTINGS"], app.extensions["db"]).send(KEY, "Low Balance Alert", 42, {})


def run_sink(**options):
    sink = SmtpSink("127.0.0.1", free_port(), **options)
    sink.start()
    return sink


def test_starttls_with_login(make_app, certificate):
    """With `starttls` the connection is upgraded before login, and the relay accepts the mail."""
    ca_file, context = certificate
    sink = run_sink(tls_context=context, credentials=("relay-user", "relay-pass"))
    try:
        app = make_app(
            smtp_port=sink.smtp_port,
            smtp_security="starttls",
            smtp_username="relay-user",
            smtp_password="relay-pass",
            smtp_ca_file=ca_file,
        )
        assert deliver(app).status == "sent"
    finally:
        sink.stop()
    assert [mail["to"] for mail in sink.messages] == [["ada@example.com"]]


def test_implicit_tls(make_app, certificate):
    """With `ssl` the connection is TLS from the first byte."""
    ca_file, context = certificate
    sink = run_sink(tls_context=context, implicit_tls=True)
    try:
        app = make_app(smtp_port=sink.smtp_port, smtp_security="ssl", smtp_ca_file=ca_file)
        assert deliver(app).status == "sent"
    finally:
        sink.stop()
    assert len(sink.messages) == 1


def test_a_wrong_password_fails_visibly_and_is_retried(make_app, certificate):
    """A refused login is recorded with the relay's answer and retried (the operator may fix it)."""
    ca_file, context = certificate
    sink = run_sink(tls_context=context, credentials=("relay-user", "relay-pass"))
    try:
        app = make_app(
            smtp_port=sink.smtp_port,
            smtp_security="starttls",
            smtp_username="relay-user",
            smtp_password="wrong",
            smtp_ca_file=ca_file,
        )
        outcome = deliver(app)
    finally:
        sink.stop()
    assert outcome.status == "failed"
    assert outcome.error.startswith("SMTP login refused: 535")
    assert outcome.retry_in_seconds == 1
    assert sink.messages == []


def test_an_untrusted_certificate_is_refused(make_app, certificate):
    """Without the relay's CA the certificate is not trusted and nothing is sent in clear."""
    _, context = certificate
    sink = run_sink(tls_context=context, implicit_tls=True)
    try:
        app = make_app(smtp_port=sink.smtp_port, smtp_security="ssl")
        outcome = deliver(app)
    finally:
        sink.stop()
    assert outcome.status == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in outcome.error
    with app.extensions["db"].session() as session:
        assert session.scalar(select(OutboxMessage.status).where(OutboxMessage.key == KEY)) == "failed"
