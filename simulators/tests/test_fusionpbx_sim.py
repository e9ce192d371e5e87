"""FusionPBX simulator: schema per version, tenant seeding, the CDR traffic generator and the CSV export page."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from tollgate_common.testing import PG_ADMIN_URL
from tollgate_sim.cli import BackgroundServer, main
from tollgate_sim.fusionpbx import (
    EXPORT_PATH,
    TrafficGenerator,
    connect,
    create_export_app,
    create_schema,
    seed_tenant,
)

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "shared" / "reference" / "fusionpbx"
WINDOW_START = datetime(2026, 3, 1, tzinfo=UTC)
WINDOW_END = datetime(2026, 3, 2, tzinfo=UTC)
COLUMNS_QUERY = (
    "SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length"
    " FROM information_schema.columns WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
)


@pytest.fixture
def new_database() -> Iterator[Callable[[], str]]:
    """Factory of throwaway PostgreSQL databases (FusionPBX is PostgreSQL even in the SQLite smoke run)."""
    created: list[str] = []
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def make() -> str:
        name = f"tg_test_fusionpbx_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    yield make
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fusionpbx_db(new_database: Callable[[], str]) -> str:
    """A FusionPBX 5.5 database with one tenant: three extensions with caller IDs and one gateway."""
    url = new_database()
    create_schema(url)
    seed_tenant(
        url,
        "acme.pbx.example",
        extensions=[
            {"extension": "101", "outbound_caller_id_number": "15192229000"},
            {"extension": "102", "outbound_caller_id_number": "15192229001"},
            "103",
        ],
        gateways=["carrier"],
    )
    return url


def columns_of(db_url: str) -> list[tuple]:
    """The database's (table, column, position, type, length) rows, as information_schema reports them."""
    with connect(db_url) as connection:
        return connection.execute(COLUMNS_QUERY).fetchall()


@pytest.mark.parametrize(("version", "reference"), [("5.5", "schema-5.5.7.sql"), ("5.4", "schema-5.4.4.sql")])
def test_schema_matches_reference_ddl_column_for_column(new_database, version, reference):
    """create_schema builds the same tables, columns, order and types as FusionPBX's reference DDL."""
    reference_url, simulated_url = new_database(), new_database()
    with connect(reference_url) as connection:
        connection.execute((REFERENCE_DIR / reference).read_text())
    create_schema(simulated_url, version=version)

    assert columns_of(simulated_url) == columns_of(reference_url)


@pytest.mark.parametrize(
    ("version", "present", "absent"),
    [
        ("5.0", {"id", "recording_file", "duration"}, {"status", "provider_uuid", "record_length", "call_disposition"}),
        ("5.1", {"record_length"}, {"status", "provider_uuid", "call_flow"}),
        ("5.2", {"status", "provider_uuid", "call_flow"}, {"hold_accum_seconds", "id", "recording_name"}),
        ("5.3", {"hold_accum_seconds", "record_transcription"}, {"ring_group_uuid", "ivr_menu_uuid"}),
        ("5.4", {"ring_group_uuid", "ivr_menu_uuid"}, {"call_disposition"}),
        ("5.5", {"call_disposition"}, {"id", "recording_file"}),
    ],
)
def test_xml_cdr_columns_follow_the_version_history(new_database, version, present, absent):
    """Each version has the v_xml_cdr columns its release had and none added later."""
    url = new_database()
    create_schema(url, version=version)
    names = {column for table, column, *_ in columns_of(url) if table == "v_xml_cdr"}

    assert present <= names
    assert not absent & names


