"""Per-server filters: the §3 grammar checked when saved, and suppress/exclude applied when rating."""

import pytest

OPERATOR_SUPPRESS = "*xx,#xx,4443,4747,201,202,203,999,555"
OPERATOR_EXCLUDE = "844xxxxxxx,888xxxxxxx,877xxxxxxx,866xxxxxxx,800xxxxxxx,1800xxxxxxx,1888xxxxxxx,911"


@pytest.mark.smoke
def test_filters_are_saved_and_read_back(client):
    """PUT stores both lists for the server; GET returns them; another server still has none."""
    body = {"suppress": OPERATOR_SUPPRESS, "exclude_from_billing": OPERATOR_EXCLUDE}
    assert client.put("/v1/servers/3/filters", json=body).status_code == 200
    shown = client.get("/v1/servers/3/filters").get_json()
    assert (shown["server_id"], shown["suppress"], shown["exclude_from_billing"]) == (3, *body.values())
    assert client.get("/v1/servers/4/filters").get_json()["suppress"] == ""


@pytest.mark.parametrize(
    ("field", "text", "token"),
    [
        ("suppress", "*xx,1-800-*", "1-800-*"),
        ("suppress", "[voicemail]", "[voicemail]"),
        ("exclude_from_billing", "800xxxxxxx,80?", "80?"),
        ("exclude_from_billing", "911, abc", "abc"),
    ],
)
def test_bad_pattern_is_refused_naming_list_and_token(client, field, text, token):
    """A token outside digits, x, *, # and the three keywords is a 422 naming the list and the token."""
    other = "exclude_from_billing" if field == "suppress" else "suppress"
    response = client.put("/v1/servers/3/filters", json={field: text, other: ""})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert field in error["details"]["fields"]
    assert error["details"]["token"] == token
    assert client.get("/v1/servers/3/filters").get_json()[field] == ""


def outbound(number, **extra):
    """Build an outbound CDR to `number`."""
    cdr = {
        "id": extra.pop("id", number),
        "service_id": "s1",
        "direction": "outbound",
        "number": number,
        "extension": "2112",
        "billsec": 60,
        "answered": True,
        "start": "2026-11-20T10:00:00Z",
    }
    return {**cdr, **extra}


@pytest.fixture
def rated(api, client):
    """Rate CDRs for a service on server 3 whose filters are the operators' examples."""
    tariff_id = api.tariff_with([("USA", "1", "0.01", "6"), ("Toll free", "1800", "0", "6")])
    api.create_package(tariff_id=tariff_id, whmcs_product_ids=[10], nanp_10digit=True)
    client.put(
        "/v1/servers/3/filters",
        json={"suppress": OPERATOR_SUPPRESS + ",[local]", "exclude_from_billing": OPERATOR_EXCLUDE + ",[inbound]"},
    )
    services = {
        "s1": {"product_id": 10, "server_id": 3, "period": "2026-11-01", "tenant_numbers": ["2112", "5192229000"]}
    }

    def rate(*cdrs):
        """Rate CDRs and return results by id."""
        return {result["id"]: result for result in api.rate_batch(services, list(cdrs))}

    return rate


def test_suppressed_calls_are_hidden_and_not_billed(rated):
    """Feature codes and listed short numbers match `suppress`: not billed and not visible."""
    results = rated(outbound("*97"), outbound("4443"), outbound("#72"))
    for result in results.values():
        assert (result["reason"], result["visible"], result["billable"]) == ("suppressed", False, False)


def test_excluded_calls_are_shown_but_not_billed(rated):
    """Toll-free numbers, raw 10-digit or normalised, and 911 are shown but not billed."""
    results = rated(outbound("8005551234"), outbound("+18885551234"), outbound("911"))
    for result in results.values():
        assert (result["reason"], result["visible"], result["billable"]) == ("excluded", True, False)


def test_pattern_must_match_the_whole_number(rated):
    """`555` suppresses the number 555 only, not a 10-digit number that contains it."""
    results = rated(outbound("5555551234"))
    assert results["5555551234"]["reason"] == "billable"


def test_inbound_keyword_excludes_inbound_calls(rated):
    """`[inbound]` in exclude_from_billing keeps inbound calls visible and unbilled."""
    results = rated(outbound("12125551234", id="in", direction="inbound"))
    assert (results["in"]["reason"], results["in"]["visible"]) == ("excluded", True)


def test_local_keyword_matches_the_tenants_own_numbers(rated):
    """A call to the tenant's own DID, dialled 10-digit, is `[local]` and so suppressed."""
    results = rated(outbound("5192229000", id="own-did"), outbound("5192229001", id="other"))
    assert results["own-did"]["reason"] == "suppressed"
    assert results["other"]["reason"] == "billable"


def test_upper_case_x_is_a_digit_wildcard_too(client, rated):
    """`800XXXXXXX` is read as `800xxxxxxx`, as an operator typing it means."""
    response = client.put("/v1/servers/3/filters", json={"suppress": "", "exclude_from_billing": "800XXXXXXX"})
    assert response.status_code == 200
    assert rated(outbound("8005551234"))["8005551234"]["reason"] == "excluded"
