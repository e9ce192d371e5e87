"""A whole Tollgate stack (gateway, services, workers) as real processes, shared by the e2e tests."""

import sys
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).parent))  # importlib mode leaves sys.path alone; stack.py lives here

from stack import ROOT, Stack, stack_environment

ADMIN_KEY = "tg_e2e-admin-key-0123456789abcdef"
INTERNAL_TOKEN = "e2e-internal-token-0123456789"
MIGRATED = {
    "gateway": ROOT / "gateway" / "migrations",
    "cdr": ROOT / "cdr-service" / "migrations",
    "rating": ROOT / "rating-service" / "migrations",
    "balance": ROOT / "balance-service" / "migrations",
    "notify": ROOT / "notify-service" / "migrations",
}


@pytest.fixture(scope="session")
def stack(database_url_for, redis_url, tmp_path_factory):
    """Every service and the cdr worker, started from the Procfile on free ports."""
    urls = {name: database_url_for(f"e2e_{name}", migrations) for name, migrations in MIGRATED.items()}
    running = Stack(
        stack_environment(urls, redis_url, ADMIN_KEY, INTERNAL_TOKEN), logs=Path(tmp_path_factory.mktemp("logs"))
    )
    try:
        running.start(["gateway", "cdr", "rating", "balance", "notify", "cdr-worker"])
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin(stack):
    """A requests session authenticated with the bootstrap admin key."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return session