@pytest.mark.parametrize(("version", "stored_enabled"), [("5.5", True), ("5.4", "true"), ("5.0", "true")])
def test_seed_tenant_creates_enabled_domain_extensions_and_gateways(new_database, version, stored_enabled):
    """Seeded rows are enabled, as a boolean on 5.5 and as the text 'true' on 5.4 and older."""
    url = new_database()
    create_schema(url, version=version)
    ids = seed_tenant(url, "acme.pbx.example", extensions=["101", "102"], gateways=["carrier"])

    with connect(url) as connection:
        domain = connection.execute("SELECT domain_name, domain_enabled FROM v_domains").fetchone()
        extensions = connection.execute(
            "SELECT extension_uuid::text, extension, enabled FROM v_extensions WHERE domain_uuid = %s",
            [ids.domain_uuid],
        ).fetchall()
        gateways = connection.execute("SELECT gateway_uuid::text, gateway, enabled FROM v_gateways").fetchall()
    assert domain == ("acme.pbx.example", True)
    assert sorted(extensions) == sorted((uuid_, ext, stored_enabled) for ext, uuid_ in ids.extension_uuids.items())
    assert gateways == [(ids.gateway_uuids["carrier"], "carrier", stored_enabled)]


def test_generated_rows_cover_legs_directions_and_unanswered_calls(fusionpbx_db):
    """A day of traffic holds A and B legs, every direction, feature codes and each unanswered status."""
    rows = TrafficGenerator(fusionpbx_db, seed=7).generate("acme.pbx.example", 2000, WINDOW_START, WINDOW_END)
    a_legs = {row["xml_cdr_uuid"]: row for row in rows if row["leg"] == "a"}
    b_legs = [row for row in rows if row["leg"] == "b"]

    assert len(rows) == 2000
    assert b_legs
    assert all(row["originating_leg_uuid"] in a_legs for row in b_legs)
    assert all(a_legs[row["originating_leg_uuid"]]["billsec"] == row["billsec"] > 0 for row in b_legs)
    assert {row["direction"] for row in rows} == {"inbound", "outbound", "local", ""}
    assert {row["destination_number"] for row in rows} & {"*97", "*98"}
    unanswered = [row for row in rows if row["billsec"] == 0]
    assert {row["status"] for row in unanswered} == {"no_answer", "cancelled", "busy", "failed", "missed"}
    assert all(row["status"] == "answered" for row in rows if row["billsec"] > 0)
    assert all(row["duration"] == row["billsec"] for row in rows)
    assert all(row["answer_epoch"] == 0 for row in unanswered)


def test_generated_numbers_look_like_fusionpbx_numbers(fusionpbx_db):
    """Caller IDs never carry '+', and an inbound call's caller_destination is one of the tenant's DIDs."""
    rows = TrafficGenerator(fusionpbx_db, seed=3).generate("acme.pbx.example", 1000, WINDOW_START, WINDOW_END)
    inbound = [row for row in rows if row["direction"] == "inbound"]

    assert not [row for row in rows if row["caller_id_number"].startswith("+")]
    assert {row["caller_destination"] for row in inbound} == {"15192229000", "15192229001"}
    assert all(row["context"] == "public" for row in inbound)
    assert any(row["destination_number"].startswith("011") for row in rows if row["direction"] == "outbound")


def test_stamps_are_server_time_and_match_epochs_once_stored(fusionpbx_db):
    """Stored timestamptz stamps equal their epoch columns, carry the server offset, and insert_date follows end."""
    generator = TrafficGenerator(fusionpbx_db, seed=11, server_timezone="America/Toronto")
    rows = generator.generate("acme.pbx.example", 500, WINDOW_START, WINDOW_END)
    generator.insert(rows)

    toronto = ZoneInfo("America/Toronto")
    assert all(row["start_stamp"].utcoffset() == row["start_stamp"].astimezone(toronto).utcoffset() for row in rows)
    assert all(WINDOW_START.timestamp() <= row["start_epoch"] < WINDOW_END.timestamp() for row in rows)
    with connect(fusionpbx_db) as connection:
        mismatched = connection.execute(
            "SELECT count(*) FROM v_xml_cdr WHERE extract(epoch FROM start_stamp) <> start_epoch"
            " OR extract(epoch FROM end_stamp) <> end_epoch"
            " OR (billsec > 0 AND extract(epoch FROM answer_stamp) <> answer_epoch)"
            " OR end_epoch - answer_epoch <> billsec AND billsec > 0"
            " OR insert_date <= end_stamp"
        ).fetchone()[0]
        stored = connection.execute("SELECT count(*) FROM v_xml_cdr").fetchone()[0]
    assert (mismatched, stored) == (0, 500)


