"""Packages: every field of architecture.md stored and shown, bad fields named in a 422, products linked once."""

import pytest


@pytest.fixture
def tariff_id(api):
    """A tariff with one Canadian prefix."""
    return api.tariff_with([("Canada", "1204", "0.01", "6")])


@pytest.mark.smoke
def test_package_round_trips_every_field(api, client, tariff_id):
    """A package created with every field reads back the same, money as strings."""
    body = {
        "name": "FusionPBX - Telnyx - Global",
        "whmcs_product_ids": [12, 13],
        "tariff_id": tariff_id,
        "inbound_tariff_id": tariff_id,
        "markup_percent": "25",
        "free_minutes": 1000,
        "unlimited": False,
        "free_minutes_prefixes": ["48"],
        "bill_inbound": True,
        "inbound_rate": "0.005",
        "custom_rates": [
            {"prefix": "48", "direction": "outbound", "rate": "0.00967", "increment": "6/6", "description": "Poland"}
        ],
        "increment_outbound": "30/6",
        "increment_inbound": "60/60",
        "country_code": "44",
        "international_prefix": "00",
        "national_prefix": "0",
        "prefix_correction": True,
        "nanp_10digit": False,
        "extension_max_digits": 4,
        "cost_decimals": 3,
        "rounding": "up",
        "billing_mode": "postpaid",
        "realtime": True,
    }
    created = api.create_package(**body)
    shown = client.get(f"/v1/packages/{created['id']}").get_json()
    for field, value in body.items():
        assert shown[field] == value, field


