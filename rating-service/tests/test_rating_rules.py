"""The worked examples of billing-rules §2 (numbers) and §4 (rating), through the HTTP API."""

import pytest

DECK_ROWS = [
    ("Canada - 204 Manitoba", "1204", "0.01", "6"),
    ("UK - London", "4420", "0.02", "30/6"),
    ("Mexico", "52", "0.05", "60/60"),
    ("Poland", "48", "0.04", "45/30"),
    ("USA", "1", "0.008", "6/6"),
]


@pytest.fixture
def tariff_id(api):
    """A tariff holding the deck rows the examples use."""
    return api.tariff_with(DECK_ROWS)


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("number", "billsec", "billed", "increment"),
    [
        ("12045550100", 61, 66, "6/6"),
        ("442079460000", 32, 36, "30/6"),
        ("5215550100", 61, 120, "60/60"),
        ("48221234567", 50, 75, "45/30"),
        ("12045550100", 0, 0, "6/6"),
        ("48221234567", 10, 45, "45/30"),
    ],
)
def test_increment_examples_bill_the_documented_seconds(api, tariff_id, number, billsec, billed, increment):
    """Billed seconds follow F + ceil((billsec - F) / N) * N, e.g. 45/30 and 50 s bill 75 s."""
    package = api.create_package(tariff_id=tariff_id)
    quote = api.quote(package["id"], number, billsec)
    assert quote["billed_seconds"] == billed


@pytest.mark.smoke
def test_markup_example_rounds_once_to_four_decimals(api, tariff_id):
    """0.01/min with 25 % markup, 6/6, 61 s: rate 0.0125, 66 s, exact 0.01375, charged 0.0138."""
    package = api.create_package(tariff_id=tariff_id, markup_percent="25")
    quote = api.quote(package["id"], "12045550100", 61)
    assert quote["billable"] is True
    assert quote["reason"] == "billable"
    assert quote["source"] == "tariff"
    assert quote["prefix"] == "1204"
    assert quote["description"] == "Canada - 204 Manitoba"
    assert quote["rate_per_minute"] == "0.0125"
    assert quote["billed_seconds"] == 66
    assert quote["cost_exact"] == "0.01375"
    assert quote["cost"] == "0.0138"


@pytest.mark.parametrize(("rounding", "cost"), [("half_up", "0.0138"), ("up", "0.0138"), ("down", "0.0137")])
def test_rounding_modes_apply_to_the_exact_cost(api, tariff_id, rounding, cost):
    """The package's rounding mode decides the last digit of 0.01375."""
    package = api.create_package(tariff_id=tariff_id, markup_percent="25", rounding=rounding)
    assert api.quote(package["id"], "12045550100", 61)["cost"] == cost


def test_cost_decimals_change_where_the_cost_is_rounded(api, tariff_id):
    """With cost_decimals 2 the same call costs 0.01."""
    package = api.create_package(tariff_id=tariff_id, markup_percent="25", cost_decimals=2)
    assert api.quote(package["id"], "12045550100", 61)["cost"] == "0.01"


def test_custom_rate_wins_and_never_gets_the_markup(api, tariff_id):
    """A custom rate for 1204 is used at face value even with a 25 % markup."""
    package = api.create_package(
        tariff_id=tariff_id,
        markup_percent="25",
        custom_rates=[{"prefix": "1204", "direction": "outbound", "rate": "0.00967", "increment": "6/6"}],
    )
    quote = api.quote(package["id"], "12045550100", 60)
    assert (quote["source"], quote["rate_per_minute"], quote["cost"]) == ("custom", "0.00967", "0.0097")


def test_empty_custom_prefix_is_a_catch_all_that_loses_to_longer_prefixes(api, tariff_id):
    """A custom rate with an empty prefix prices every call, but a longer custom prefix wins over it."""
    package = api.create_package(
        tariff_id=tariff_id,
        custom_rates=[
            {"prefix": "", "rate": "0.02", "increment": "60/60"},
            {"prefix": "1204", "rate": "0.01", "increment": "60/60"},
        ],
    )
    assert api.quote(package["id"], "12045550100", 30)["rate_per_minute"] == "0.01"
    assert api.quote(package["id"], "5215550100", 30)["rate_per_minute"] == "0.02"


def test_package_increment_override_replaces_the_tariffs(api, tariff_id):
    """increment_outbound 60/60 turns the deck's 6/6 into whole minutes."""
    package = api.create_package(tariff_id=tariff_id, increment_outbound="60/60")
    assert api.quote(package["id"], "12045550100", 61)["billed_seconds"] == 120


def test_longest_prefix_wins(api, tariff_id):
    """1204... matches both 1 and 1204; 1204 is used."""
    package = api.create_package(tariff_id=tariff_id)
    assert api.quote(package["id"], "12045550100", 60)["prefix"] == "1204"
    assert api.quote(package["id"], "13055550100", 60)["prefix"] == "1"