def test_late_rows_arrive_after_an_earlier_batch(fusionpbx_db):
    """Late rows belong to an already-synced window but carry an insert_date after that batch's watermark."""
    generator = TrafficGenerator(fusionpbx_db, seed=5)
    generator.insert(generator.generate("acme.pbx.example", 200, WINDOW_START, WINDOW_END))
    with connect(fusionpbx_db) as connection:
        watermark = connection.execute("SELECT max(insert_date) FROM v_xml_cdr").fetchone()[0]
    late = generator.generate_late("acme.pbx.example", 20, WINDOW_START, WINDOW_END, watermark + timedelta(hours=6))
    generator.insert(late)

    with connect(fusionpbx_db) as connection:
        arrived = connection.execute(
            "SELECT xml_cdr_uuid::text, start_epoch FROM v_xml_cdr WHERE insert_date > %s", [watermark]
        ).fetchall()
    assert {uuid_ for uuid_, _ in arrived} == {row["xml_cdr_uuid"] for row in late}
    assert all(start_epoch < WINDOW_END.timestamp() for _, start_epoch in arrived)
    assert all(row["insert_date"] - row["end_stamp"] > timedelta(hours=6) for row in late)


def test_generator_is_deterministic_for_a_seed(fusionpbx_db):
    """Two generators with one seed produce identical rows; another seed produces different ones."""

    def rows_for(seed: int) -> list[dict]:
        return TrafficGenerator(fusionpbx_db, seed=seed).generate("acme.pbx.example", 50, WINDOW_START, WINDOW_END)

    assert rows_for(1) == rows_for(1)
    assert rows_for(1) != rows_for(2)


def test_old_versions_keep_ring_time_in_duration_and_have_no_status(new_database):
    """On 5.1 `duration` is ring plus talk time and rows carry no status column."""
    url = new_database()
    create_schema(url, version="5.1")
    seed_tenant(url, "old.pbx.example", extensions=["200"])
    generator = TrafficGenerator(url, seed=2)
    rows = generator.generate("old.pbx.example", 100, WINDOW_START, WINDOW_END)

    assert generator.insert(rows) == 100
    assert all("status" not in row for row in rows)
    assert all(row["duration"] == row["end_epoch"] - row["start_epoch"] for row in rows)
    assert any(row["duration"] > row["billsec"] > 0 for row in rows)


def test_make_call_builds_the_row_a_test_describes(fusionpbx_db):
    """An inbound hand-written call bills the DID as caller_destination and can be stored."""
    generator = TrafficGenerator(fusionpbx_db, seed=0)
    start = datetime(2026, 3, 1, 14, 2, 11, tzinfo=UTC)
    call = generator.make_call(
        "acme.pbx.example", "inbound", "18005551212", 181, start, extension="102", did="15192229001"
    )
    missed = generator.make_call("acme.pbx.example", "inbound", "18005551212", 0, start, status="cancelled")
    b_leg = generator.make_call("acme.pbx.example", "outbound", "15195550000", 30, start, leg="b")

    assert (call["caller_id_number"], call["caller_destination"], call["billsec"]) == (
        "18005551212",
        "15192229001",
        181,
    )
    assert call["start_epoch"] == int(start.timestamp()) and call["end_epoch"] == call["answer_epoch"] + 181
    assert (missed["status"], missed["hangup_cause"], missed["missed_call"]) == ("cancelled", "ORIGINATOR_CANCEL", True)
    assert b_leg["leg"] == "b" and b_leg["originating_leg_uuid"]
    assert generator.insert([call, missed, b_leg]) == 3
    with pytest.raises(psycopg.errors.UniqueViolation):
        generator.insert([call])


