"""Vodia simulator: both login modes, CDR paging and shapes, trunks, and the per-account disabled flag."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

import pytest
import requests
from flask.testing import FlaskClient

from tollgate_sim.cli import BackgroundServer
from tollgate_sim.vodia import VodiaState, create_app, day_text

TENANT = "tenant.example"
MARCH_1 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp()
BASIC_ADMIN = {"Authorization": "Basic YWRtaW46cGFzc3dvcmQ="}  # admin:password


def md5(text: str) -> str:
    """Hex MD5, as Vodia's session login wants the password."""
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
def state() -> VodiaState:
    """A PBX with one tenant: extensions 8300 and 8301, trunk 3, and five calls on 2026-03-01 plus one a day later."""
    pbx = VodiaState()
    pbx.add_domain(TENANT)
    pbx.add_account(TENANT, "8300", displayname="Ann")
    pbx.add_account(TENANT, "8301", displayname="Bob")
    pbx.add_trunk(TENANT, 3, "carrier")
    pbx.add_call(TENANT, "outbound", "8300", "18005551212", MARCH_1, 181, trunk=3)
    pbx.add_call(TENANT, "inbound", "8301", "15195550101", MARCH_1 + 60, 30, trunk=3, did="15192229000")
    pbx.add_call(TENANT, "local", "8300", "8301", MARCH_1 + 120, 12)
    pbx.add_call(TENANT, "outbound", "8300", "18005550000", MARCH_1 + 180, 0, trunk=3)
    pbx.add_call(TENANT, "inbound", "8301", "15195550102", MARCH_1 + 240, 0, trunk=3, unanswered_connect="empty")
    pbx.add_call(TENANT, "outbound", "8300", "18005550000", MARCH_1 + 86400, 42, trunk=3)
    return pbx


@pytest.fixture
def client(state: VodiaState) -> FlaskClient:
    """A test client of the simulator over the seeded state that sends Cookie headers exactly as given."""
    return create_app(state).test_client(use_cookies=False)


def login(client: FlaskClient, username: str = "admin", password: str = "password"):
    """PUT the session login the way Vodia clients do."""
    return client.put("/rest/system/session", json={"name": "auth", "value": f"{username} {md5(password)}"})


def test_session_login_returns_a_string_token_used_as_cookie(client):
    """The login answers a 20-character JSON string; that id in `Cookie: session=` opens the API."""
    response = login(client)
    token = response.get_json()
    cdrs = client.get(f"/rest/domain/{TENANT}/cdrs", headers={"Cookie": f"session={token}"})

    assert response.status_code == 200
    assert isinstance(token, str) and len(token) == 20
    assert cdrs.status_code == 200


def test_session_login_over_real_http(state):
    """Over HTTP the token round-trips as a cookie with `requests`, as an adapter would send it."""
    with BackgroundServer(create_app(state)) as server:
        token = requests.put(
            server.url + "/rest/system/session",
            json={"name": "auth", "value": f"admin {md5('password')}"},
            timeout=10,
        ).json()
        response = requests.get(server.url + f"/rest/domain/{TENANT}/users", cookies={"session": token}, timeout=10)

    assert [user["name"] for user in response.json()] == ["8300", "8301"]


def test_basic_auth_is_accepted(client):
    """Stateless Basic auth with the plain password reaches the API."""
    assert client.get(f"/rest/domain/{TENANT}/domain_trunks", headers=BASIC_ADMIN).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [{}, {"Cookie": "session=not-a-session-id"}, {"Authorization": "Basic YWRtaW46d3Jvbmc="}],
    ids=["none", "bad-session", "wrong-password"],
)
def test_missing_or_wrong_credentials_get_401(client, headers):
    """No credentials, an unknown session or a wrong Basic password answer 401 with an empty body."""
    response = client.get(f"/rest/domain/{TENANT}/cdrs", headers=headers)

    assert (response.status_code, response.data) == (401, b"")


def test_wrong_password_login_gets_401(client):
    """A session login with a wrong password is refused."""
    assert login(client, password="guess").status_code == 401


