"""Call cost in exact integer arithmetic: rates in millionths, one rounding to the package's decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

RATE_DECIMALS = 6
"""Rates per minute keep up to 6 decimals (billing-rules §1); they are held as integer millionths."""

MICRO = 10**RATE_DECIMALS
EXACT_DECIMALS = 12
"""The unrounded cost is reported to 12 places; a rate of 6 decimals times seconds/60 only repeats 3s or 6s."""

_DENOMINATOR = 60 * MICRO
_EXACT_QUANTUM = Decimal(1).scaleb(-EXACT_DECIMALS)
_ZEROS = {decimals: Decimal(0).scaleb(-decimals) for decimals in range(0, 13)}


def to_micro(amount: Decimal) -> int:
    """Return `amount` in millionths; the caller has checked it has at most 6 decimals."""
    return int(amount.scaleb(RATE_DECIMALS))


def from_micro(micro: int) -> Decimal:
    """Return millionths as a Decimal without trailing zeros (`12500` -> `0.0125`)."""
    value = Decimal(micro).scaleb(-RATE_DECIMALS)
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()


def decimals_of(amount: Decimal) -> int:
    """Count the significant decimals of `amount` (`0.0100` has 2)."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def mark_up(micro: int, markup_percent: Decimal) -> int:
    """Apply a markup to a rate in millionths, rounding half-up to 6 decimals."""
    if not markup_percent:
        return micro
    marked = Decimal(micro) * (100 + markup_percent) / 100
    return int(marked.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def zero_cost(decimals: int) -> Decimal:
    """Return 0 written with the package's cost decimals."""
    return _ZEROS[decimals]


def call_cost(rate_micro: int, connect_micro: int, seconds: int, decimals: int, mode: str) -> tuple[Decimal, Decimal]:
    """Return (rounded, exact) for connect fee + rate x seconds / 60; no seconds means no connect fee."""
    if seconds <= 0:
        return _ZEROS[decimals], _ZEROS[decimals]
    numerator = rate_micro * seconds + connect_micro * 60
    quotient, remainder = divmod(numerator * 10**decimals, _DENOMINATOR)
    if remainder and (mode == "up" or (mode == "half_up" and 2 * remainder >= _DENOMINATOR)):
        quotient += 1
    rounded = Decimal(quotient).scaleb(-decimals)
    exact = (Decimal(numerator) / _DENOMINATOR).quantize(_EXACT_QUANTUM).normalize()
    return rounded, exact
