"""Call cost in exact integer arithmetic: rates in millionths, one rounding to the package's decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

RATE_DECIMALS = 6
"""Rates per minute keep up to 6 decimals (billing-rules §1); they are held as integer millionths."""

MICRO = 10**RATE_DECIMALS
EXACT_DECIMALS = 10
"""The unrounded cost is reported to 10 places (what cdr-service stores); beyond them it only repeats 3s or 6s."""

_DENOMINATOR = 60 * MICRO
_EXACT_QUANTUM = Decimal(1).scaleb(-EXACT_DECIMALS)
_ZEROS = {decimals: Decimal(0).scaleb(-decimals) for decimals in range(0, 7)}


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


def cost_numerator(rate_micro: int, connect_micro: int, seconds: int) -> int:
    """Return the exact cost in 1/60,000,000ths: connect fee + rate x seconds / 60; no seconds, no fee."""
    if seconds <= 0:
        return 0
    return rate_micro * seconds + connect_micro * 60


def rounded_cost(numerator: int, decimals: int, mode: str) -> Decimal:
    """Round an exact cost once to `decimals` places with the package's mode, in integer arithmetic."""
    if not numerator:
        return _ZEROS[decimals]
    quotient, remainder = divmod(numerator * 10**decimals, _DENOMINATOR)
    if remainder and (mode == "up" or (mode == "half_up" and 2 * remainder >= _DENOMINATOR)):
        quotient += 1
    return Decimal(quotient).scaleb(-decimals)


def exact_cost(numerator: int) -> Decimal:
    """Return the unrounded cost as a Decimal, to 10 places when it does not terminate sooner."""
    if not numerator:
        return Decimal(0)
    return (Decimal(numerator) / _DENOMINATOR).quantize(_EXACT_QUANTUM).normalize()
