"""Fixtures for the gateway: the app from its factory on a migrated database, keys of each scope."""

from pathlib import Path

import pytest

from gateway import create_app
from gateway.keys import create_key
from tollgate_common.service import get_db
from tollgate_common.testing import service_config, truncate_all

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


@pytest.fixture(scope="session")
def database_url(database_url_for):
    return database_url_for("gateway", MIGRATIONS)


@pytest.fixture
def app(database_url, redis_url, redis_conn):
    app = create_app(service_config(database_url, redis_url, rate_limit_per_minute=50))
    yield app
    truncate_all(app.extensions["db"])
    app.extensions["db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_key(app):
    """Create a key with the given scopes and return the Authorization header for it."""

    def make(*scopes):
        with app.app_context(), get_db().session() as session:
            key, _ = create_key(session, list(scopes), "test")
        return {"Authorization": f"Bearer {key}"}

    return make