def test_dial_defaults_follow_the_country_code(api):
    """Without exit and trunk prefixes, NANP gets 011/1 and other countries 00/0."""
    nanp = api.create_package(name="NANP", country_code="1")
    uk = api.create_package(name="UK", country_code="44")
    assert (nanp["international_prefix"], nanp["national_prefix"]) == ("011", "1")
    assert (uk["international_prefix"], uk["national_prefix"]) == ("00", "0")


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"markup_percent": 12.5}, "markup_percent"),
        ({"markup_percent": "-150"}, "markup_percent"),
        ({"free_minutes": -1}, "free_minutes"),
        ({"rounding": "nearest"}, "rounding"),
        ({"billing_mode": "monthly"}, "billing_mode"),
        ({"increment_outbound": "6/0"}, "increment_outbound"),
        ({"increment_inbound": "abc"}, "increment_inbound"),
        ({"country_code": "01"}, "country_code"),
        ({"international_prefix": "+00"}, "international_prefix"),
        ({"extension_max_digits": 0}, "extension_max_digits"),
        ({"cost_decimals": 9}, "cost_decimals"),
        ({"inbound_rate": "-0.01"}, "inbound_rate"),
        ({"free_minutes_prefixes": ["4x"]}, "free_minutes_prefixes"),
        ({"whmcs_product_ids": [5, 5]}, "whmcs_product_ids"),
        ({"custom_rates": [{"prefix": "48", "rate": "0.0000001"}]}, "custom_rates"),
        ({"custom_rates": [{"prefix": "4a", "rate": "0.01"}]}, "custom_rates"),
        ({"custom_rates": [{"prefix": "48", "rate": "0.01", "direction": "both"}]}, "custom_rates"),
        ({"custom_rates": [{"prefix": "48", "rate": "0.01"}, {"prefix": "48", "rate": "0.02"}]}, "custom_rates"),
        ({"custom_rates": [{"prefix": "48", "rate": "x"}, {"prefix": "48", "rate": "0.02"}]}, "custom_rates"),
        ({"tariff_id": 2**31}, "tariff_id"),
        ({"markup_percent": "151407733318492299.199"}, "markup_percent"),
        ({"inbound_rate": "100000000"}, "inbound_rate"),
        ({"whmcs_product_ids": [2**40]}, "whmcs_product_ids"),
        ({"tariff_id": 4242}, "tariff_id"),
        ({"bill_inbound": True}, "bill_inbound"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_field_is_a_422_naming_it(client, fields, bad_field):
    """Each invalid value is refused with the field named in the message and details."""
    response = client.post("/v1/packages", json={"name": "Bad", **fields})
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert bad_field in error["message"]
    assert bad_field in error["details"]["fields"]


def test_a_product_belongs_to_one_package(api, client):
    """Linking a product already sold with another package is a 409 naming that package."""
    first = api.create_package(name="A", whmcs_product_ids=[7])
    response = client.post("/v1/packages", json={"name": "B", "whmcs_product_ids": [7]})
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["package_id"] == first["id"]


def test_packages_are_found_by_product(api, client):
    """`?product_id=` lists the package linked to that WHMCS product, and nothing for an unknown one."""
    package = api.create_package(name="A", whmcs_product_ids=[7, 8], realtime=True, billing_mode="prepaid")
    api.create_package(name="B", whmcs_product_ids=[9])
    found = client.get("/v1/packages?product_id=8").get_json()
    assert [(item["id"], item["realtime"], item["billing_mode"]) for item in found] == [
        (package["id"], True, "prepaid")
    ]
    assert client.get("/v1/packages?product_id=99").get_json() == []


def test_patch_changes_only_what_is_sent_and_revalidates(api, client, tariff_id):
    """PATCH keeps other fields, moves product links, and refuses a change that breaks the whole package."""
    package = api.create_package(name="A", whmcs_product_ids=[7], tariff_id=tariff_id, markup_percent="10")
    changed = client.patch(f"/v1/packages/{package['id']}", json={"markup_percent": "20", "whmcs_product_ids": [8]})
    assert changed.status_code == 200, changed.get_json()
    body = changed.get_json()
    assert (body["markup_percent"], body["tariff_id"], body["whmcs_product_ids"]) == ("20", tariff_id, [8])
    assert client.get("/v1/packages?product_id=7").get_json() == []
    refused = client.patch(f"/v1/packages/{package['id']}", json={"bill_inbound": True})
    assert refused.status_code == 422
    unknown_tariff = client.patch(f"/v1/packages/{package['id']}", json={"inbound_tariff_id": 2248938})
    assert unknown_tariff.status_code == 422
    assert "inbound_tariff_id" in unknown_tariff.get_json()["error"]["details"]["fields"]
    assert client.get(f"/v1/packages/{package['id']}").get_json()["bill_inbound"] is False


def test_unknown_package_is_404(client):
    """GET and PATCH of a package that does not exist answer 404."""
    assert client.get("/v1/packages/999").status_code == 404
    assert client.patch("/v1/packages/999", json={"free_minutes": 5}).status_code == 404


BEYOND_INTEGER = 2**31
"""One more than PostgreSQL's `integer`, the type of every id column."""


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", f"/v1/packages/{BEYOND_INTEGER}", None, 404),
        ("patch", f"/v1/packages/{BEYOND_INTEGER}", {"free_minutes": 5}, 404),
        ("get", f"/v1/packages?product_id={BEYOND_INTEGER}", None, 422),
        ("get", f"/v1/tariffs/{BEYOND_INTEGER}/export", None, 404),
        ("get", "/v1/tariffs/1/rates?version=5422032917732", None, 422),
        ("put", f"/v1/servers/{BEYOND_INTEGER}/filters", {}, 404),
        ("post", "/v1/rating/quote", {"package_id": -905993224089009, "number": "1204", "billsec": 5}, 422),
    ],
)
def test_ids_beyond_the_database_are_refused_not_a_500(client, method, path, body, status):
    """An id no row can have is a 404 (in the path) or a 422 naming the field, never a database error."""
    response = getattr(client, method)(path, json=body)
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["code"] in {"not_found", "invalid"}


def test_duplicate_package_name_is_409(api, client):
    """Package names are unique."""
    api.create_package(name="A")
    assert client.post("/v1/packages", json={"name": "A"}).status_code == 409


def test_money_is_documented_as_a_decimal_string(client):
    """Money fields appear in the OpenAPI document as strings of digits, as they are written back."""
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for schema, field in [("Package", "markup_percent"), ("CustomRate", "rate"), ("RatingResult", "cost")]:
        assert schemas[schema]["properties"][field]["type"] == "string"
        assert schemas[schema]["properties"][field]["pattern"] == r"^-?[0-9]+(\.[0-9]+)?$"
