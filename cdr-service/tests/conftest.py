"""Fixtures for cdr_service: the app on a migrated database, a stub rating-service, a FusionPBX database."""

import threading
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from flask import Flask, jsonify, request
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from cdr_service import create_app
from tollgate_common.testing import PG_ADMIN_URL, internal_client, service_config, truncate_all
from tollgate_sim.fusionpbx import create_schema

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"
SECRET_KEY = Fernet.generate_key().decode()
FUSIONPBX_TABLES = ("v_xml_cdr", "v_extensions", "v_gateways", "v_domains")


@pytest.fixture(scope="session")
def database_url(database_url_for):
    """The migrated cdr database of this test run."""
    return database_url_for("cdr", MIGRATIONS)


@pytest.fixture(scope="session")
def rating_server():
    """A stub rating-service over real HTTP (contract A with fixed rules)."""
    stub = create_rating_stub()
    with LiveServer(stub) as server:
        server.app = stub
        yield server


@pytest.fixture
def rating_stub(rating_server):
    """The stub's app, with its rate reset and its request log emptied."""
    rating_server.app.config["RATE"] = Decimal("0.01")
    rating_server.app.config["REQUESTS"].clear()
    return rating_server.app


@pytest.fixture
def app_overrides():
    """Extra settings for the app; a test module overrides this fixture to change them."""
    return {}


@pytest.fixture
def app(database_url, redis_url, redis_conn, rating_server, app_overrides):
    """The cdr app from its factory, talking to the stub rating-service; tables emptied afterwards."""
    settings = {
        "secret_key": SECRET_KEY,
        "rating_url": rating_server.url,
        "sync_overlap_seconds": 3600,
        "fetch_batch_size": 500,
        "rate_batch_size": 200,
        **app_overrides,
    }
    app = create_app(service_config(database_url, redis_url, **settings))
    yield app
    truncate_all(app.extensions["db"])
    app.extensions["db"].dispose()


@pytest.fixture
def client(app):
    """A test client that sends the internal token."""
    return internal_client(app)


def make_fusionpbx_database(name: str, version: str) -> str:
    """Create a PostgreSQL database holding FusionPBX `version`'s tables."""
    database = f"tg_test_fpbx_{name}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
    create_schema(url, version=version)
    return url


def drop_database(url: str) -> None:
    """Drop a database made for the run."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def fusionpbx_databases():
    """FusionPBX databases (always PostgreSQL, as on a real PBX) per version, made once per run."""
    made: dict[str, str] = {}

    def get(version: str) -> str:
        """The database of FusionPBX `version`, made on first use."""
        if version not in made:
            made[version] = make_fusionpbx_database(version.replace(".", ""), version)
        return made[version]

    yield get
    for url in made.values():
        drop_database(url)


@pytest.fixture
def fusionpbx_url(fusionpbx_databases):
    """A FusionPBX 5.5 database, emptied after the test."""
    url = fusionpbx_databases("5.5")
    yield url
    empty_fusionpbx(url)


def empty_fusionpbx(url: str) -> None:
    """Empty the FusionPBX tables between tests."""
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE " + ", ".join(FUSIONPBX_TABLES)))
    engine.dispose()


class LiveServer:
    """A threaded werkzeug server for one app; `url` is its base URL once started."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


FREE_PREFIX_EXCLUDED = "1800"
NO_RATE_PREFIX = "44"


