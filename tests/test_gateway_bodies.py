"""Requests with bodies and streamed downloads through the gateway, to real services under gunicorn."""

import json

import requests
from conftest import ADMIN_KEY

DECK = "Destination,Code,Per Minute,Billing\nUK,44,0.0200,60/60\nUK Mobile,447,0.0900,1/1\nUS,1,0.0100,6/6\n"
MAPPING = {"Destination": "Description", "Code": "Prefix", "Per Minute": "RateValue", "Billing": "Increment"}


def test_json_body_multipart_upload_and_csv_download(stack, admin):
    """Create a tariff (JSON), import a deck (multipart), export it (CSV): status and bodies survive the proxy."""
    created = admin.post(f"{stack.gateway_url}/v1/tariffs", json={"name": "Gateway body test", "currency": "GBP"})
    assert created.status_code == 201, created.text
    tariff_id = created.json()["id"]

    imported = admin.post(
        f"{stack.gateway_url}/v1/tariffs/{tariff_id}/import",
        files={"file": ("deck.csv", DECK.encode(), "text/csv")},
        data={"mapping": json.dumps(MAPPING)},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["imported"] == 3

    exported = requests.get(
        f"{stack.gateway_url}/v1/tariffs/{tariff_id}/export",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        stream=True,
    )
    assert exported.status_code == 200
    assert exported.headers["Content-Type"].startswith("text/csv")
    body = b"".join(exported.iter_content(16)).decode()
    assert "447" in body and "0.09" in body


def test_large_upload_streams_through(stack, admin):
    """A 10 MB deck passes through the gateway with its Content-Length (not chunked, not truncated)."""
    tariff_id = admin.post(f"{stack.gateway_url}/v1/tariffs", json={"name": "Large deck"}).json()["id"]
    rows = "".join(f"Zone {n},{900000000 + n},0.0100,6/6\n" for n in range(250_000))
    deck = ("Destination,Code,Per Minute,Billing\n" + rows).encode()
    assert len(deck) > 8_000_000
    imported = admin.post(
        f"{stack.gateway_url}/v1/tariffs/{tariff_id}/import",
        files={"file": ("big.csv", deck, "text/csv")},
        data={"mapping": json.dumps(MAPPING)},
    )
    assert imported.status_code == 200, imported.text[:500]
    assert imported.json()["imported"] == 250_000


def test_validation_error_from_service_names_the_field(stack, admin):
    """A bad body gets the owning service's 422 envelope naming the field, unchanged by the gateway."""
    response = admin.post(f"{stack.gateway_url}/v1/tariffs", json={"currency": "GBP"})
    assert response.status_code == 422
    assert "name" in response.json()["error"]["details"]["fields"]
