"""The LesNet adapter against the LesNet simulator's daily files over HTTP, and the manual suspension task."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from cdr_service.adapters.lesnet import ReaderConfig, parse_file
from cdr_service.models import Cdr, PbxAction, QuarantinedCdr
from tollgate_common.jobs import enqueue, fetch_job, get_queue
from tollgate_common.testing import run_jobs
from tollgate_sim.lesnet import create_app as create_lesnet

PEER = "D4E3CD2BFC791"
DID = "12046664021"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def app_overrides():
    """The simulator serves plain HTTP on loopback, which only this dev/test setting admits."""
    return {"allow_http_loopback": True}


@pytest.fixture
def lesnet(live_server, tmp_path):
    """A LesNet simulator with account 11330 and its peer and DID."""
    app = create_lesnet(tmp_path)
    state = app.extensions["lesnet"]
    state.add_account("11330", {PEER: [DID]})
    return {"url": live_server(app), "state": state}


def add_service(client, lesnet):
    """Register the LesNet server and service 301; return the server id."""
    server_id = client.post(
        "/v1/servers", json={"name": "lesnet", "kind": "lesnet", "settings": {"admin_email": "noc@example.net"}}
    ).json["id"]
    response = client.put(
        "/v1/services/301",
        json={
            "client_id": 11,
            "product_id": 6,
            "server_id": server_id,
            "domain": f"{PEER} | {DID}",
            "username": DID,
            "custom_fields": {
                "Peer ID": PEER,
                "DID(s) Attached to Peer": DID,
                "CDR Link": f"{lesnet['url']}/cdr/11330_0000.txt",
            },
        },
    )
    assert response.status_code == 200, response.json
    return server_id


def sync(app, redis_conn, server_id, key):
    """Run sync_server through a real RQ worker; return its result."""
    job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.sync_server", server_id, job_id=f"lesnet:{key}")
    run_jobs(app, "cdr")
    finished = fetch_job(redis_conn, job.id)
    assert finished.get_status() == "finished", finished.latest_result().exc_string
    return finished.return_value()


def test_daily_files_overlap_and_each_call_is_stored_once(app, client, redis_conn, lesnet, rating_stub):
    """Consecutive daily files repeat rows; rows are deduplicated by hash, and new rows land."""
    state = lesnet["state"]
    state.set_clock(NOW - timedelta(days=1))
    out = state.add_call(NOW - timedelta(days=2), PEER, DID, "15145550000", "OUT", 61)
    state.add_call(NOW - timedelta(days=2, hours=1), PEER, "16135550000", DID, "IN", 30)
    state.add_call(NOW - timedelta(days=2, hours=2), PEER, DID, "15145550001", "OUT", 0)
    server_id = add_service(client, lesnet)
    assert sync(app, redis_conn, server_id, "day1")["stored"] == 3
    state.add_call(NOW - timedelta(hours=12), PEER, DID, "15145550002", "OUT", 20)
    state.set_clock(NOW)
    second = sync(app, redis_conn, server_id, "day2")
    assert second["fetched"] == 4 and second["stored"] == 1
    with app.extensions["db"].session() as session:
        calls = session.scalars(select(Cdr).order_by(Cdr.start_at)).all()
    assert len(calls) == 4 and {call.service_id for call in calls} == {301}
    outbound = next(call for call in calls if call.destination_number == "15145550000")
    assert (outbound.direction, outbound.caller_number, outbound.billsec) == ("outbound", DID, 61)
    assert outbound.start_at.astimezone(UTC) == out.start
    assert outbound.billable
    inbound = next(call for call in calls if call.direction == "inbound")
    assert inbound.caller_destination == DID and inbound.caller_number == "16135550000"


def test_reader_is_configurable_and_bad_lines_are_quarantined(app, client, redis_conn, lesnet, rating_stub):
    """Another delimiter, columns and date format read the same calls; a bad line is held with its number."""
    text = "when;peer;from;to;dir;secs\n25/11/2026 10:00:00;D4E3CD2BFC791;12046664021;15145550000;OUT;42\n"
    text += "31/02/2026 10:00:00;D4E3CD2BFC791;12046664021;15145550000;OUT;42\n"
    reader = ReaderConfig.from_settings(
        {
            "delimiter": ";",
            "columns": {
                "date": "when",
                "time": "when",
                "peer": "peer",
                "source": "from",
                "destination": "to",
                "direction": "dir",
                "duration": "secs",
            },
            "date_format": "%d/%m/%Y %H:%M:%S",
            "timezone": "UTC",
        }
    )
    batch = parse_file(text, reader)
    assert [(r.destination_number, r.billsec, r.start_at.hour) for r in batch.records] == [("15145550000", 42, 10)]
    assert batch.rejected[0].reason.startswith("line 3: date/time")
    lesnet["state"].files_dir.joinpath("99999_0000.txt").write_text(
        "Date,Time,Peer,Source,Destination,Direction,Duration\n"
        f"2026-11-24,10:00:00,{PEER},{DID},15145550000,SIDEWAYS,10\n"
        f"2026-11-24,11:00:00,{PEER},{DID},15145550001,OUT,10\n"
    )
    server_id = add_service(client, lesnet)
    client.put(
        "/v1/services/301",
        json={
            "client_id": 11,
            "product_id": 6,
            "server_id": server_id,
            "domain": f"{PEER} | {DID}",
            "custom_fields": {"CDR Link": f"{lesnet['url']}/cdr/99999_0000.txt"},
        },
    )
    result = sync(app, redis_conn, server_id, "fixture")
    assert result["stored"] == 1 and result["quarantined"] == 1
    with app.extensions["db"].session() as session:
        held = session.scalars(select(QuarantinedCdr)).one()
    assert held.reason.startswith("line 2: direction") and held.service_id == 301


def test_manual_suspension_records_a_task_and_emails_the_admin(app, client, redis_conn, lesnet):
    """`manual` leaves the action pending as an admin task, queues the admin email, and completes when marked done."""
    add_service(client, lesnet)
    job, _ = enqueue(redis_conn, "cdr", "cdr_service.jobs.suspend_service", 301, "l:s1", job_id="l:s1")
    run_jobs(app, "cdr")
    assert fetch_job(redis_conn, job.id).return_value()["status"] == "pending"
    with app.extensions["db"].session() as session:
        action = session.scalars(select(PbxAction)).one()
    assert action.status == "manual" and PEER in action.message
    queued = get_queue("notify", redis_conn).jobs
    assert [(queued_job.func_name, queued_job.args[1]) for queued_job in queued] == [
        ("notify_service.jobs.send", "VoIP Manual Action")
    ]
    extra = queued[0].args[3]
    assert (extra["task_id"], extra["task_action"], extra["task_service_id"]) == (str(action.id), "suspend", "301")
    assert PEER in extra["task_details"] and "noc@example.net" in extra["task_details"]
    done = client.post(f"/v1/pbx-actions/{action.id}/done", json={"note": "peer disabled on portal"}).json
    assert done["status"] == "done"
    assert client.get("/v1/services/301").json["suspended"] is True
