"""LesNet simulator: CDR file format and serving, the 24-hour rewrite, and the fake peer/DID API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask.testing import FlaskClient

from tollgate_sim.cli import BackgroundServer
from tollgate_sim.lesnet import HEADER, LesnetState, create_app

ACCOUNT = "11330"
PEER = "D4E3CD2BFC791"
DID = "12046664021"
FIRST_REWRITE = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def state(tmp_path) -> LesnetState:
    """Account 11330 with one peer and DID, clock at the first rewrite, two calls of 2026-03-01 (UTC)."""
    lesnet = LesnetState(tmp_path, now=FIRST_REWRITE)
    lesnet.add_account(ACCOUNT, {PEER: [DID]})
    lesnet.add_account("20000")
    lesnet.add_call(datetime(2026, 3, 1, 18, 0, tzinfo=UTC), PEER, DID, "18005551212", "OUT", 181)
    lesnet.add_call(datetime(2026, 3, 1, 19, 30, 5, tzinfo=UTC), PEER, "12045550101", DID, "IN", 0)
    return lesnet


@pytest.fixture
def client(state: LesnetState) -> FlaskClient:
    """A test client of the simulator over the seeded state."""
    return create_app(state=state).test_client()


def fetch(client: FlaskClient, account: str = ACCOUNT) -> str:
    """GET the account's CDR file and return its text, asserting it was served."""
    response = client.get(f"/cdr/{account}_0000.txt")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_file_has_header_and_rows_in_winnipeg_time(client):
    """Rows follow the documented format: local Winnipeg start, peer, numbers, direction, seconds."""
    assert fetch(client) == (
        f"{HEADER}\n2026-03-01,12:00:00,{PEER},{DID},18005551212,OUT,181\n2026-03-01,13:30:05,{PEER},12045550101,{DID},IN,0\n"
    )


