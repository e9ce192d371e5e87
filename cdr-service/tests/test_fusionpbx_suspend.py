"""FusionPBX suspension strategies against the simulator's tables and fake event socket, through RQ jobs."""

import pytest
from sqlalchemy import select

from cdr_service.models import PbxAction, ServiceAssignment
from tollgate_common.jobs import enqueue, fetch_job
from tollgate_common.testing import run_jobs
from tollgate_sim.esl import EventSocketServer
from tollgate_sim.fusionpbx import connect, seed_tenant

TENANT = "acme.pbx.example"


@pytest.fixture
def esl():
    """A fake event socket with password `s3cret`."""
    with EventSocketServer(password="s3cret") as server:
        yield server


def setup_service(client, url, esl, strategy):
    """Seed the tenant, register the server with `strategy`, and assign service 101."""
    ids = seed_tenant(url, TENANT, extensions=["2112", "2113", "2114"], gateways=["carrier"])
    server_id = client.post(
        "/v1/servers",
        json={
            "name": f"pbx-{strategy}",
            "kind": "fusionpbx",
            "settings": {
                "db_dsn": url,
                "suspend_strategy": strategy,
                "event_socket": {"host": "127.0.0.1", "port": esl.port, "password": "s3cret"},
            },
        },
    ).json["id"]
    response = client.put(
        "/v1/services/101",
        json={"client_id": 7, "product_id": 3, "server_id": server_id, "domain": TENANT, "username": "2112 | 2113"},
    )
    assert response.status_code == 200
    return ids


def run_action(app, redis_conn, action, ref):
    """Run a suspend or unsuspend job for service 101 through a real RQ worker."""
    job, _ = enqueue(redis_conn, "cdr", f"cdr_service.jobs.{action}_service", 101, ref, job_id=f"{action}:{ref}")
    run_jobs(app, "cdr")
    return fetch_job(redis_conn, job.id)


def enabled(url, sql):
    """Rows of (name, enabled flag) from the FusionPBX database, flags as lower-case text."""
    with connect(url) as connection:
        return {key: str(value).lower() for key, value in connection.execute(sql).fetchall()}


def test_extensions_strategy_disables_only_the_service_extensions(app, client, redis_conn, fusionpbx_url, esl):
    """Suspend disables 2112 and 2113 (not 2114), deletes their directory cache, flushes registrations, reloads."""
    setup_service(client, fusionpbx_url, esl, "extensions")
    job = run_action(app, redis_conn, "suspend", "s1")
    assert job.return_value() == {"status": "done", "message": "suspend done (extensions)"}
    assert enabled(fusionpbx_url, "SELECT extension, enabled FROM v_extensions") == {
        "2112": "false",
        "2113": "false",
        "2114": "true",
    }
    assert esl.api_commands() == [
        f"sofia profile internal flush_inbound_reg 2112@{TENANT} reboot",
        f"sofia profile internal flush_inbound_reg 2113@{TENANT} reboot",
        "reloadxml",
    ]
    deleted = [event["API-Command-Argument"] for event in esl.events]
    assert deleted == [f"delete directory:2112@{TENANT}", f"delete directory:2113@{TENANT}"]
    esl.clear()
    assert run_action(app, redis_conn, "suspend", "s1").return_value()["status"] == "done"
    assert esl.commands == []
    run_action(app, redis_conn, "unsuspend", "u1")
    assert set(enabled(fusionpbx_url, "SELECT extension, enabled FROM v_extensions").values()) == {"true"}
    assert esl.api_commands() == ["reloadxml"]
    with app.extensions["db"].session() as session:
        assert session.get(ServiceAssignment, 101).suspended is False


def test_domain_strategy(app, client, redis_conn, fusionpbx_url, esl):
    """The domain strategy flips domain_enabled and flushes the cache, then restores it."""
    setup_service(client, fusionpbx_url, esl, "domain")
    run_action(app, redis_conn, "suspend", "s1")
    assert enabled(fusionpbx_url, "SELECT domain_name, domain_enabled FROM v_domains") == {TENANT: "false"}
    assert [event["API-Command-Argument"] for event in esl.events] == ["flush"]
    assert esl.api_commands()[-1] == "reloadxml"
    with app.extensions["db"].session() as session:
        assert session.get(ServiceAssignment, 101).suspended is True
    run_action(app, redis_conn, "unsuspend", "u1")
    assert enabled(fusionpbx_url, "SELECT domain_name, domain_enabled FROM v_domains") == {TENANT: "true"}


