"""The batch endpoint cdr-service calls: one result per CDR with its reason, and free minutes used once."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from rating_service import create_app
from tollgate_common.testing import internal_client, service_config

RESULT_FIELDS = {
    "id",
    "billable",
    "reason",
    "visible",
    "number_e164",
    "number_class",
    "prefix",
    "description",
    "source",
    "rate_per_minute",
    "billed_seconds",
    "free_seconds",
    "cost",
    "cost_exact",
    "tariff_version",
    "package_id",
}


def cdr(cdr_id, number, billsec, start="2026-11-20T10:00:00Z", service_id="s1", **extra):
    """Build a CDR for the batch endpoint."""
    return {
        "id": cdr_id,
        "service_id": service_id,
        "direction": extra.pop("direction", "outbound"),
        "number": number,
        "other_party": "2112",
        "extension": "2112",
        "billsec": billsec,
        "answered": extra.pop("answered", billsec > 0),
        "start": start,
        **extra,
    }


@pytest.fixture
def tariff_id(api):
    """A tariff with Canadian and Polish prefixes."""
    return api.tariff_with([("Canada", "1204", "0.01", "6"), ("Poland", "48", "0.06", "6/6")])


def service(product_id=10, period="2026-11-01"):
    """Describe a service as cdr-service does."""
    return {"product_id": product_id, "server_id": 1, "period": period, "tenant_numbers": ["2112"]}


@pytest.mark.smoke
def test_each_cdr_gets_its_reason(api, tariff_id):
    """Each reason in order; a blank or unknown direction is local for an extension, else outbound."""
    package = api.create_package(tariff_id=tariff_id, whmcs_product_ids=[10], nanp_10digit=True)
    cdrs = [
        cdr("a", "2045550100", 61),
        cdr("b", "2113", 30, direction="local"),
        cdr("c", "12045550100", 0, answered=False),
        cdr("d", "12045550100", 30, direction="inbound"),
        cdr("e", "4420794600", 30),
        cdr("f", "+12", 30),
        cdr("g", "12045550100", 30, service_id="s2"),
        cdr("h", "2113", 30, direction=""),
        cdr("i", "12045550100", 30, direction=None),
        cdr("j", "12045550100", 30, direction="transfer"),
    ]
    results = api.rate_batch({"s1": service(), "s2": service(product_id=99)}, cdrs)
    assert [result["id"] for result in results] == list("abcdefghij")
    assert all(set(result) >= RESULT_FIELDS for result in results)
    assert [result["reason"] for result in results] == [
        "billable",
        "local",
        "unanswered",
        "inbound_not_billed",
        "no_rate",
        "invalid_number",
        "no_package",
        "local",
        "billable",
        "billable",
    ]
    billable = results[0]
    assert (billable["number_e164"], billable["number_class"], billable["prefix"]) == ("12045550100", "e164", "1204")
    assert (billable["billed_seconds"], billable["cost"], billable["cost_exact"]) == (66, "0.0110", "0.011")
    assert (billable["source"], billable["tariff_version"], billable["package_id"]) == ("tariff", 1, package["id"])
    assert [result["billable"] for result in results] == [True] + [False] * 7 + [True, True]


def test_inbound_calls_use_the_flat_rate_when_billed(api, tariff_id):
    """With bill_inbound and no inbound tariff, inbound calls are rated on the DID at the flat rate."""
    api.create_package(whmcs_product_ids=[10], bill_inbound=True, inbound_rate="0.02", increment_inbound="60/60")
    [result] = api.rate_batch({"s1": service()}, [cdr("in", "12045550100", 61, direction="inbound")])
    assert (result["source"], result["rate_per_minute"], result["billed_seconds"], result["cost"]) == (
        "flat",
        "0.02",
        120,
        "0.0400",
    )


def test_unknown_service_or_repeated_cdr_is_a_422_naming_it(client):
    """A CDR naming a service absent from `services`, or sent twice, is refused with its index."""
    cdrs = [cdr("a", "12045550100", 6, service_id="nope"), cdr("b", "12045550100", 6), cdr("b", "12045550100", 6)]
    response = client.post("/internal/rate-batch", json={"services": {"s1": service()}, "cdrs": cdrs})
    assert response.status_code == 422
    assert set(response.get_json()["error"]["details"]["fields"]) == {"cdrs.0.service_id", "cdrs.2.id"}


class TestFreeMinutes:
    """A 1,000-minute pool (60,000 s) per service and billing period."""

    @pytest.fixture
    def package(self, api, tariff_id):
        """A package with a 1,000-minute pool."""
        return api.create_package(tariff_id=tariff_id, whmcs_product_ids=[10], free_minutes=1000)

    def test_pool_is_consumed_in_call_start_order_and_a_call_can_be_half_covered(self, api, package):
        """The two earliest calls are free, the third pays only for what the pool no longer covers."""
        cdrs = [
            cdr("late", "12045550100", 12000, start="2026-11-03T10:00:00Z"),
            cdr("first", "12045550100", 30000, start="2026-11-01T10:00:00Z"),
            cdr("second", "12045550100", 24000, start="2026-11-02T10:00:00Z"),
        ]
        results = {result["id"]: result for result in api.rate_batch({"s1": service()}, cdrs)}
        assert [results[key]["free_seconds"] for key in ("first", "second", "late")] == [30000, 24000, 6000]
        assert (results["first"]["cost"], results["second"]["cost"]) == ("0.0000", "0.0000")
        assert results["late"]["billed_seconds"] == 12000
        assert results["late"]["cost"] == "1.0000"

    def test_a_new_period_has_a_fresh_pool(self, api, package):
        """Once November's pool is used up, a December call is free again."""
        api.rate_batch({"s1": service()}, [cdr("nov", "12045550100", 60000)])
        december = service(period="2026-12-01")
        [after] = api.rate_batch({"s1": service()}, [cdr("nov-2", "12045550100", 60)])
        [dec] = api.rate_batch({"s1": december}, [cdr("dec", "12045550100", 60, start="2026-12-02T10:00:00Z")])
        assert (after["free_seconds"], after["cost"]) == (0, "0.0100")
        assert (dec["free_seconds"], dec["cost"]) == (60, "0.0000")

    def test_rerating_never_consumes_the_pool_twice(self, api, package):
        """Rating A again returns A's allocation and leaves the rest of the pool for B."""
        [first] = api.rate_batch({"s1": service()}, [cdr("A", "12045550100", 36000)])
        again = api.rate_batch({"s1": service()}, [cdr("A", "12045550100", 36000), cdr("B", "12045550100", 30000)])
        assert first["free_seconds"] == 36000
        assert [result["free_seconds"] for result in again] == [36000, 24000]
        third = api.rate_batch({"s1": service()}, [cdr("B", "12045550100", 30000), cdr("A", "12045550100", 36000)])
        assert [result["free_seconds"] for result in third] == [24000, 36000]

    def test_a_call_no_longer_covered_gives_its_seconds_back(self, api, package):
        """A CDR rated free and later rated as unanswered returns its seconds to the pool."""
        api.rate_batch({"s1": service()}, [cdr("A", "12045550100", 60000)])
        [unanswered] = api.rate_batch({"s1": service()}, [cdr("A", "12045550100", 0, answered=False)])
        [later] = api.rate_batch({"s1": service()}, [cdr("B", "12045550100", 600)])
        assert (unanswered["reason"], unanswered["free_seconds"]) == ("unanswered", 0)
        assert later["free_seconds"] == 600

    def test_connect_fee_is_charged_only_when_part_of_the_call_is_paid(self, api):
        """A fully covered call pays no connect fee; a partly covered one pays it once."""
        tariff_id = api.create_tariff("Fees")
        deck = "Description,Prefix,Rate,Increment,Fee\nCanada,1204,0.01,60/60,0.05\n"
        mapping = {
            "Description": "Description",
            "Prefix": "Prefix",
            "Rate": "RateValue",
            "Increment": "Increment",
            "Fee": "ConnectFee",
        }
        api.import_ok(tariff_id, deck, mapping)
        api.create_package(name="Fees", tariff_id=tariff_id, whmcs_product_ids=[11], free_minutes=2)
        results = api.rate_batch(
            {"s2": service(product_id=11)},
            [
                cdr("covered", "12045550100", 60, service_id="s2", start="2026-11-01T10:00:00Z"),
                cdr("partly", "12045550100", 120, service_id="s2", start="2026-11-02T10:00:00Z"),
            ],
        )
        assert [(result["free_seconds"], result["cost"]) for result in results] == [(60, "0.0000"), (60, "0.0600")]

    def test_prefix_bundle_covers_only_its_prefixes(self, api, tariff_id):
        """A pool limited to 48 (Poland) leaves Canadian calls paying."""
        api.create_package(
            name="Poland", tariff_id=tariff_id, whmcs_product_ids=[12], free_minutes=10, free_minutes_prefixes=["48"]
        )
        results = api.rate_batch(
            {"s3": service(product_id=12)},
            [cdr("pl", "48221234567", 60, service_id="s3"), cdr("ca", "12045550100", 60, service_id="s3")],
        )
        assert [result["free_seconds"] for result in results] == [60, 0]

    def test_unlimited_makes_in_scope_calls_free(self, api, tariff_id):
        """With unlimited, outbound calls cost nothing and record their billed seconds as free."""
        api.create_package(name="Unlimited", tariff_id=tariff_id, whmcs_product_ids=[13], unlimited=True)
        [result] = api.rate_batch({"s4": service(product_id=13)}, [cdr("u", "12045550100", 600000, service_id="s4")])
        assert (result["billable"], result["free_seconds"], result["cost"]) == (True, 600000, "0.0000")