def test_make_call_rejects_columns_the_version_lacks(fusionpbx_db):
    """Setting a column v_xml_cdr does not have is an error, not a silently dropped value."""
    generator = TrafficGenerator(fusionpbx_db)

    with pytest.raises(ValueError, match="recording_file"):
        generator.make_call("acme.pbx.example", "local", "102", 10, WINDOW_START, recording_file="x.wav")


API_KEY = "k" * 40
EXPORT_HEADER = [
    "domain_uuid",
    "sip_call_id",
    "extension",
    "extension_name",
    "start_stamp",
    "end_stamp",
    "start_date_formatted",
    "start_time_formatted",
    "start_epoch",
    "hangup_cause",
    "duration",
    "billmsec",
    "missed_call",
    "record_path",
    "record_name",
    "xml_cdr_uuid",
    "bridge_uuid",
    "direction",
    "billsec",
    "caller_id_name",
    "caller_id_number",
    "caller_destination",
    "source_number",
    "destination_number",
    "leg",
    "read_codec",
    "write_codec",
    "cc_side",
    "answer_stamp",
    "status",
    "sip_hangup_disposition",
    "wait",
    "tta",
]
CALL_START = datetime(2026, 3, 1, 14, 2, 11, tzinfo=UTC)


@pytest.fixture
def export_calls(fusionpbx_db: str) -> dict[str, dict]:
    """Hand-written calls: acme's inbound A leg and its B leg, an outbound and a missed call, one call
    outside the day, and a call of another tenant."""
    seed_tenant(fusionpbx_db, "other.pbx.example", extensions=["500"])
    generator = TrafficGenerator(fusionpbx_db, seed=0, server_timezone="UTC")
    day = datetime(2026, 3, 1, tzinfo=UTC)
    inbound = generator.make_call(
        "acme.pbx.example", "inbound", "18005551212", 181, CALL_START, extension="101", did="15192229000"
    )
    calls = {
        "inbound": inbound,
        "b_leg": generator.make_call(
            "acme.pbx.example",
            "inbound",
            "18005551212",
            181,
            CALL_START,
            leg="b",
            originating_leg_uuid=inbound["xml_cdr_uuid"],
        ),
        "outbound": generator.make_call(
            "acme.pbx.example", "outbound", "18005550000", 60, day + timedelta(hours=16), caller_id_name='Bob "B" Smith'
        ),
        "missed": generator.make_call(
            "acme.pbx.example", "inbound", "15195550101", 0, day + timedelta(hours=17), status="cancelled"
        ),
        "next_day": generator.make_call(
            "acme.pbx.example", "outbound", "18005550000", 30, day + timedelta(days=1, hours=1)
        ),
        "other_tenant": generator.make_call(
            "other.pbx.example", "outbound", "18005550000", 45, day + timedelta(hours=3)
        ),
    }
    generator.insert(calls.values())
    return calls


def fetch_export(base_url: str, **params: str) -> requests.Response:
    """GET the export page without following redirects."""
    return requests.get(base_url + EXPORT_PATH, params=params, allow_redirects=False, timeout=10)


def csv_rows(body: str) -> list[list[str]]:
    """Split FusionPBX's CSV (every value quoted, nothing escaped) into lists of values."""
    return [line[1:-1].split('","') for line in body.splitlines()]


def day_params(**extra: str) -> dict[str, str]:
    """The API-key CSV request for calls starting on 2026-03-01 (UTC)."""
    start = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
    return {
        "key": API_KEY,
        "export_format": "csv",
        "start_epoch": str(start),
        "stop_epoch": str(start + 86399),
        **extra,
    }


