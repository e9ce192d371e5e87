"""FusionPBX database mode against the simulator's real PostgreSQL tables: sync, dedupe, late rows, quarantine."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import func, select, text

from cdr_service.models import Cdr, QuarantinedCdr, SyncWatermark
from tollgate_common.jobs import enqueue, fetch_job
from tollgate_common.testing import run_jobs
from tollgate_sim.fusionpbx import TrafficGenerator, connect, seed_tenant

TENANT = "acme.pbx.example"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def pbx(client, fusionpbx_url):
    """A FusionPBX tenant with three extensions, its server, and service 101 billing 2112 and 2113."""
    seed_tenant(fusionpbx_url, TENANT, extensions=["2112", "2113", "2114"], gateways=["carrier"])
    server = client.post(
        "/v1/servers",
        json={"name": "pbx", "kind": "fusionpbx", "timezone": "America/Toronto", "settings": {"db_dsn": fusionpbx_url}},
    ).json
    response = client.put(
        "/v1/services/101",
        json={
            "client_id": 7,
            "product_id": 3,
            "server_id": server["id"],
            "domain": f"{TENANT} | 5192229000",
            "username": "2112 | 2113",
            "billing_cycle": "Monthly",
            "next_due_date": (NOW.date() + timedelta(days=10)).isoformat(),
        },
    )
    assert response.status_code == 200, response.json
    return {"server_id": server["id"], "traffic": TrafficGenerator(fusionpbx_url, seed=4), "url": fusionpbx_url}


def sync(app, redis_conn, server_id, key="1"):
    """Run sync_server through a real RQ worker and return its result."""
    job, _ = enqueue(
        redis_conn, "cdr", "cdr_service.jobs.sync_server", server_id, job_id=f"test-sync:{server_id}:{key}"
    )
    run_jobs(app, "cdr")
    finished = fetch_job(redis_conn, job.id)
    assert finished.get_status() == "finished", finished.latest_result().exc_string
    return finished.return_value()


def count(app, model, *conditions):
    """Count stored rows of `model` matching `conditions`."""
    with app.extensions["db"].engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model).where(*conditions)).scalar_one()


@pytest.mark.smoke
def test_window_fetched_twice_stores_each_call_once(app, redis_conn, pbx, rating_stub):
    """Two syncs over the same rows store each A-leg call once; B legs are never stored."""
    traffic = pbx["traffic"]
    rows = traffic.generate(TENANT, 60, NOW - timedelta(hours=5), NOW - timedelta(hours=1))
    traffic.insert(rows)
    a_legs = sum(1 for row in rows if row["leg"] == "a")
    first = sync(app, redis_conn, pbx["server_id"], "first")
    overlap = sync(app, redis_conn, pbx["server_id"], "overlap")
    with app.extensions["db"].engine.begin() as connection:
        connection.execute(text("UPDATE sync_watermarks SET position = NULL"))
    whole_window = sync(app, redis_conn, pbx["server_id"], "whole")
    assert first["stored"] == a_legs
    assert overlap["fetched"] > 0 and overlap["stored"] == 0
    assert whole_window["fetched"] == a_legs and whole_window["stored"] == 0
    assert count(app, Cdr) == a_legs


def test_late_row_is_caught_by_next_sync(app, redis_conn, pbx, rating_stub):
    """A row inserted after a sync, even with an insert_date inside the overlap, lands with the next sync."""
    traffic = pbx["traffic"]
    traffic.insert([traffic.make_call(TENANT, "outbound", "15145550000", 61, NOW - timedelta(hours=3), "2112")])
    sync(app, redis_conn, pbx["server_id"], "first")
    with app.extensions["db"].session() as session:
        watermark = session.get(SyncWatermark, pbx["server_id"]).position
    late = traffic.make_call(
        TENANT,
        "outbound",
        "15145550001",
        30,
        NOW - timedelta(hours=6),
        "2113",
        insert_date=watermark - timedelta(minutes=20),
    )
    traffic.insert([late])
    result = sync(app, redis_conn, pbx["server_id"], "second")
    assert result["stored"] == 1
    stored = count(app, Cdr, Cdr.source_id == late["xml_cdr_uuid"], Cdr.service_id == 101)
    assert stored == 1


@pytest.mark.smoke
def test_bad_row_is_quarantined_and_the_rest_lands(app, redis_conn, pbx, rating_stub):
    """A row with an unknown direction is quarantined with its reason; the good rows of the batch are stored."""
    traffic = pbx["traffic"]
    good = [
        traffic.make_call(TENANT, "outbound", f"1514555000{i}", 20 + i, NOW - timedelta(hours=2), "2112")
        for i in range(5)
    ]
    bad = traffic.make_call(TENANT, "outbound", "15145559999", 20, NOW - timedelta(hours=2), "2112")
    bad["direction"] = "sideways"
    traffic.insert([*good[:2], bad, *good[2:]])
    result = sync(app, redis_conn, pbx["server_id"])
    assert result["stored"] == 5 and result["quarantined"] == 1
    with app.extensions["db"].session() as session:
        held = session.scalars(select(QuarantinedCdr)).one()
    assert held.source_id == bad["xml_cdr_uuid"]
    assert "direction" in held.reason and "sideways" in held.reason
    assert held.service_id == 101
    again = sync(app, redis_conn, pbx["server_id"], "again")
    assert again["quarantined"] == 0 and count(app, QuarantinedCdr) == 1


def test_sync_normalises_and_attributes_and_rates(app, redis_conn, pbx, rating_stub):
    """Stored calls carry direction, numbers, UTC times and billsec; they are attributed by extension and rated."""
    traffic = pbx["traffic"]
    start = NOW - timedelta(hours=2)
    out = traffic.make_call(TENANT, "outbound", "15145550000", 61, start, "2112")
    inbound = traffic.make_call(
        TENANT, "inbound", "16135550000", 45, start + timedelta(minutes=1), "2113", did="5192229000"
    )
    unanswered = traffic.make_call(
        TENANT, "outbound", "15145550002", 0, start + timedelta(minutes=2), "2112", status="busy"
    )
    other = traffic.make_call(TENANT, "outbound", "15145550003", 10, start + timedelta(minutes=3), "2114")
    traffic.insert([out, inbound, unanswered, other])
    result = sync(app, redis_conn, pbx["server_id"])
    assert result["rating"]["rated"] == 3
    with app.extensions["db"].session() as session:
        by_source = {row.source_id: row for row in session.scalars(select(Cdr))}
    call = by_source[out["xml_cdr_uuid"]]
    assert (call.direction, call.extension, call.destination_number, call.billsec) == (
        "outbound",
        "2112",
        "15145550000",
        61,
    )
    assert call.start_at.astimezone(UTC) == start
    assert call.service_id == 101 and call.billable and call.billed_seconds == 66
    assert call.cost == Decimal("0.0110") and call.cost_exact == Decimal("0.011")
    assert by_source[inbound["xml_cdr_uuid"]].caller_destination == "5192229000"
    assert by_source[inbound["xml_cdr_uuid"]].reason == "inbound_not_billed"
    assert by_source[unanswered["xml_cdr_uuid"]].status == "busy"
    assert by_source[unanswered["xml_cdr_uuid"]].reason == "unanswered"
    assert by_source[other["xml_cdr_uuid"]].service_id is None
    request = rating_stub.config["REQUESTS"][0]
    assert request["services"]["101"]["product_id"] == 3
    assert set(request["services"]["101"]["tenant_numbers"]) >= {"2112", "2113", "5192229000"}
    next_due = NOW.date() + timedelta(days=10)
    assert request["services"]["101"]["period"] == (next_due - relativedelta(months=1)).isoformat()


@pytest.mark.parametrize("version", ["5.0", "5.2", "5.4"])
def test_older_layouts_are_read(app, redis_conn, client, fusionpbx_databases, version, rating_stub):
    """The reader selects only columns that exist; 5.0 has no status column, which is derived."""
    url = fusionpbx_databases(version)
    try:
        seed_tenant(url, TENANT, extensions=["2112"])
        traffic = TrafficGenerator(url, seed=9)
        traffic.insert(
            [
                traffic.make_call(TENANT, "outbound", "15145550000", 30, NOW - timedelta(hours=1), "2112"),
                traffic.make_call(
                    TENANT, "outbound", "15145550001", 0, NOW - timedelta(hours=1), "2112", status="busy"
                ),
            ]
        )
        server_id = client.post(
            "/v1/servers", json={"name": f"pbx{version}", "kind": "fusionpbx", "settings": {"db_dsn": url}}
        ).json["id"]
        assert client.post(f"/v1/servers/{server_id}/test").json["ok"] is True
        result = sync(app, redis_conn, server_id)
        assert result["stored"] == 2
        with app.extensions["db"].session() as session:
            statuses = sorted(session.scalars(select(Cdr.status)))
        assert statuses == ["answered", "busy"]
    finally:
        with connect(url) as connection:
            connection.execute(text("TRUNCATE v_xml_cdr, v_extensions, v_gateways, v_domains").text)
