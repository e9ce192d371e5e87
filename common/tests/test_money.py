"""Money helpers: strict parsing, the three rounding modes, WHMCS cents and carries."""

from decimal import Decimal

import pytest

from tollgate_common.errors import InvalidInput
from tollgate_common.money import format_money, lenient_decimal, parse_decimal, round_money, split_postable, to_cents


@pytest.mark.smoke
@pytest.mark.parametrize(
    ("amount", "mode", "expected"),
    [
        ("0.01375", "half_up", "0.0138"),
        ("0.01375", "up", "0.0138"),
        ("0.01375", "down", "0.0137"),
        ("0.01374", "up", "0.0138"),
        ("0.01374", "half_up", "0.0137"),
        ("-0.01375", "half_up", "-0.0138"),
        ("0.0100", "up", "0.0100"),
    ],
)
def test_round_money_modes(amount, mode, expected):
    """Each package rounding mode rounds once to the package's decimals (billing-rules §1)."""
    assert round_money(Decimal(amount), 4, mode) == Decimal(expected)


def test_round_money_rejects_unknown_mode():
    """An unknown rounding mode is an input error naming the field."""
    with pytest.raises(InvalidInput, match="rounding"):
        round_money(Decimal("1"), 2, "bankers")


@pytest.mark.parametrize("value", [0.1, True, "abc", "NaN", "Infinity", None, [1]])
def test_parse_decimal_refuses_floats_and_junk(value):
    """Floats never enter the money path, and junk is named in the error."""
    with pytest.raises(InvalidInput, match="rate"):
        parse_decimal(value, "rate")


def test_parse_decimal_keeps_every_digit():
    """Strings and ints parse exactly."""
    assert parse_decimal(" 0.000001 ", "rate") == Decimal("0.000001")
    assert parse_decimal(12, "rate") == Decimal(12)
    with pytest.raises(InvalidInput, match="must not be negative"):
        parse_decimal("-1", "rate", allow_negative=False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12.50", "12.50"), ("", "0"), (None, "0"), ("$1,234.56 USD", "1234.56"), ("-3.00", "-3.00"), (7, "7")],
)
def test_lenient_decimal_reads_whmcs_strings(raw, expected):
    """WHMCS sends numbers as strings, sometimes formatted; they still parse to Decimal."""
    assert lenient_decimal(raw) == Decimal(expected)


def test_split_postable_carries_sub_cent_remainder():
    """What WHMCS can take (2 decimals, half-up) plus the carry adds back to the exact amount."""
    for amount in ["0.0138", "1.005", "2.9949", "0.004"]:
        posted, carry = split_postable(Decimal(amount))
        assert posted == to_cents(Decimal(amount))
        assert posted + carry == Decimal(amount)
        assert abs(carry) <= Decimal("0.005")


def test_format_money_like_whmcs():
    """Display formatting matches WHMCS formatCurrency: prefix, separators, suffix."""
    assert format_money(Decimal("1234.5"), "$", "USD") == "$1,234.50 USD"
    assert format_money(Decimal("-2"), "£") == "-£2.00"
    assert format_money(Decimal("0"), "$", " USD") == "$0.00 USD"
