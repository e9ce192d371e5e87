"""The client's effective rate list served to cdr-service: custom rates, tariff x markup, flat inbound."""

import pytest


@pytest.fixture
def package(api):
    """A package with a custom rate, a marked-up tariff and a flat inbound rate."""
    tariff_id = api.tariff_with(
        [
            ("Canada - Manitoba", "1204", "0.01", "6"),
            ("UK - London", "4420", "0.02", "30/6"),
            ("USA", "1", "0.008", "6"),
        ]
    )
    return api.create_package(
        tariff_id=tariff_id,
        whmcs_product_ids=[10],
        markup_percent="25",
        bill_inbound=True,
        inbound_rate="0.005",
        custom_rates=[{"prefix": "48", "rate": "0.00967", "increment": "6/6", "description": "Poland bundle"}],
    )


@pytest.mark.smoke
def test_rates_show_custom_then_tariff_with_markup(client, package):
    """Custom rates come first at face value, tariff rates follow with the markup applied."""
    body = client.get("/internal/services/77/rates?product_id=10").get_json()
    assert (body["service_id"], body["package_id"], body["tariff_version"]) == ("77", package["id"], 1)
    assert body["total"] == 4
    listed = [(rate["prefix"], rate["source"], rate["rate_per_minute"], rate["increment"]) for rate in body["rates"]]
    assert listed == [
        ("48", "custom", "0.00967", "6"),
        ("1", "tariff", "0.01", "6"),
        ("1204", "tariff", "0.0125", "6"),
        ("4420", "tariff", "0.025", "30/6"),
    ]


def test_rates_search_by_prefix_or_description(client, package):
    """Digits search prefixes, words search descriptions, across custom and tariff rates."""
    by_prefix = client.get("/internal/services/77/rates?product_id=10&q=12").get_json()["rates"]
    by_text = client.get("/internal/services/77/rates?product_id=10&q=poland").get_json()["rates"]
    assert [rate["prefix"] for rate in by_prefix] == ["1204"]
    assert [rate["prefix"] for rate in by_text] == ["48"]


def test_rates_paginate_across_custom_and_tariff_rates(client, package):
    """Page 2 of 2-per-page continues where page 1 stopped."""
    pages = [
        client.get(f"/internal/services/77/rates?product_id=10&per_page=2&page={page}").get_json()["rates"]
        for page in (1, 2)
    ]
    assert [[rate["prefix"] for rate in page] for page in pages] == [["48", "1"], ["1204", "4420"]]


def test_inbound_list_shows_the_flat_rate(client, package):
    """Inbound without an inbound tariff lists the package's flat rate."""
    rates = client.get("/internal/services/77/rates?product_id=10&direction=inbound").get_json()["rates"]
    assert [(rate["source"], rate["rate_per_minute"]) for rate in rates] == [("flat", "0.005")]


def test_product_without_package_is_404(client):
    """A product no package is linked to has no rate list."""
    assert client.get("/internal/services/77/rates?product_id=5").status_code == 404


def test_openapi_document_lists_the_rating_routes(client):
    """/openapi.json describes the public and internal routes with their schemas."""
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/v1/tariffs/{tariff_id}/import", "/v1/packages", "/internal/rate-batch", "/v1/rating/quote"):
        assert path in paths