def test_gateway_strategy(app, client, redis_conn, fusionpbx_url, esl):
    """The gateway strategy disables the tenant's gateways, kills them and rescans; unsuspend starts them."""
    ids = setup_service(client, fusionpbx_url, esl, "gateway")
    gateway = ids.gateway_uuids["carrier"]
    run_action(app, redis_conn, "suspend", "s1")
    assert enabled(fusionpbx_url, "SELECT gateway, enabled FROM v_gateways") == {"carrier": "false"}
    assert esl.api_commands() == [f"sofia profile external killgw {gateway}", "sofia profile external rescan"]
    esl.clear()
    run_action(app, redis_conn, "unsuspend", "u1")
    assert enabled(fusionpbx_url, "SELECT gateway, enabled FROM v_gateways") == {"carrier": "true"}
    assert esl.api_commands() == ["sofia profile external rescan", f"sofia profile external startgw {gateway}"]


def test_text_enabled_columns_of_5_4(app, client, redis_conn, fusionpbx_databases, esl):
    """On 5.4, where `enabled` is text, the extension rows hold 'false' and then 'true'."""
    url = fusionpbx_databases("5.4")
    try:
        setup_service(client, url, esl, "extensions")
        run_action(app, redis_conn, "suspend", "s1")
        assert enabled(url, "SELECT extension, enabled FROM v_extensions")["2112"] == "false"
        run_action(app, redis_conn, "unsuspend", "u1")
        assert enabled(url, "SELECT extension, enabled FROM v_extensions")["2112"] == "true"
    finally:
        with connect(url) as connection:
            connection.execute("TRUNCATE v_xml_cdr, v_extensions, v_gateways, v_domains")


def test_failed_action_stays_pending_and_is_retried(app, client, redis_conn, fusionpbx_url, esl):
    """With the event socket down the job fails and the action stays pending; a later attempt completes it."""
    setup_service(client, fusionpbx_url, esl, "extensions")
    esl.stop()
    job = run_action(app, redis_conn, "suspend", "s1")
    assert job.get_status() in ("failed", "scheduled")
    pending = client.get("/v1/pbx-actions", query_string={"status": "pending"}).json
    assert pending[0]["action_ref"] == "s1" and "unreachable" in pending[0]["message"]
    with EventSocketServer(password="s3cret", port=esl.port) as again:
        job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.suspend_service", 101, "s1", job_id="suspend:s1:retry")
        run_jobs(app, "cdr")
        assert fetch_job(redis_conn, job.id).return_value()["status"] == "done"
        assert "reloadxml" in again.api_commands()
    with app.extensions["db"].session() as session:
        action = session.scalars(select(PbxAction)).one()
    assert action.status == "done" and action.attempts == 2


def test_a_retried_suspend_never_undoes_a_later_unsuspend(app, client, redis_conn, fusionpbx_url, esl):
    """A suspend that failed and retries after the client was restored is skipped: the restore stands."""
    setup_service(client, fusionpbx_url, esl, "extensions")
    esl.stop()
    assert run_action(app, redis_conn, "suspend", "client:7:1:101:suspend").get_status() in ("failed", "scheduled")
    with EventSocketServer(password="s3cret", port=esl.port) as again:
        assert run_action(app, redis_conn, "unsuspend", "client:7:1:101:unsuspend").return_value()["status"] == "done"
        job, _ = enqueue(
            redis_conn, "cdr", "cdr_service.jobs.suspend_service", 101, "client:7:1:101:suspend", job_id="late-retry"
        )
        run_jobs(app, "cdr")
        result = fetch_job(redis_conn, job.id).return_value()
        assert result["status"] == "superseded" and "client:7:1:101:unsuspend" in result["message"]
        assert "reloadxml" in again.api_commands()
        commands_after_restore = list(again.commands)
    flags = enabled(fusionpbx_url, "SELECT extension, enabled FROM v_extensions WHERE extension IN ('2112', '2113')")
    assert flags == {"2112": "true", "2113": "true"}
    assert client.get("/v1/services/101").json["suspended"] is False
    assert not any("flush_inbound_reg" in command for command in commands_after_restore)
