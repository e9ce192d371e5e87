"""Client views: CDRs by billing period with search, filter, sort, pagination, totals and CSV; rates; E.164."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from cdr_service.models import Cdr

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def period_calls(store_calls, make_call, rate_all, rating_stub):
    """57 outbound and 8 inbound calls this period, one suppressed call, and 3 calls in the previous period."""
    calls = [make_call(f"1514555{i:04d}", NOW - timedelta(hours=1, minutes=i), 10 + i) for i in range(57)]
    calls += [
        make_call(f"1613555{i:04d}", NOW - timedelta(hours=2, minutes=i), 40, "inbound", "2113") for i in range(8)
    ]
    calls.append(make_call("999", NOW - timedelta(hours=3), 30))
    calls += [make_call(f"1416555{i:04d}", NOW - timedelta(days=40 + i), 60) for i in range(3)]
    store_calls(calls)
    rate_all()


def visible_calls(app):
    """The stored calls of the current period a client may see."""
    with app.extensions["db"].session() as session:
        begin = NOW - timedelta(days=20)
        return session.scalars(select(Cdr).where(Cdr.visible.is_(True), Cdr.start_at >= begin)).all()


@pytest.mark.smoke
def test_pagination_and_totals_match_the_stored_calls(app, client, period_calls):
    """Pages split the period's visible calls; totals count calls, minutes and the amount of billable ones."""
    stored = visible_calls(app)
    seen = []
    first = client.get("/v1/services/101/cdrs", query_string={"per_page": 20}).json
    assert first["pages"] == 4 and first["totals"]["calls"] == len(stored) == 65
    for page in range(1, 5):
        body = client.get("/v1/services/101/cdrs", query_string={"per_page": 20, "page": page}).json
        seen += [row["id"] for row in body["rows"]]
    assert sorted(seen) == sorted(call.id for call in stored)
    starts = [row["start"] for row in first["rows"]]
    assert starts == sorted(starts, reverse=True)
    amount = sum(call.cost for call in stored if call.billable)
    billed = sum(call.billed_seconds or 0 for call in stored)
    assert Decimal(first["totals"]["amount"]) == amount
    assert Decimal(first["totals"]["billed_minutes"]) == (Decimal(billed) / 60).quantize(Decimal("0.01"))
    assert first["period"]["end"] == (NOW.date() + timedelta(days=10)).isoformat()


def test_filters_search_sort_and_suppressed_calls(client, period_calls):
    """Direction filter, number search and sort by cost; suppressed calls never appear."""
    inbound = client.get("/v1/services/101/cdrs", query_string={"direction": "inbound"}).json
    assert inbound["totals"]["calls"] == 8 and {row["direction"] for row in inbound["rows"]} == {"inbound"}
    found = client.get("/v1/services/101/cdrs", query_string={"q": "514-555-0007"}).json
    assert [row["destination"] for row in found["rows"]] == ["15145550007"]
    by_cost = client.get("/v1/services/101/cdrs", query_string={"sort": "-cost", "direction": "outbound"}).json
    costs = [Decimal(row["cost"]) for row in by_cost["rows"]]
    assert costs == sorted(costs, reverse=True)
    everything = client.get("/v1/services/101/cdrs", query_string={"per_page": 500}).json
    assert all(not row["destination"].startswith("999") for row in everything["rows"])
    previous = client.get("/v1/services/101/cdrs", query_string={"period": "previous"}).json
    dates = client.get(
        "/v1/services/101/cdrs",
        query_string={"period": f"{(NOW - timedelta(days=60)).date()}..{(NOW - timedelta(days=30)).date()}"},
    ).json
    assert dates["totals"]["calls"] == 3
    assert previous["totals"]["calls"] == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [({"direction": "sideways"}, "direction"), ({"sort": "colour"}, "sort"), ({"period": "last week"}, "period")],
)
def test_bad_view_query_names_the_field(client, service_101, query, field):
    """A bad query parameter is a 422 naming it."""
    response = client.get("/v1/services/101/cdrs", query_string=query)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]


@pytest.mark.smoke
def test_csv_export_matches_the_json_selection(client, period_calls):
    """CSV holds every call of the selection, in the same order, with the same costs."""
    body = client.get("/v1/services/101/cdrs", query_string={"per_page": 500}).json
    response = client.get("/v1/services/101/cdrs", query_string={"format": "csv"})
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == body["totals"]["calls"]
    assert [row["destination"] for row in rows] == [row["destination"] for row in body["rows"]]
    csv_amount = sum(Decimal(row["cost"]) for row in rows if row["cost"])
    assert csv_amount == Decimal(body["totals"]["amount"])


def test_rates_are_proxied_for_the_service_product(client, service_101, rating_stub):
    """/rates asks rating-service for the service's product."""
    body = client.get("/v1/services/101/rates", query_string={"q": "North"}).json
    assert body["product_id"] == 3 and body["q"] == "North" and body["rates"][0]["prefix"] == "1"


def test_e164_validator_classes_numbers(client, store_calls, make_call):
    """Valid, wrong country and invalid outbound numbers, and inbound to an extension, with the dial-plan fix."""
    store_calls(
        [
            make_call("15145550000", NOW - timedelta(hours=1)),
            make_call("442079460000", NOW - timedelta(hours=2)),
            make_call("5145550000", NOW - timedelta(hours=3)),
            make_call("16135550000", NOW - timedelta(hours=4), direction="inbound", caller_destination="2112"),
        ]
    )
    report = client.get("/v1/services/101/validate").json
    statuses = {row["number"]: (row["status"], row["fix"]) for row in report["rows"]}
    assert statuses["15145550000"] == ("valid", None)
    assert statuses["442079460000"][0] == "wrong_country"
    assert statuses["5145550000"] == ("invalid", "set destination_number=1${destination_number}")
    assert statuses["16135550000"][0] == "extension"
    assert report["counts"] == {"valid": 1, "wrong_country": 1, "invalid": 1, "extension": 1}
