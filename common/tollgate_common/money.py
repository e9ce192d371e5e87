"""Money as Decimal: strict parsing, the three rounding modes, WHMCS amounts and display formatting."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, ROUND_UP, Decimal, InvalidOperation

from .errors import InvalidInput

ROUNDING_MODES = {"half_up": ROUND_HALF_UP, "up": ROUND_UP, "down": ROUND_DOWN}
"""Package rounding modes of billing-rules §1; `up` rounds away from zero, `down` towards it."""

ZERO = Decimal("0")
CENT = Decimal("0.01")


def parse_decimal(value: object, field: str = "amount", *, allow_negative: bool = True) -> Decimal:
    """Parse `value` (str, int or Decimal; never float) into a finite Decimal, or raise InvalidInput naming `field`."""
    if isinstance(value, (bool, float)):
        raise InvalidInput(f"{field}: give money as a string or integer, not a float", {"field": field})
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise InvalidInput(f"{field}: {value!r} is not a number", {"field": field}) from None
    else:
        raise InvalidInput(f"{field}: {value!r} is not a number", {"field": field})
    if not number.is_finite():
        raise InvalidInput(f"{field}: {value!r} is not a finite number", {"field": field})
    if not allow_negative and number < 0:
        raise InvalidInput(f"{field}: must not be negative", {"field": field})
    return number


def lenient_decimal(value: object, default: Decimal = ZERO) -> Decimal:
    """Parse money that external systems send as strings ("12.50", "", None, "$1,234.00 USD")."""
    if value is None:
        return default
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    text = "".join(ch for ch in str(value) if ch.isdigit() or ch in ".-")
    if not text or text in {"-", "."}:
        return default
    try:
        return Decimal(text)
    except InvalidOperation:
        return default


def round_money(amount: Decimal, decimals: int, mode: str = "half_up") -> Decimal:
    """Round `amount` once to `decimals` places with a package rounding mode."""
    try:
        rounding = ROUNDING_MODES[mode]
    except KeyError:
        raise InvalidInput(f"rounding: {mode!r} is not one of {sorted(ROUNDING_MODES)}") from None
    return amount.quantize(Decimal(1).scaleb(-decimals), rounding=rounding)


def to_cents(amount: Decimal) -> Decimal:
    """Round to the 2 decimals WHMCS accepts, half-up."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def split_postable(amount: Decimal) -> tuple[Decimal, Decimal]:
    """Split `amount` into what can be posted to WHMCS (cents) and the sub-cent carry."""
    posted = to_cents(amount)
    return posted, amount - posted


def format_money(amount: Decimal, prefix: str = "$", suffix: str = "", decimals: int = 2) -> str:
    """Format like WHMCS formatCurrency: prefix, thousands separators, decimals, suffix."""
    rounded = amount.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    sign = "-" if rounded < 0 else ""
    text = f"{sign}{prefix}{abs(rounded):,.{decimals}f}"
    # WHMCS stores suffixes with their own leading space (" USD"); print exactly one.
    return f"{text} {suffix.strip()}" if suffix.strip() else text


def money_str(amount: Decimal) -> str:
    """Serialise money for JSON: a plain string, never exponent notation."""
    return format(amount, "f")
