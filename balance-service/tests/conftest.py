"""Fixtures for balance_service: the app on a migrated database and a flushed Redis, and a live WHMCS simulator."""

from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask, jsonify, request

from balance_service import create_app
from balance_service.whmcs import Credentials, WhmcsClient
from tollgate_common.testing import internal_client, service_config, truncate_all
from tollgate_sim.whmcs import WhmcsState
from tollgate_sim.whmcs import create_app as create_whmcs_app
from tollgate_sim.whmcs.server import serving

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
FIELDS = {"has_voip": 1, "manual_suspend": 2, "voip_suspended": 3, "low_balance_threshold": 4}
FIELD_NAMES = {1: "Has VoIP Service", 2: "Manual VoIP Suspend", 3: "VoIP Suspended", 4: "Low Balance Threshold"}


@pytest.fixture(scope="session")
def database_url(database_url_for):
    return database_url_for("balance", MIGRATIONS)


class PeerStub:
    """cdr-service (contract B) and rating-service's package lookup, as a small real HTTP server."""

    def __init__(self):
        self.services: list[dict] = []
        self.billable: list[dict] = []
        self.claims: dict[str, dict] = {}
        self.claim_calls: list[str] = []
        self.packages: dict[int, dict] = {}
        self.failing_clients: set[int] = set()
        """Clients whose service list cdr-service answers with a 500 (a peer failing mid-evaluation)."""
        self.app = self.build()

    def add_service(self, service_id, client_id, product_id=3, suspended=False, amount="0", calls=0, adjustment="0"):
        self.services.append(
            {
                "service_id": service_id,
                "client_id": client_id,
                "product_id": product_id,
                "server_id": 1,
                "kind": "fusionpbx",
                "status": "Active",
                "suspended": suspended,
            }
        )
        if calls or Decimal(amount) or Decimal(adjustment):
            self.billable.append(
                {
                    "service_id": service_id,
                    "client_id": client_id,
                    "product_id": product_id,
                    "calls": calls,
                    "amount": amount,
                    "adjustment": adjustment,
                }
            )

    def build(self) -> Flask:
        app = Flask("peer-stub")

        @app.get("/internal/services")
        def services():
            client_id = request.args.get("client_id", type=int)
            if client_id in self.failing_clients:
                return jsonify(code="internal_error", status=500, message="stub failure"), 500
            ids = {int(i) for i in request.args.get("ids", "").split(",") if i}
            return jsonify(
                [
                    s
                    for s in self.services
                    if (client_id is None or s["client_id"] == client_id) and (not ids or s["service_id"] in ids)
                ]
            )

        @app.get("/internal/billable")
        def billable():
            claimed = {claim["service_id"] for claim in self.claims.values()}
            rows = [
                {k: r[k] for k in ("service_id", "client_id", "product_id", "calls", "amount")}
                for r in self.billable
                if r["service_id"] not in claimed
            ]
            return jsonify(rows)

        @app.post("/internal/services/<int:service_id>/claim")
        def claim(service_id):
            body = request.get_json()
            self.claim_calls.append(body["claim_ref"])
            if body["claim_ref"] not in self.claims:
                row = next((r for r in self.billable if r["service_id"] == service_id), None)
                self.claims[body["claim_ref"]] = {
                    "service_id": service_id,
                    "claim_ref": body["claim_ref"],
                    "cdr_ids": list(range(service_id * 100, service_id * 100 + (row["calls"] if row else 0))),
                    "calls": row["calls"] if row else 0,
                    "amount": row["amount"] if row else "0",
                    "adjustment": row["adjustment"] if row else "0",
                }
            return jsonify({k: v for k, v in self.claims[body["claim_ref"]].items() if k != "service_id"})

        @app.get("/internal/report")
        def report():
            return jsonify([{"service_id": s["service_id"], "unrated": 0, "quarantined": 0} for s in self.services])

        @app.get("/v1/packages")
        def packages():
            package = self.packages.get(request.args.get("product_id", type=int))
            return jsonify([package] if package else [])

        return app


@pytest.fixture
def peers():
    stub = PeerStub()
    with serving(stub.app) as url:
        stub.url = url
        yield stub


@pytest.fixture
def app(database_url, redis_url, redis_conn, peers):
    app = create_app(
        service_config(
            database_url,
            redis_url,
            cdr_url=peers.url,
            rating_url=peers.url,
            cdr_sync_wait_seconds=0,
            # A resume waits this long (+1 s) after a send left in flight by a killed worker before looking it up.
            whmcs_timeout_seconds=3,
        )
    )
    yield app
    truncate_all(app.extensions["db"])
    app.extensions["db"].dispose()


@pytest.fixture
def client(app):
    return internal_client(app)


@pytest.fixture
def db(app):
    return app.extensions["db"]


class LiveWhmcs:
    """The WHMCS simulator on a real port: `state` to seed and inspect, `url` to call it."""

    def __init__(self, url: str, state: WhmcsState):
        self.url = url
        self.state = state

    def client(self, timeout: float = 5.0) -> WhmcsClient:
        return WhmcsClient(Credentials(self.url, "sim-identifier", "sim-secret"), timeout=timeout, read_retries=1)

    def calls(self, action: str) -> list[dict]:
        return [entry for entry in self.state.api_log if entry["action"] == action]


def live_whmcs():
    state = WhmcsState()
    state.client_field_names.update(FIELD_NAMES)
    with serving(create_whmcs_app(state)) as url:
        yield LiveWhmcs(url, state)


@pytest.fixture
def whmcs_sim():
    yield from live_whmcs()


@pytest.fixture
def other_whmcs_sim():
    """A second, independent simulator, for comparing a faulty run with a clean one."""
    yield from live_whmcs()
