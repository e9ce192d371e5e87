"""Gateway authentication, scopes, routing errors and rate limits, through the Flask test client."""

import pytest

from gateway import create_app
from gateway.keys import hash_key
from gateway.models import ApiKey
from tollgate_common.service import get_db
from tollgate_common.testing import service_config


@pytest.mark.smoke
def test_missing_key_is_401_envelope(client):
    """A request without a key gets 401 and the error envelope."""
    response = client.get("/v1/servers")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert "Authorization" in response.json["error"]["message"]


def test_unknown_key_is_401(client):
    """A well-formed but unknown key is refused."""
    response = client.get("/v1/servers", headers={"Authorization": "Bearer tg_not-a-real-key"})
    assert response.status_code == 401
    assert response.json["error"]["message"] == "unknown or revoked API key"


def test_wrong_scope_is_403(client, make_key):
    """A cron key cannot call admin routes, and the envelope says which scopes would do."""
    response = client.get("/v1/servers", headers=make_key("cron"))
    assert response.status_code == 403
    assert response.json["error"]["details"]["required_any_of"] == ["admin"]


def test_unknown_route_is_404_envelope(client, make_key):
    """An authenticated request to a path no service owns gets the 404 envelope."""
    response = client.get("/v1/nothing-here", headers=make_key("admin"))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_wrong_method_is_405(client, make_key):
    """A known path with a method it does not take answers 405 naming the allowed ones."""
    response = client.delete("/v1/tariffs", headers=make_key("admin"))
    assert response.status_code == 405
    assert response.json["error"]["details"]["allowed"] == ["GET", "HEAD", "POST"]


def test_keys_are_stored_hashed(app, make_key):
    """Only the SHA-256 of a key is stored, never the key."""
    header = make_key("admin")
    key = header["Authorization"].split()[1]
    with app.app_context(), get_db().session() as session:
        row = session.query(ApiKey).one()
        assert row.key_hash == hash_key(key)
        assert key not in (row.key_hash, row.key_prefix, row.name)


def test_bootstrap_admin_key_from_environment(database_url, redis_url, redis_conn):
    """TOLLGATE_ADMIN_KEY becomes a working admin key, stored once however often the app starts."""
    admin_key = "tg_bootstrap-admin-key-for-tests-0001"
    config = service_config(database_url, redis_url, admin_key=admin_key)
    create_app(config)
    app = create_app(config)
    with app.app_context(), get_db().session() as session:
        assert session.query(ApiKey).filter_by(key_hash=hash_key(admin_key)).count() == 1
    response = app.test_client().get("/v1/jobs/unknown-job", headers={"Authorization": f"Bearer {admin_key}"})
    assert response.status_code == 404
    assert response.json["error"]["message"] == "job 'unknown-job' not found"


def test_rate_limit_gives_429_with_retry_after(client, make_key):
    """Past the per-minute limit a key gets 429 with Retry-After; other keys are unaffected."""
    limited, other = make_key("admin"), make_key("admin")
    statuses = [client.get("/v1/jobs/none", headers=limited).status_code for _ in range(51)]
    assert statuses[:50] == [404] * 50
    assert statuses[50] == 429
    response = client.get("/v1/jobs/none", headers=limited)
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json["error"]["code"] == "rate_limited"
    assert client.get("/v1/jobs/none", headers=other).status_code == 404


def test_public_paths_need_no_key(client):
    """Health and metrics are open; they reveal nothing about clients."""
    assert client.get("/healthz").status_code == 200
    assert b"tollgate_http_requests_total" in client.get("/metrics").data
