"""Fixtures for notify_service: the app on a migrated database and a flushed Redis, a real SMTP server
in the test process, and balance-service stubbed by a small real HTTP server."""

import copy
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify
from werkzeug.serving import make_server

from notify_service import create_app
from tollgate_common.errors import envelope
from tollgate_common.testing import internal_client, service_config, truncate_all
from tollgate_sim.smtp_sink import SmtpSink

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

ADA = {
    "client_id": 42,
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company_name": "Analytical Engines",
    "email": "ada@example.com",
    "credit": "3.5",
    "due_invoices_balance": "12.00",
    "currency_prefix": "$",
    "currency_suffix": "USD",
    "custom_fields": {"Low Balance Threshold": "10", "Has VoIP Service": "Yes"},
    "services": [{"service_id": 7, "product": "SIP Trunk", "usage_current_period": "6.4"}],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class HttpServer:
    """A WSGI app served on a real local port from a thread."""

    def __init__(self, app: Flask):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "HttpServer":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.thread.join(timeout=5)


class BalanceStub:
    """Stands in for balance-service's merge-data route; `clients` maps client id to its body."""

    def __init__(self) -> None:
        self.clients: dict[int, dict[str, Any]] = {42: copy.deepcopy(ADA)}
        self.requests: list[int] = []
        self.app = Flask("balance_stub")

        @self.app.get("/internal/clients/<int:client_id>/merge-data")
        def merge_data(client_id: int):
            self.requests.append(client_id)
            if client_id not in self.clients:
                return jsonify(envelope("not_found", f"client {client_id} not found")), 404
            return jsonify(self.clients[client_id])


@pytest.fixture(scope="session")
def database_url(database_url_for):
    return database_url_for("notify", MIGRATIONS)


@pytest.fixture
def balance() -> Iterator[BalanceStub]:
    stub = BalanceStub()
    with HttpServer(stub.app) as server:
        stub.url = server.url
        yield stub


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def make_app(database_url, redis_url, redis_conn, balance, smtp):
    """Build the app with settings overrides; by default it sends by SMTP to the test server."""
    apps = []

    def build(**overrides: Any) -> Flask:
        settings = {
            "balance_url": balance.url,
            "smtp_host": smtp.host,
            "smtp_port": smtp.smtp_port,
            "smtp_from": "billing@operator.example",
            "admin_email": "noc@operator.example",
            "retry_base_seconds": 1,
            **overrides,
        }
        app = create_app(service_config(database_url, redis_url, **settings))
        apps.append(app)
        return app

    yield build
    if apps:
        truncate_all(apps[0].extensions["db"])
    for app in apps:
        app.extensions["db"].dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return internal_client(app)