def test_no_rate_is_unrated_not_free(api):
    """A destination with no prefix in the deck is `no_rate`, not billable and not priced."""
    tariff_id = api.tariff_with([("Canada", "1204", "0.01", "6")])
    package = api.create_package(tariff_id=tariff_id)
    quote = api.quote(package["id"], "4420794600001", 60)
    assert (quote["billable"], quote["reason"], quote["source"]) == (False, "no_rate", None)


def test_connect_fee_and_grace_seconds(api):
    """A 0.05 connect fee is added to answered calls; calls within 5 grace seconds cost nothing."""
    tariff_id = api.create_tariff()
    deck = "Description,Prefix,Rate,Increment,Setup,Grace\nCanada,1204,0.01,60/60,0.05,5\n"
    mapping = {
        "Description": "Description",
        "Prefix": "Prefix",
        "Rate": "RateValue",
        "Increment": "Increment",
        "Setup": "ConnectFee",
        "Grace": "GraceSeconds",
    }
    api.import_ok(tariff_id, deck, mapping)
    package = api.create_package(tariff_id=tariff_id)
    assert api.quote(package["id"], "12045550100", 30)["cost"] == "0.0600"
    graced = api.quote(package["id"], "12045550100", 5)
    assert (graced["billable"], graced["cost"], graced["billed_seconds"]) == (True, "0.0000", 0)


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("settings", "dialled", "e164", "number_class"),
    [
        ({"country_code": "44", "prefix_correction": True}, "02079460000", "442079460000", "e164"),
        ({"country_code": "44"}, "+44 20 7946-0000", "442079460000", "e164"),
        ({"country_code": "44"}, "00442079460000", "442079460000", "e164"),
        ({"country_code": "1"}, "011442079460000", "442079460000", "e164"),
        ({"country_code": "1", "nanp_10digit": True}, "5192229000", "15192229000", "e164"),
        ({"country_code": "1", "nanp_10digit": True}, "(519) 222.9000", "15192229000", "e164"),
        ({"country_code": "1"}, "15192229000", "15192229000", "e164"),
        ({"country_code": "1"}, "2112", None, "extension"),
        ({"country_code": "1"}, "*97", None, "feature"),
        ({"country_code": "1"}, "#72", None, "feature"),
        ({"country_code": "1"}, "123456", None, "invalid"),
        ({"country_code": "1"}, "+1234567890123456", None, "invalid"),
        ({"country_code": "1"}, "anonymous", None, "invalid"),
    ],
)
def test_numbers_normalise_by_package_dial_settings(api, settings, dialled, e164, number_class):
    """Rules 1-7 of billing-rules §2: the first rule that applies wins and every number gets its class."""
    package = api.create_package(**settings)
    quote = api.quote(package["id"], dialled, 60)
    assert (quote["number_e164"], quote["number_class"]) == (e164, number_class)


def test_nanp_rule_needs_valid_area_and_exchange_codes(api):
    """Ten digits starting 1 or with an exchange starting 0/1 are not NANP: they stay as dialled."""
    package = api.create_package(country_code="1", nanp_10digit=True)
    assert api.quote(package["id"], "5191229000", 60)["number_e164"] == "5191229000"


def test_prefix_correction_leaves_extensions_alone(api):
    """A 4-digit extension starting with the trunk prefix 0 is not rewritten."""
    package = api.create_package(country_code="44", prefix_correction=True)
    assert api.quote(package["id"], "0123", 60)["number_class"] == "extension"


def test_negative_markup_is_a_discount(api, tariff_id):
    """A -10 % markup sells 0.01 at 0.009."""
    package = api.create_package(tariff_id=tariff_id, markup_percent="-10")
    assert api.quote(package["id"], "12045550100", 60)["rate_per_minute"] == "0.009"


def test_markup_applies_to_the_connect_fee(api):
    """A 0.05 connect fee with 20 % markup is charged 0.06."""
    tariff_id = api.create_tariff()
    deck = "Description,Prefix,Rate,Increment,Setup\nCanada,1204,0,60/60,0.05\n"
    mapping = {"Description": "Description", "Prefix": "Prefix", "Rate": "RateValue", "Increment": "Increment"}
    api.import_ok(tariff_id, deck, {**mapping, "Setup": "ConnectFee"})
    package = api.create_package(tariff_id=tariff_id, markup_percent="20")
    assert api.quote(package["id"], "12045550100", 30)["cost"] == "0.0600"


def test_cost_exact_of_a_repeating_cost_has_ten_decimals(api, tariff_id):
    """0.01/min for 61 s on 1/1 is 0.0101666..., given as 0.0101666667 and charged 0.0102."""
    package = api.create_package(tariff_id=tariff_id, increment_outbound="1/1")
    quote = api.quote(package["id"], "12045550100", 61)
    assert (quote["cost_exact"], quote["cost"]) == ("0.0101666667", "0.0102")