def test_admin_without_api_access_gets_403(client, state):
    """An admin whose API access is off is refused with 403, by login and by Basic auth alike."""
    state.add_admin("auditor", "secret", api_access=False)

    assert login(client, "auditor", "secret").status_code == 403
    assert (
        client.get("/rest/system/domaininfo", headers={"Authorization": "Basic YXVkaXRvcjpzZWNyZXQ="}).status_code
        == 403
    )


def test_tenant_admin_is_limited_to_its_domain(client, state):
    """`admin@tenant` reads its own domain and gets 403 on another."""
    state.add_domain("other.example")
    state.add_admin(f"admin@{TENANT}", "tenantpw")
    token = login(client, f"admin@{TENANT}", "tenantpw").get_json()
    cookie = {"Cookie": f"session={token}"}

    assert client.get(f"/rest/domain/{TENANT}/users", headers=cookie).status_code == 200
    assert client.get("/rest/domain/other.example/users", headers=cookie).status_code == 403


def test_cdrs_page_through_a_bare_array_and_end_with_empty(client):
    """Pages of `size` records come in id order; the page after the last is []."""
    query = f"/rest/domain/{TENANT}/cdrs?start=20260301&end=20260301&size=2&page="
    pages = [client.get(query + str(page), headers=BASIC_ADMIN).get_json() for page in (1, 2, 3, 4)]

    assert [len(page) for page in pages] == [2, 2, 1, 0]
    ids = [record["id"] for page in pages for record in page]
    assert ids == sorted(ids) and len(set(ids)) == 5


def test_cdr_records_have_vodia_shapes(client):
    """Epochs are strings, from/to SIP name-addrs, trunks and extensions arrays; unanswered lack connect."""
    records = client.get(f"/rest/domain/{TENANT}/cdrs?start=20260301&end=20260301", headers=BASIC_ADMIN).get_json()
    outbound, inbound, local, unanswered_missing, unanswered_empty = records

    assert outbound["from"] == f'"Ann" <sip:8300@{TENANT}>'
    assert outbound["to"] == f'"18005551212" <sip:18005551212@{TENANT}>'
    assert (outbound["extensions"], outbound["trunks"]) == ([8300], [3])
    assert float(outbound["end"]) - float(outbound["connect"]) == pytest.approx(181)
    assert isinstance(outbound["start"], str) and outbound["start"].endswith(".000")
    assert inbound["to"] == f'"15192229000" <sip:15192229000@{TENANT}>'
    assert (local["extensions"], local["trunks"]) == ([8300, 8301], [])
    assert "connect" not in unanswered_missing
    assert unanswered_empty["connect"] == ""


def test_cdr_range_can_be_epoch_seconds(client, state):
    """With the epoch date format, start is inclusive and end exclusive."""
    state.cdr_date_format = "epoch"
    records = client.get(
        f"/rest/domain/{TENANT}/cdrs?start={MARCH_1 + 60:.0f}&end={MARCH_1 + 180:.0f}", headers=BASIC_ADMIN
    ).get_json()

    assert [float(record["start"]) for record in records] == [MARCH_1 + 60, MARCH_1 + 120]


def test_next_day_records_are_outside_a_one_day_range(client):
    """A YYYYMMDD range covers whole days, the end day included."""
    both_days = client.get(f"/rest/domain/{TENANT}/cdrs?start=20260301&end=20260302", headers=BASIC_ADMIN).get_json()
    second_day = client.get(
        f"/rest/domain/{TENANT}/cdrs?start={day_text(date(2026, 3, 2))}&end=20260302", headers=BASIC_ADMIN
    ).get_json()

    assert len(both_days) == 6
    assert [record["extensions"] for record in second_day] == [[8300]]


def test_domain_trunks_map_trunk_ids_to_names(client):
    """domain_trunks lists each trunk's id and name."""
    trunks = client.get(f"/rest/domain/{TENANT}/domain_trunks", headers=BASIC_ADMIN).get_json()

    assert [(trunk["id"], trunk["name"]) for trunk in trunks] == [(3, "carrier")]