def normalise(number: str) -> str:
    """Strip an exit code and make 10-digit NANP numbers 11 digits, as a tariff lookup would."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if digits.startswith("011"):
        return digits[3:]
    if len(digits) == 10:
        return "1" + digits
    return digits


def rate_one(cdr: dict, rate: Decimal) -> dict:
    """Outbound answered calls cost `rate`/min in 6/6 increments; everything else has a fixed reason."""
    base = {
        "id": cdr["id"],
        "billable": False,
        "visible": True,
        "number_e164": normalise(cdr["number"]),
        "number_class": "e164",
        "prefix": None,
        "description": None,
        "source": None,
        "rate_per_minute": None,
        "billed_seconds": 0,
        "free_seconds": 0,
        "cost": "0",
        "cost_exact": "0",
        "tariff_version": None,
        "package_id": 7,
    }
    number = base["number_e164"]
    if cdr["direction"] == "local":
        return {**base, "reason": "local", "number_class": "extension"}
    if cdr["direction"] == "inbound":
        return {**base, "reason": "inbound_not_billed"}
    if number.startswith("999"):
        return {**base, "reason": "suppressed", "visible": False}
    if not cdr["answered"]:
        return {**base, "reason": "unanswered"}
    if number.startswith(FREE_PREFIX_EXCLUDED):
        return {**base, "reason": "excluded"}
    if number.startswith(NO_RATE_PREFIX):
        return {**base, "reason": "no_rate"}
    billed = -(-cdr["billsec"] // 6) * 6
    exact = rate * billed / 60
    return {
        **base,
        "billable": True,
        "reason": "billable",
        "prefix": number[:4],
        "description": "North America",
        "source": "tariff",
        "rate_per_minute": str(rate),
        "billed_seconds": billed,
        "cost": str(exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)),
        "cost_exact": str(exact),
        "tariff_version": 1,
    }


def create_rating_stub() -> Flask:
    """The stub app; `app.config["RATE"]` changes the price, `app.config["REQUESTS"]` records each batch."""
    app = Flask("rating_stub")
    app.config["RATE"] = Decimal("0.01")
    app.config["REQUESTS"] = []

    @app.post("/internal/rate-batch")
    def rate_batch():
        """Rate a batch and record the request."""
        body = request.get_json()
        app.config["REQUESTS"].append(body)
        for cdr in body["cdrs"]:
            assert cdr["service_id"] in body["services"], "every CDR's service is described"
        return jsonify(results=[rate_one(cdr, app.config["RATE"]) for cdr in body["cdrs"]])

    @app.get("/internal/services/<int:service_id>/rates")
    def rates(service_id):
        """Answer a fixed rate list for the service's product."""
        return jsonify(
            service_id=service_id,
            product_id=int(request.args["product_id"]),
            q=request.args.get("q"),
            rates=[{"prefix": "1", "description": "North America", "rate_per_minute": str(app.config["RATE"])}],
        )

    return app


@pytest.fixture
def service_101(client):
    """A FusionPBX server (never contacted) and service 101 of client 7 billing extensions 2112 and 2113."""
    server = client.post(
        "/v1/servers",
        json={
            "name": "store-only",
            "kind": "fusionpbx",
            "timezone": "America/Toronto",
            "settings": {"db_dsn": "postgresql://nobody@127.0.0.1:1/none"},
        },
    ).json
    next_due = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    response = client.put(
        "/v1/services/101",
        json={
            "client_id": 7,
            "product_id": 3,
            "server_id": server["id"],
            "domain": "acme.pbx.example | 5192229000",
            "username": "2112 | 2113",
            "next_due_date": next_due,
        },
    )
    assert response.status_code == 200, response.json
    return {"server_id": server["id"], "service_id": 101}


@pytest.fixture
def store_calls(app, service_101):
    """Store CallRecords for the service's server, attributed as a sync would, and return their ids."""
    from sqlalchemy import select

    from cdr_service.adapters.base import FetchBatch
    from cdr_service.attribution import Attributor
    from cdr_service.models import Cdr, ServiceAssignment
    from cdr_service.store import store_batch

    def store(records):
        """Store `records` and return the ids of every stored CDR."""
        db = app.extensions["db"]
        with db.session() as session:
            attributor = Attributor(session.scalars(select(ServiceAssignment)).all())
        store_batch(db, service_101["server_id"], FetchBatch(records=list(records)), attributor)
        with db.session() as session:
            return list(session.scalars(select(Cdr.id).order_by(Cdr.id)))

    return store


@pytest.fixture
def rate_all(app):
    """Rate every pending CDR through the stub rating-service, as the sync job does."""
    from cdr_service.jobs import rate_new

    def rate():
        """Run the rating step of the sync job."""
        with app.app_context():
            return rate_new()

    return rate


def call(number, start, billsec=60, direction="outbound", extension="2112", **changes):
    """A CallRecord for tenant acme.pbx.example."""
    from cdr_service.adapters.base import CallRecord

    values = dict(
        source_id=str(uuid.uuid4()),
        tenant="acme.pbx.example",
        direction=direction,
        extension=extension,
        caller_number=extension if direction != "inbound" else number,
        destination_number=number if direction != "inbound" else extension,
        caller_destination=number if direction != "inbound" else "5192229000",
        start_at=start,
        answer_at=start + timedelta(seconds=3) if billsec else None,
        end_at=start + timedelta(seconds=3 + billsec),
        duration=billsec,
        billsec=billsec,
        status="answered" if billsec else "no_answer",
        hangup_cause="NORMAL_CLEARING" if billsec else "NO_ANSWER",
    )
    values.update(changes)
    return CallRecord(**values)


@pytest.fixture
def make_call():
    """The `call(number, start, billsec, direction, extension, **changes)` CallRecord factory."""
    return call


@pytest.fixture
def live_server():
    """Serve WSGI apps over real HTTP for the test: `live_server(app)` returns the base URL."""
    started = []

    def serve(wsgi_app):
        """Start `wsgi_app` and return its base URL."""
        server = LiveServer(wsgi_app).__enter__()
        started.append(server)
        return server.url

    yield serve
    for server in started:
        server.__exit__(None, None, None)