def test_export_returns_the_users_a_legs_as_quoted_csv(fusionpbx_db, export_calls):
    """The CSV has FusionPBX's columns and holds only the domain's A legs in the epoch range."""
    with BackgroundServer(create_export_app(fusionpbx_db, API_KEY)) as server:
        response = fetch_export(server.url, **day_params())
    header, *rows = csv_rows(response.text)
    by_uuid = {row[header.index("xml_cdr_uuid")]: dict(zip(header, row, strict=True)) for row in rows}

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment; filename=cdr_acme.pbx.example_")
    assert header == EXPORT_HEADER
    assert set(by_uuid) == {export_calls[name]["xml_cdr_uuid"] for name in ("inbound", "outbound", "missed")}
    inbound = by_uuid[export_calls["inbound"]["xml_cdr_uuid"]]
    assert inbound["start_stamp"] == "2026-03-01 14:02:11+00"
    assert (inbound["extension"], inbound["extension_name"]) == ("101", "Extension 101")
    assert (inbound["duration"], inbound["billsec"], inbound["caller_destination"]) == ("181", "181", "15192229000")
    assert (inbound["start_date_formatted"], inbound["start_time_formatted"]) == ("01 Mar 2026", "14:02:11")
    assert (inbound["missed_call"], by_uuid[export_calls["missed"]["xml_cdr_uuid"]]["missed_call"]) == ("", "1")
    assert inbound["tta"] == "4"


def test_export_leaves_embedded_quotes_unescaped(fusionpbx_db, export_calls):
    """A caller name with quotes is printed inside quotes as it is, as FusionPBX does."""
    with BackgroundServer(create_export_app(fusionpbx_db, API_KEY)) as server:
        body = fetch_export(server.url, **day_params(direction="outbound")).text

    assert body.count("\n") == 2
    assert ',"Bob "B" Smith",' in body


def test_export_filters_by_leg_direction_and_number_pattern(fusionpbx_db, export_calls):
    """leg=b returns B legs only; direction and a `*` number pattern narrow the rows."""
    with BackgroundServer(create_export_app(fusionpbx_db, API_KEY)) as server:
        b_legs = csv_rows(fetch_export(server.url, **day_params(leg="b")).text)[1:]
        missed = csv_rows(fetch_export(server.url, **day_params(direction="inbound", status="cancelled")).text)[1:]
        pattern = csv_rows(fetch_export(server.url, **day_params(destination_number="1800555*")).text)[1:]

    uuid_at = EXPORT_HEADER.index("xml_cdr_uuid")
    assert [row[uuid_at] for row in b_legs] == [export_calls["b_leg"]["xml_cdr_uuid"]]
    assert [row[uuid_at] for row in missed] == [export_calls["missed"]["xml_cdr_uuid"]]
    assert [row[uuid_at] for row in pattern] == [export_calls["outbound"]["xml_cdr_uuid"]]


def test_stamp_filters_are_read_in_the_domain_time_zone(fusionpbx_db, export_calls):
    """start_stamp_begin/end are Toronto wall-clock minutes, the end minute included."""
    app = create_export_app(fusionpbx_db, API_KEY, domain_timezone="America/Toronto")
    with BackgroundServer(app) as server:
        through_0902 = fetch_export(
            server.url,
            key=API_KEY,
            export_format="csv",
            start_stamp_begin="2026-03-01 09:00",
            start_stamp_end="2026-03-01 09:02",
        ).text
        through_0901 = fetch_export(
            server.url,
            key=API_KEY,
            export_format="csv",
            start_stamp_begin="2026-03-01 09:00",
            start_stamp_end="2026-03-01 09:01",
        ).text

    assert export_calls["inbound"]["xml_cdr_uuid"] in through_0902
    assert len(csv_rows(through_0902)) == 2
    assert len(csv_rows(through_0901)) == 1


