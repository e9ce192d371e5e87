"""The spine, end to end: real gateway, services and worker processes driven over HTTP."""

import time

import pytest
import requests
from stack import Stack, free_port


def wait_for_job(session, gateway_url, job_id, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = session.get(f"{gateway_url}/v1/jobs/{job_id}").json()
        if report["status"] in {"finished", "failed"}:
            return report
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {report}")


@pytest.mark.smoke
def test_no_key_gets_401_envelope(stack):
    """Without a key the gateway answers 401 with the error envelope."""
    response = requests.get(f"{stack.gateway_url}/v1/servers")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_wrong_scope_gets_403(stack):
    """A key made with the CLI for cron cannot read admin routes."""
    cron_key = stack.run("tollgate keys create --scope cron --name e2e-cron").stdout.strip()
    response = requests.get(f"{stack.gateway_url}/v1/servers", headers={"Authorization": f"Bearer {cron_key}"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_unknown_route_gets_404_envelope(stack, admin):
    """A path no service owns is a 404 envelope, not a proxy error."""
    response = admin.get(f"{stack.gateway_url}/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_proxied_errors_keep_status_body_and_request_id(stack, admin):
    """A service's own 404 comes through unchanged, with the caller's request id echoed."""
    response = admin.get(f"{stack.gateway_url}/v1/servers/987654", headers={"X-Request-ID": "e2e-trace-1"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.headers["X-Request-ID"] == "e2e-trace-1"


@pytest.mark.smoke
def test_cdr_sync_round_trip_and_idempotent_retrigger(stack):
    """/cron/cdr-sync queues a job on `cdr`, the worker runs it, /v1/jobs shows it; the same key is the same job."""
    cron = requests.Session()
    cron.headers["Authorization"] = "Bearer " + stack.run("tollgate keys create --scope cron").stdout.strip()
    first = cron.post(f"{stack.gateway_url}/cron/cdr-sync?run_key=e2e-1&runfrom=cron")
    assert first.status_code == 202
    assert first.json()["run_key"] == "cdr-sync:e2e-1"
    report = wait_for_job(cron, stack.gateway_url, first.json()["job_id"])
    assert report["status"] == "finished"
    assert report["result"]["run_key"] == "cdr-sync:e2e-1"
    assert report["result"]["status"] == "finished"
    again = cron.get(f"{stack.gateway_url}/cron/cdr-sync?run_key=e2e-1")
    assert again.json()["job_id"] == first.json()["job_id"]
    assert again.json()["created"] is False
    waited = cron.get(f"{stack.gateway_url}/cron/cdr-sync?run_key=e2e-2&wait=20")
    assert waited.status_code == 200
    assert waited.json()["status"] == "finished"
    assert waited.json()["started_at"] <= waited.json()["ended_at"]
    assert waited.json()["ended_at"].endswith("+00:00")


def test_readyz_through_gateway(stack):
    """The gateway is ready when its storage and every service are."""
    response = requests.get(f"{stack.gateway_url}/readyz")
    assert response.status_code == 200, response.text
    assert set(response.json()["checks"]) == {"database", "redis", "cdr", "rating", "balance", "notify"}


def test_readyz_names_service_with_unreachable_database(stack, tmp_path):
    """A service whose database is down makes the gateway's /readyz fail, naming service and database."""
    env = dict(stack.env)
    env["RATING_DATABASE_URL"] = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/missing"
    env["TOLLGATE_RATING_PORT"] = str(free_port())
    env["TOLLGATE_RATING_URL"] = f"http://127.0.0.1:{env['TOLLGATE_RATING_PORT']}"
    env["TOLLGATE_GATEWAY_PORT"] = str(free_port())
    broken = Stack(env, logs=tmp_path)
    try:
        broken.start(["rating", "gateway"])
        response = requests.get(f"{broken.gateway_url}/readyz")
    finally:
        broken.stop()
    assert response.status_code == 503
    message = response.json()["error"]["message"]
    assert "rating" in message and "database unreachable" in message
    assert response.json()["error"]["details"]["checks"]["cdr"] == "ok"


def test_openapi_lists_gateway_routes(stack):
    """/openapi.json is served publicly and documents the cron routes."""
    spec = requests.get(f"{stack.gateway_url}/openapi.json").json()
    assert "/cron/cdr-sync" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