def test_file_is_served_over_http(state):
    """A plain HTTP GET on loopback fetches the text file, as the cdr-service's dev allow-list permits."""
    with BackgroundServer(create_app(state=state)) as server:
        response = requests.get(f"{server.url}/cdr/{ACCOUNT}_0000.txt", timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.text.splitlines()[0] == HEADER


@pytest.mark.parametrize("path", ["/cdr/99999_0000.txt", "/cdr/11330.txt", "/cdr/11330_0001.txt"])
def test_unknown_account_or_name_is_404(client, path):
    """Only `<known account>_0000.txt` exists."""
    assert client.get(path).status_code == 404


def test_account_without_calls_gets_an_empty_file(client):
    """An account with nothing in the window is served a 0-byte file, not a 404."""
    assert fetch(client, "20000") == ""


def test_file_changes_only_at_the_24_hour_rewrite(client, state):
    """A new call shows up only after the next rewrite, and earlier rows are still there (overlap)."""
    first = fetch(client)
    state.add_call(FIRST_REWRITE + timedelta(hours=1), PEER, DID, "12045550199", "OUT", 60)
    state.set_clock(FIRST_REWRITE + timedelta(hours=23, minutes=59))
    before_rewrite = fetch(client)
    state.set_clock(FIRST_REWRITE + timedelta(hours=24))
    after_rewrite = fetch(client)

    assert before_rewrite == first
    assert after_rewrite.startswith(first)
    assert after_rewrite.splitlines()[-1] == f"2026-03-02,01:00:00,{PEER},{DID},12045550199,OUT,60"
    assert state.generated_at == FIRST_REWRITE + timedelta(hours=24)


def test_old_calls_leave_the_file_after_the_retention_window(client, state):
    """After seven days the March 1 calls are no longer in the rewritten file."""
    fetch(client)
    state.set_clock(FIRST_REWRITE + timedelta(days=8, hours=3))

    assert fetch(client) == ""
    assert state.generated_at == FIRST_REWRITE + timedelta(days=8)


def test_fixture_files_in_files_dir_are_served_as_they_are(tmp_path):
    """A file dropped in files_dir for an account the simulator does not manage is served unchanged."""
    (tmp_path / "55555_0000.txt").write_text("odd;format;from;a;fixture\n")

    assert fetch(create_app(files_dir=tmp_path).test_client(), "55555") == "odd;format;from;a;fixture\n"


def test_disabling_a_peer_shows_in_the_api_and_refuses_its_calls(client):
    """PUT enabled=false is reflected by later reads, and a call through the peer is refused with 409."""
    client.put(f"/_sim/peers/{PEER}", json={"enabled": False})
    peers = client.get(f"/_sim/accounts/{ACCOUNT}/peers").get_json()
    refused = client.post(
        f"/_sim/accounts/{ACCOUNT}/calls",
        json=[
            {
                "start": "2026-03-02T10:00:00+00:00",
                "peer": PEER,
                "source": DID,
                "destination": "18005551212",
                "direction": "OUT",
                "duration": 30,
            }
        ],
    )
    client.put(f"/_sim/peers/{PEER}", json={"enabled": True})

    assert peers == [{"peer": PEER, "account": ACCOUNT, "enabled": False, "dids": [{"did": DID, "enabled": True}]}]
    assert refused.status_code == 409
    assert client.get(f"/_sim/peers/{PEER}").get_json()["enabled"] is True


def test_disabling_a_did_refuses_inbound_calls_only(client, state):
    """A disabled DID takes no inbound call; outbound calls with it as caller ID still go through."""
    response = client.put(f"/_sim/dids/{DID}", json={"enabled": False})
    outbound = client.post(
        f"/_sim/accounts/{ACCOUNT}/calls",
        json=[
            {
                "start": "2026-03-02T10:00:00+00:00",
                "peer": PEER,
                "source": DID,
                "destination": "18005551212",
                "direction": "OUT",
                "duration": 30,
            }
        ],
    )
    inbound = client.post(
        f"/_sim/accounts/{ACCOUNT}/calls",
        json=[
            {
                "start": "2026-03-02T10:05:00+00:00",
                "peer": PEER,
                "source": "12045550101",
                "destination": DID,
                "direction": "IN",
                "duration": 30,
            }
        ],
    )

    assert response.get_json() == {"did": DID, "peer": PEER, "enabled": False}
    assert (outbound.status_code, inbound.status_code) == (201, 409)
    assert len(state.calls[ACCOUNT]) == 3


@pytest.mark.parametrize("path", [f"/_sim/peers/{PEER}", f"/_sim/dids/{DID}"])
def test_enable_flag_must_be_a_boolean(client, path):
    """The fake API rejects anything but `{"enabled": true|false}`."""
    assert client.put(path, json={"enabled": "no"}).status_code == 400


def test_unknown_peer_or_did_is_404(client):
    """The fake API answers 404 for peers and DIDs it does not know."""
    assert client.get("/_sim/peers/FFFFFFFFFFFFF").status_code == 404
    assert client.get("/_sim/dids/12045559999").status_code == 404


def test_generated_traffic_is_deterministic(tmp_path):
    """Two simulators seeded alike write identical files; calls end up in the retention window."""

    def file_for(folder: str) -> str:
        lesnet = LesnetState(tmp_path / folder, now=FIRST_REWRITE)
        lesnet.add_account(ACCOUNT, {PEER: [DID, "12046664022"]})
        lesnet.generate_calls(ACCOUNT, 50, FIRST_REWRITE - timedelta(days=3), FIRST_REWRITE - timedelta(days=1), seed=9)
        return fetch(create_app(state=lesnet).test_client())

    first, second = file_for("a"), file_for("b")
    assert first == second
    assert len(first.splitlines()) == 51


def test_sim_hooks_seed_an_account_and_force_a_rewrite(tmp_path):
    """Accounts, calls and a rewrite time can all be set over HTTP."""
    client = create_app(files_dir=tmp_path).test_client()
    client.post("/_sim/accounts", json={"account": "777", "peers": {PEER: [DID]}})
    client.post(
        "/_sim/accounts/777/calls",
        json=[
            {
                "start": "2026-03-01T18:00:00+00:00",
                "peer": PEER,
                "source": DID,
                "destination": "18005551212",
                "direction": "OUT",
                "duration": 5,
            }
        ],
    )
    client.post("/_sim/regenerate", json={"at": "2026-03-02T00:00:00+00:00"})
    state = client.get("/_sim/state").get_json()

    assert (tmp_path / "777_0000.txt").read_text().splitlines()[
        1
    ] == f"2026-03-01,12:00:00,{PEER},{DID},18005551212,OUT,5"
    assert state["accounts"]["777"]["calls"] == 1
    assert state["generated_at"] == "2026-03-02T00:00:00+00:00"