def test_show_all_needs_the_xml_cdr_all_permission(fusionpbx_db, export_calls):
    """show=all is ignored without xml_cdr_all; with it other tenants appear with a domain_name column."""
    limited = create_export_app(fusionpbx_db, API_KEY)
    everything = create_export_app(
        fusionpbx_db, API_KEY, permissions={"xml_cdr_export", "xml_cdr_export_csv", "xml_cdr_all"}
    )
    with BackgroundServer(limited) as server:
        limited_body = fetch_export(server.url, **day_params(show="all")).text
    with BackgroundServer(everything) as server:
        header, *rows = csv_rows(fetch_export(server.url, **day_params(show="all")).text)

    assert export_calls["other_tenant"]["xml_cdr_uuid"] not in limited_body
    assert header[-1] == "domain_name"
    assert {row[-1] for row in rows} == {"acme.pbx.example", "other.pbx.example"}


def test_optional_columns_follow_permissions(fusionpbx_db, export_calls):
    """accountcode, pdd_ms and rtp_audio_in_mos appear only for users holding their permissions."""
    permissions = {"xml_cdr_export", "xml_cdr_export_csv", "xml_cdr_account_code", "xml_cdr_pdd", "xml_cdr_mos"}
    with BackgroundServer(create_export_app(fusionpbx_db, API_KEY, permissions=permissions)) as server:
        header = csv_rows(fetch_export(server.url, **day_params()).text)[0]

    assert header[header.index("cc_side") + 1] == "accountcode"
    assert header[header.index("sip_hangup_disposition") + 1 :] == ["pdd_ms", "rtp_audio_in_mos", "wait", "tta"]


@pytest.mark.parametrize("key", ["", "x" * 40, "short-but-configured"])
def test_unknown_key_redirects_to_the_login_page(fusionpbx_db, key):
    """A missing, wrong or too-short key is redirected to /?path=..., never answered with 401."""
    with BackgroundServer(create_export_app(fusionpbx_db, "short-but-configured")) as server:
        response = fetch_export(server.url, key=key, export_format="csv")
        login = requests.get(server.url + response.headers["Location"], timeout=10)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/?path=%2Fapp%2Fxml_cdr%2Fxml_cdr_export.php")
    assert login.status_code == 200 and "Login" in login.text


def test_missing_export_permission_answers_access_denied(fusionpbx_db):
    """A valid key without xml_cdr_export_csv gets a 200 whose body is `access denied`."""
    with BackgroundServer(create_export_app(fusionpbx_db, API_KEY, permissions={"xml_cdr_export"})) as server:
        response = fetch_export(server.url, **day_params())

    assert (response.status_code, response.text) == (200, "access denied")


def test_cli_creates_the_schema_and_seeds_a_demo_tenant(new_database):
    """`tollgate-sim fusionpbx-init` then `fusionpbx-seed` leave a 5.4 schema with a tenant and its CDRs."""
    url = new_database()
    runner = CliRunner()
    init = runner.invoke(main, ["fusionpbx-init", "--db-url", url, "--version", "5.4"])
    seed = runner.invoke(
        main,
        ["fusionpbx-seed", "--db-url", url, "--domain", "demo.pbx.example", "--did", "15192229000", "--calls", "40"],
    )

    assert (init.exit_code, seed.exit_code) == (0, 0), init.output + seed.output
    with connect(url) as connection:
        enabled_type = connection.execute(
            "SELECT data_type FROM information_schema.columns"
            " WHERE table_name = 'v_extensions' AND column_name = 'enabled'"
        ).fetchone()[0]
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM v_extensions), (SELECT count(*) FROM v_xml_cdr),"
            " (SELECT count(*) FROM v_xml_cdr WHERE direction = 'inbound' AND caller_destination <> '15192229000')"
        ).fetchone()
    assert enabled_type == "text"
    assert counts == (2, 40, 0)
