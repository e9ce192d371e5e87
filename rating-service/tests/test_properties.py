"""Properties of the engine and of import/export, checked by hypothesis over many generated cases."""

import csv
import io
import itertools
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rating_service.csv_import import EXPORT_COLUMNS
from rating_service.engine.cost import to_micro
from rating_service.engine.increments import billed_seconds
from rating_service.engine.rater import Call, PackageRules, rate_call, settle
from rating_service.engine.tariffs import CompiledTariff, PrefixTable, TariffRate

increments = st.tuples(st.integers(min_value=0, max_value=120), st.integers(min_value=1, max_value=120))
rates = st.decimals(min_value=0, max_value=5, places=6, allow_nan=False, allow_infinity=False)


@given(increment=increments, billsec=st.integers(min_value=0, max_value=100_000), more=st.integers(0, 10_000))
def test_billed_seconds_cover_billsec_and_never_decrease(increment, billsec, more):
    """Billed seconds are at least billsec and do not fall when billsec grows."""
    first, step = increment
    billed = billed_seconds(billsec, first, step)
    assert billed >= billsec
    assert billed_seconds(billsec + more, first, step) >= billed


@given(
    increment=increments,
    rate=rates,
    connect=rates,
    markup=st.decimals(min_value=-50, max_value=300, places=2, allow_nan=False, allow_infinity=False),
    rounding=st.sampled_from(["half_up", "up", "down"]),
    decimals=st.integers(min_value=0, max_value=6),
    grace=st.integers(min_value=0, max_value=30),
    billsec=st.integers(min_value=0, max_value=20_000),
    more=st.integers(min_value=0, max_value=5_000),
)
def test_cost_never_decreases_as_billsec_grows(
    increment, rate, connect, markup, rounding, decimals, grace, billsec, more
):
    """For any rate, fee, grace, markup and rounding, a longer call never costs less."""
    first, step = increment
    compiled = CompiledTariff(1, 1, [TariffRate("1", "Any", to_micro(rate), first, step, to_micro(connect), grace)])
    package = PackageRules(id=1, tariff_id=1, markup_percent=markup, cost_decimals=decimals, rounding=rounding)

    def cost(seconds):
        """Price a call of `seconds` answered seconds."""
        call = Call("c", "outbound", "12045550100", seconds, True, 0.0)
        return settle(rate_call(call, package, lambda *_: compiled), package).cost

    assert cost(billsec + more) >= cost(billsec)


prefixes = st.sets(st.text(alphabet="0123456789", min_size=1, max_size=8), min_size=1, max_size=300)


@given(table=prefixes, numbers=st.lists(st.text(alphabet="0123456789", min_size=0, max_size=15), max_size=50))
def test_lookup_picks_the_longest_matching_prefix(table, numbers):
    """The compiled lookup agrees with a brute-force search for the longest prefix of each number."""
    compiled = PrefixTable({prefix: prefix for prefix in table})
    extra = [prefix + "123" for prefix in itertools.islice(table, 20)]
    for number in numbers + extra:
        matching = [prefix for prefix in table if number.startswith(prefix)]
        expected = max(matching, key=len) if matching else None
        assert compiled.lookup(number) == expected


descriptions = (
    st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=40)
    .map(str.strip)
    .filter(bool)
)
deck_rows = st.lists(
    st.tuples(
        st.text(alphabet="0123456789", min_size=1, max_size=12),
        descriptions,
        rates,
        increments,
        rates,
        st.integers(min_value=0, max_value=60),
    ),
    min_size=1,
    max_size=30,
    unique_by=lambda row: row[0],
)
tariff_names = (f"Roundtrip {number}" for number in itertools.count())


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=deck_rows)
def test_export_then_import_round_trips(api, client, rows):
    """Any deck imported, exported and imported into a new tariff gives the same rates row for row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for prefix, description, rate, (first, step), fee, grace in rows:
        writer.writerow([description, prefix, rate, f"{first}/{step}", fee, grace, "", "", "", ""])
    original = api.create_tariff(next(tariff_names))
    api.import_ok(original, buffer.getvalue(), mapping=None)
    exported = client.get(f"/v1/tariffs/{original}/export").data
    copy = api.create_tariff(next(tariff_names))
    api.import_ok(copy, exported, mapping=None)
    listed = [client.get(f"/v1/tariffs/{tariff}/rates?per_page=100").get_json()["rates"] for tariff in (original, copy)]
    assert listed[0] == listed[1]
    assert {rate["prefix"]: Decimal(rate["rate"]) for rate in listed[1]} == {row[0]: row[2] for row in rows}


@pytest.mark.smoke
def test_marked_up_rate_is_rounded_to_six_decimals():
    """0.012345 with 15 % markup is 0.01419675, kept as 0.014197 per minute."""
    compiled = CompiledTariff(1, 1, [TariffRate("1", "Any", 12345, 60, 60, 0, 0)])
    package = PackageRules(id=1, tariff_id=1, markup_percent=Decimal(15))
    rating = rate_call(Call("c", "outbound", "12045550100", 60, True, 0.0), package, lambda *_: compiled)
    assert settle(rating, package).rate_per_minute == Decimal("0.014197")
