"""Fixtures for rating_service: the app from its factory on a migrated database and a flushed Redis."""

from pathlib import Path

import pytest

from rating_service import create_app
from tollgate_common.testing import internal_client, service_config, truncate_all

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@pytest.fixture(scope="session")
def database_url(database_url_for):
    return database_url_for("rating", MIGRATIONS)


@pytest.fixture
def app(database_url, redis_url, redis_conn):
    app = create_app(service_config(database_url, redis_url))
    yield app
    truncate_all(app.extensions["db"])
    app.extensions["db"].dispose()


@pytest.fixture
def client(app):
    return internal_client(app)
