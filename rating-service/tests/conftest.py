"""Fixtures for rating_service: the app from its factory on a migrated database and a flushed Redis."""

import io
import json
from pathlib import Path

import pytest

from rating_service import create_app
from tollgate_common.testing import internal_client, service_config, truncate_all

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"

STANDARD_MAPPING = {"Description": "Description", "Prefix": "Prefix", "Rate": "RateValue", "Increment": "Increment"}


@pytest.fixture(scope="session")
def database_url(database_url_for):
    """One migrated rating database for the whole test run."""
    return database_url_for("rating", MIGRATIONS)


@pytest.fixture
def app(database_url, redis_url, redis_conn):
    """A fresh app on the test database; tables are emptied afterwards."""
    app = create_app(service_config(database_url, redis_url))
    yield app
    truncate_all(app.extensions["db"])
    app.extensions["db"].dispose()


@pytest.fixture
def client(app):
    """A test client that sends the internal token."""
    return internal_client(app)


class RatingApi:
    """Helpers that drive the rating service through HTTP, as an operator or cdr-service would."""

    def __init__(self, client):
        self.client = client

    def create_tariff(self, name="Carrier", currency="USD"):
        """Create a tariff and return its id."""
        response = self.client.post("/v1/tariffs", json={"name": name, "currency": currency})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def upload(self, tariff_id, content, mapping=None, effective_from=None, filename="deck.csv"):
        """Send a deck as multipart and return the raw response."""
        data = {"file": (io.BytesIO(content if isinstance(content, bytes) else content.encode()), filename)}
        if mapping is not None:
            data["mapping"] = json.dumps(mapping)
        if effective_from is not None:
            data["effective_from"] = effective_from
        return self.client.post(f"/v1/tariffs/{tariff_id}/import", data=data, content_type="multipart/form-data")

    def import_ok(self, tariff_id, content, mapping=STANDARD_MAPPING, **kwargs):
        """Import a deck that must succeed and return the result."""
        response = self.upload(tariff_id, content, mapping, **kwargs)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def tariff_with(self, rows, name="Carrier", effective_from=None):
        """Create a tariff whose deck holds `rows` of (description, prefix, rate, increment)."""
        tariff_id = self.create_tariff(name)
        lines = ["Description,Prefix,Rate,Increment"] + [",".join(map(str, row)) for row in rows]
        self.import_ok(tariff_id, "\n".join(lines) + "\n", effective_from=effective_from)
        return tariff_id

    def create_package(self, **fields):
        """Create a package that must be valid and return it."""
        body = {"name": fields.pop("name", "Package"), **fields}
        response = self.client.post("/v1/packages", json=body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def quote(self, package_id, number, billsec, direction="outbound", start=None):
        """Quote one call and return the result."""
        body = {"package_id": package_id, "number": number, "billsec": billsec, "direction": direction}
        if start:
            body["start"] = start
        response = self.client.post("/v1/rating/quote", json=body)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def rate_batch(self, services, cdrs):
        """Rate a batch and return its results."""
        response = self.client.post("/internal/rate-batch", json={"services": services, "cdrs": cdrs})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["results"]


@pytest.fixture
def api(client):
    """The RatingApi helper bound to the test client."""
    return RatingApi(client)