def test_concurrent_batches_never_hand_out_more_than_the_pool(app, api, tariff_id):
    """Four batches of one service rated at once share a 1,000-minute pool without exceeding it."""
    api.create_package(tariff_id=tariff_id, whmcs_product_ids=[10], free_minutes=1000)

    def post(batch):
        body = {"services": {"s1": service()}, "cdrs": [cdr(f"{batch}-{n}", "12045550100", 1200) for n in range(20)]}
        response = internal_client(app).post("/internal/rate-batch", json=body)
        assert response.status_code == 200, response.get_json()
        return sum(result["free_seconds"] for result in response.get_json()["results"])

    with ThreadPoolExecutor(max_workers=4) as pool:
        granted = list(pool.map(post, range(4)))
    assert sum(granted) == 60000


def test_other_processes_see_a_new_tariff_version(api, database_url, redis_url, tariff_id):
    """A second app (another process) that cached version 1 rates with version 2 once it lands."""
    api.create_package(tariff_id=tariff_id, whmcs_product_ids=[10])
    other = create_app(service_config(database_url, redis_url))
    other_client = internal_client(other)
    body = {"services": {"s1": service()}, "cdrs": [cdr("x", "12045550100", 60, start="2030-01-01T00:00:00Z")]}
    before = other_client.post("/internal/rate-batch", json=body).get_json()["results"][0]
    api.import_ok(tariff_id, "Description,Prefix,Rate,Increment\nCanada,1204,0.02,6\n")
    after = other_client.post("/internal/rate-batch", json=body).get_json()["results"][0]
    other.extensions["db"].dispose()
    assert (before["tariff_version"], before["rate_per_minute"]) == (1, "0.01")
    assert (after["tariff_version"], after["rate_per_minute"]) == (2, "0.02")
