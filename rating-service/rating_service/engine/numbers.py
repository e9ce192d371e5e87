"""Normalise dialled numbers to E.164 digits by a package's dial settings (billing-rules §2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

E164 = "e164"
EXTENSION = "extension"
FEATURE = "feature"
INVALID = "invalid"

E164_MIN_DIGITS = 7
E164_MAX_DIGITS = 15

_SEPARATORS = str.maketrans("", "", " -.()")
_NANP_LEADING = frozenset("23456789")


@dataclass(frozen=True, slots=True)
class DialPlan:
    """A package's dial settings; the defaults for the exit and trunk prefixes follow the country code."""

    country_code: str = "1"
    international_prefix: str = ""
    national_prefix: str = ""
    prefix_correction: bool = False
    nanp_10digit: bool = False
    extension_max_digits: int = 5

    def __post_init__(self) -> None:
        if not self.international_prefix:
            object.__setattr__(self, "international_prefix", "011" if self.country_code == "1" else "00")
        if not self.national_prefix:
            object.__setattr__(self, "national_prefix", "1" if self.country_code == "1" else "0")


class Number(NamedTuple):
    """A normalised number: its digits (or feature code) and its class."""

    digits: str
    number_class: str


def clean(raw: str) -> str:
    """Remove the separators of rule 1 (spaces, `-`, `.`, `(`, `)`)."""
    if raw.isascii() and raw.isdigit():
        return raw
    return raw.strip().translate(_SEPARATORS)


def as_e164(digits: str) -> Number:
    """Class `digits` as E.164 when they are 7 to 15 ASCII digits, else invalid."""
    if digits.isascii() and digits.isdigit() and E164_MIN_DIGITS <= len(digits) <= E164_MAX_DIGITS:
        return Number(digits, E164)
    return Number(digits, INVALID)


def normalise(raw: str | None, plan: DialPlan) -> Number:
    """Apply billing-rules §2 in order; the first rule that applies wins."""
    number = raw or ""
    if not (number.isascii() and number.isdigit()):
        # Only numbers with separators, a sign or letters need rule 1; most CDRs are plain digits already.
        number = clean(number)
        if not number:
            return Number("", INVALID)
        if number[0] in "*#":
            return Number(number, FEATURE)
        if number[0] == "+":
            return as_e164(number[1:])
        if not (number.isascii() and number.isdigit()):
            return Number(number, INVALID)
    if number.startswith(plan.international_prefix):
        return as_e164(number[len(plan.international_prefix) :])
    size = len(number)
    if plan.nanp_10digit and size == 10 and number[0] in _NANP_LEADING and number[3] in _NANP_LEADING:
        return as_e164("1" + number)
    if plan.prefix_correction and size > plan.extension_max_digits and number.startswith(plan.national_prefix):
        return as_e164(plan.country_code + number[len(plan.national_prefix) :])
    if size <= plan.extension_max_digits:
        return Number(number, EXTENSION)
    if E164_MIN_DIGITS <= size <= E164_MAX_DIGITS:
        return Number(number, E164)
    return Number(number, INVALID)
