"""Pytest plugin shared by every service: real Redis on a spare database index, a real PostgreSQL
database per test run (or SQLite files for the smoke run), and helpers to run jobs in-process.

Loaded through the `pytest11` entry point of tollgate-common, so every suite gets these fixtures.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import MetaData, create_engine, text
from werkzeug.serving import make_server

from .db import Database, upgrade_database
from .http import INTERNAL_TOKEN_HEADER

TEST_INTERNAL_TOKEN = "test-internal-token-0123456789"
PG_ADMIN_URL = os.environ.get("TOLLGATE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
REDIS_BASE_URL = os.environ.get("TOLLGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379")


def storage_backend() -> str:
    """`postgres` (default) or `sqlite`, from TOLLGATE_TEST_STORAGE."""
    return os.environ.get("TOLLGATE_TEST_STORAGE", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "smoke: also run in the SQLite smoke pass")


def claim_redis_database() -> tuple[int, IO[str]]:
    """Claim a Redis database index from 4 to 15 that no other test run holds (a file lock per index).

    Indexes below 4 are left alone so a developer's data is never flushed; the lock lets several
    test runs share one Redis. The caller keeps the returned file open to hold the claim.
    """
    for index in range(4, 16):
        handle = open(Path(tempfile.gettempdir()) / f"tollgate-test-redis-{index}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return index, handle
    raise RuntimeError("every Redis test database (4-15) is held by another test run")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    index, claim = claim_redis_database()
    url = f"{REDIS_BASE_URL}/{index}"
    Redis.from_url(url).flushdb()
    yield url
    Redis.from_url(url).flushdb()
    claim.close()


@pytest.fixture
def redis_conn(redis_url: str) -> Iterator[Redis]:
    """A Redis client on the test database, flushed before and after each test."""
    connection = Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()
    connection.close()


class DatabaseFactory:
    """Creates one throwaway database per name for the test run, migrated, and drops them at the end."""

    def __init__(self) -> None:
        self.run_id = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []
        self.urls: dict[str, str] = {}
        self.sqlite_dir: Path | None = None

    def __call__(self, name: str, migrations_dir: Path | None = None) -> str:
        """Return the database for `name`, creating (and migrating) it on first use."""
        if name not in self.urls:
            self.urls[name] = self.create(name, migrations_dir)
        return self.urls[name]

    def create(self, name: str, migrations_dir: Path | None) -> str:
        if storage_backend() == "sqlite":
            if self.sqlite_dir is None:
                self.sqlite_dir = Path(tempfile.mkdtemp(prefix="tollgate-test-"))
            url = f"sqlite:///{self.sqlite_dir / (name + '.db')}"
        else:
            database = f"tg_test_{name}_{self.run_id}".lower()
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{database}"'))
            admin.dispose()
            self.created.append(database)
            url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + database
        if migrations_dir is not None:
            upgrade_database(migrations_dir, url)
        return url

    def drop_all(self) -> None:
        if self.created:
            admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                for database in self.created:
                    connection.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            admin.dispose()
        if self.sqlite_dir is not None:
            shutil.rmtree(self.sqlite_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def database_url_for() -> Iterator[Callable[..., str]]:
    """Factory fixture: `database_url_for("cdr", migrations_dir)` returns a migrated database URL."""
    factory = DatabaseFactory()
    yield factory
    factory.drop_all()


def truncate_all(database: Database) -> None:
    """Empty every table but Alembic's, so each test starts from the migrated, empty schema."""
    metadata = MetaData()
    metadata.reflect(database.engine)
    tables = [table for table in metadata.sorted_tables if table.name != "alembic_version"]
    if not tables:
        return
    with database.engine.begin() as connection:
        if database.is_sqlite:
            for table in reversed(tables):
                connection.execute(table.delete())
        else:
            names = ", ".join(f'"{table.name}"' for table in tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


def internal_client(app: Flask) -> FlaskClient:
    """A test client that sends the internal token, as a peer service would."""
    client = app.test_client()
    client.environ_base["HTTP_" + INTERNAL_TOKEN_HEADER.upper().replace("-", "_")] = TEST_INTERNAL_TOKEN
    return client


def service_config(database_url: str, redis_url: str, **extra: object) -> dict[str, object]:
    """The settings overrides a service test app needs."""
    return {
        "database_url": database_url,
        "redis_url": redis_url,
        "internal_token": TEST_INTERNAL_TOKEN,
        "log_json": False,
        "log_level": "WARNING",
        **extra,
    }


def run_jobs(app: Flask, queue_name: str) -> None:
    """Run every job waiting on `queue_name` in this process, then return."""
    from .worker import build_worker

    build_worker(app, queue_name, simple=True).work(burst=True)


@contextmanager
def serve_app(app: Flask) -> Iterator[str]:
    """Serve `app` on a free loopback port in a thread for the duration; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