def test_disabling_an_account_shows_in_later_reads(client):
    """PUT user_settings {"disabled": "true"} shows in users (boolean) and user_settings (string)."""
    put = client.put(f"/rest/domain/{TENANT}/user_settings/8300", json={"disabled": "true"}, headers=BASIC_ADMIN)
    users = client.get(f"/rest/domain/{TENANT}/users", headers=BASIC_ADMIN).get_json()
    settings = client.get(f"/rest/domain/{TENANT}/user_settings/8300", headers=BASIC_ADMIN).get_json()
    client.put(f"/rest/domain/{TENANT}/user_settings/8300", json={"disabled": False}, headers=BASIC_ADMIN)
    enabled_again = client.get(f"/rest/domain/{TENANT}/user_settings/8300", headers=BASIC_ADMIN).get_json()

    assert (put.status_code, put.data) == (200, b"")
    assert {user["name"]: user["disabled"] for user in users} == {"8300": True, "8301": False}
    assert settings["disabled"] == "true"
    assert enabled_again["disabled"] == "false"


@pytest.mark.parametrize(
    "path",
    [
        "/rest/domain/nowhere.example/cdrs",
        "/rest/domain/nowhere.example/users",
        f"/rest/domain/{TENANT}/user_settings/999",
    ],
)
def test_unknown_domain_or_account_is_404(client, path):
    """An unknown domain or account answers 404."""
    assert client.get(path, headers=BASIC_ADMIN).status_code == 404


def test_sim_hooks_seed_a_domain_and_calls_then_show_state():
    """The /_sim/ hooks build a tenant, its calls and a login without Python access to the state."""
    client = create_app().test_client()
    client.post(
        "/_sim/domains",
        json={"name": "hooked.example", "accounts": [{"account": "200"}], "trunks": [{"id": 7, "name": "sip-out"}]},
    )
    client.post(
        "/_sim/domains/hooked.example/calls",
        json=[
            {
                "direction": "outbound",
                "extension": "200",
                "number": "18005551212",
                "start": MARCH_1,
                "billsec": 5,
                "trunk": 7,
            }
        ],
    )
    client.post("/_sim/admins", json={"username": "ops", "password": "pw"})
    state = client.get("/_sim/state").get_json()

    assert login(client, "ops", "pw").status_code == 200
    assert state["domains"]["hooked.example"]["cdrs"][0]["trunks"] == [7]
    assert state["domains"]["hooked.example"]["accounts"]["200"]["disabled"] == "false"


def test_generated_calls_are_deterministic_and_well_formed():
    """Two PBXs seeded alike store identical generated CDRs, every one inside the requested range."""

    def generated(seed: int) -> list[dict]:
        pbx = VodiaState()
        pbx.add_domain(TENANT)
        pbx.add_account(TENANT, "8300")
        pbx.add_account(TENANT, "8301")
        pbx.add_trunk(TENANT, 3, "carrier")
        return pbx.generate_calls(TENANT, 200, MARCH_1, MARCH_1 + 86400, seed=seed)

    records = generated(4)
    assert records == generated(4) != generated(5)
    assert all(MARCH_1 <= float(record["start"]) < MARCH_1 + 86400 for record in records)
    assert {tuple(record["trunks"]) for record in records} == {(3,), ()}
    assert {record.get("connect") for record in records} >= {""}
    assert any("connect" not in record for record in records)


def test_system_domains_lists_tenants(client):
    """/rest/system/domains lists the tenant names."""
    assert client.get("/rest/system/domains", headers=BASIC_ADMIN).get_json() == [TENANT]


def test_unparsable_cdr_range_is_400(client):
    """A start that is not YYYYMMDD is a bad request."""
    assert client.get(f"/rest/domain/{TENANT}/cdrs?start=2026-03-01", headers=BASIC_ADMIN).status_code == 400


def test_sim_settings_switch_the_cdr_date_format(client):
    """PUT /_sim/settings switches cdrs to epoch ranges and refuses formats it does not know."""
    refused = client.put("/_sim/settings", json={"cdr_date_format": "iso"})
    client.put("/_sim/settings", json={"cdr_date_format": "epoch"})
    records = client.get(
        f"/rest/domain/{TENANT}/cdrs?start={MARCH_1:.0f}&end={MARCH_1 + 1:.0f}", headers=BASIC_ADMIN
    ).get_json()

    assert refused.status_code == 400
    assert [record["to"] for record in records] == [f'"18005551212" <sip:18005551212@{TENANT}>']
