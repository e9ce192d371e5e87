"""Rate one call by a package's rules: filters, number class, rate lookup, increments and cost."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from .cost import cost_numerator, exact_cost, from_micro, rounded_cost, zero_cost
from .filters import NO_FILTERS, ServerFilters
from .increments import billed_seconds
from .numbers import E164, EXTENSION, FEATURE, DialPlan, clean, normalise
from .tariffs import CompiledTariff, PrefixTable

OUTBOUND = "outbound"
INBOUND = "inbound"
LOCAL = "local"

DEFAULT_INCREMENT = (60, 60)
"""Increment of a custom or flat rate that names none and has no package override: whole minutes."""

REASONS = (
    "billable",
    "local",
    "unanswered",
    "suppressed",
    "excluded",
    "no_rate",
    "inbound_not_billed",
    "invalid_number",
    "no_package",
)


@dataclass(frozen=True, slots=True)
class CustomRate:
    """A package's own price for a prefix and direction; never marked up."""

    prefix: str
    rate_micro: int
    first: int | None = None
    step: int | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class PackageRules:
    """Everything rating needs from a package, in engine terms (money in millionths)."""

    id: int
    dial_plan: DialPlan = field(default_factory=DialPlan)
    tariff_id: int | None = None
    inbound_tariff_id: int | None = None
    markup_percent: Decimal = Decimal(0)
    bill_inbound: bool = False
    inbound_rate_micro: int | None = None
    custom_outbound: PrefixTable = field(default_factory=lambda: PrefixTable({}))
    custom_inbound: PrefixTable = field(default_factory=lambda: PrefixTable({}))
    increment_outbound: tuple[int, int] | None = None
    increment_inbound: tuple[int, int] | None = None
    free_minutes: int = 0
    unlimited: bool = False
    free_minutes_prefixes: tuple[str, ...] = ()
    cost_decimals: int = 4
    rounding: str = "half_up"


@dataclass(slots=True)
class Rating:
    """The outcome for one call; `cost` is final once free seconds are settled by `settle`."""

    id: str
    reason: str
    package_id: int | None
    visible: bool = True
    number_normalised: str = ""
    number_class: str = "invalid"
    prefix: str | None = None
    description: str | None = None
    source: str | None = None
    billed_seconds: int = 0
    free_seconds: int = 0
    cost: Decimal = Decimal(0)
    cost_units: int = 0
    tariff_version: int | None = None
    rate_micro: int = 0
    connect_micro: int = 0
    first: int = 0
    step: int = 1
    grace_seconds: int = 0
    pool_eligible: bool = False

    @property
    def billable(self) -> bool:
        """True when the call is charged (its cost may still be 0: grace or free minutes)."""
        return self.reason == "billable"

    @property
    def number_e164(self) -> str | None:
        """The E.164 digits, or None when the number is an extension, feature code or invalid."""
        return self.number_normalised if self.number_class == E164 else None

    @property
    def rate_per_minute(self) -> Decimal | None:
        """The rate applied (after markup), made a Decimal only when read."""
        return from_micro(self.rate_micro) if self.source is not None else None

    @property
    def cost_exact(self) -> Decimal:
        """The unrounded cost, made a Decimal only when read (it is held exactly as an integer)."""
        return exact_cost(self.cost_units)


class Call(NamedTuple):
    """The fields of a CDR that rating reads; `start` is a UTC timestamp in seconds."""

    id: str
    direction: str
    number: str
    billsec: int
    answered: bool
    start: float
    other_party: str = ""
    extension: str = ""


TariffResolver = Callable[[int, float], CompiledTariff | None]
"""(tariff id, call start) -> the compiled version in force then, or None when the tariff has none."""


def tenant_number_set(numbers: list[str], plan: DialPlan) -> frozenset[str]:
    """Every form (as written and normalised) of a tenant's extensions and DIDs, for the `[local]` test."""
    forms = set()
    for number in numbers:
        cleaned = clean(number)
        if cleaned:
            forms.add(cleaned)
            forms.add(normalise(cleaned, plan).digits)
    return frozenset(forms)


def no_package(call_id: str) -> Rating:
    """The outcome for a call whose service has no package linked to its product."""
    return Rating(id=call_id, reason="no_package", package_id=None)


def rate_call(
    call: Call,
    package: PackageRules,
    resolve: TariffResolver,
    filters: ServerFilters = NO_FILTERS,
    tenant_numbers: frozenset[str] = frozenset(),
) -> Rating:
    """Rate `call` before free minutes; `settle` then prices it (billing-rules §3 and §4)."""
    number = normalise(call.number, package.dial_plan)
    number_class = number.number_class
    direction = call.direction
    if direction not in (OUTBOUND, INBOUND, LOCAL):
        # PBXs leave direction blank on some legs; a short number is then internal, anything else external.
        direction = LOCAL if number_class in (EXTENSION, FEATURE) else OUTBOUND
    zero = zero_cost(package.cost_decimals)
    rating = Rating(
        id=call.id,
        reason="billable",
        package_id=package.id,
        number_normalised=number.digits,
        number_class=number_class,
        cost=zero,
    )
    if number_class == E164 and (direction == OUTBOUND or (direction == INBOUND and package.bill_inbound)):
        find_rate(rating, number.digits, direction, package, resolve, call.start)

    if filters is not NO_FILTERS:
        cleaned = clean(call.number or "")
        is_local = direction == LOCAL or bool(
            tenant_numbers
            and (
                cleaned in tenant_numbers
                or number.digits in tenant_numbers
                or clean(call.other_party or "") in tenant_numbers
            )
        )
        candidates = (cleaned, number.digits, call.extension, rating.description or "")
        if filters.suppress.matches(candidates, direction, is_local):
            rating.reason, rating.visible = "suppressed", False
            return rating
        if direction != LOCAL and filters.exclude_from_billing.matches(candidates, direction, is_local):
            rating.reason = "excluded"
            return rating

    if direction == LOCAL or number_class in (EXTENSION, FEATURE):
        rating.reason = LOCAL
    elif not call.answered or call.billsec <= 0:
        rating.reason = "unanswered"
    elif direction == INBOUND and not package.bill_inbound:
        rating.reason = "inbound_not_billed"
    elif number_class != E164:
        rating.reason = "invalid_number"
    elif rating.source is None:
        rating.reason = "no_rate"
    elif call.billsec > rating.grace_seconds:
        billed = billed_seconds(call.billsec, rating.first, rating.step)
        rating.billed_seconds = billed
        rating.pool_eligible = direction == OUTBOUND and in_pool_scope(package, number.digits)
    return rating


def in_pool_scope(package: PackageRules, digits: str) -> bool:
    """True when an outbound call to `digits` may use the package's free minutes."""
    if not (package.unlimited or package.free_minutes > 0):
        return False
    prefixes = package.free_minutes_prefixes
    return not prefixes or digits.startswith(prefixes)


def settle(rating: Rating, package: PackageRules, free_seconds: int = 0) -> Rating:
    """Price a rated call: the uncovered billed seconds at its rate, plus the connect fee if any is uncovered."""
    if rating.reason != "billable":
        return rating
    rating.free_seconds = free_seconds
    units = cost_numerator(rating.rate_micro, rating.connect_micro, rating.billed_seconds - free_seconds)
    rating.cost_units = units
    rating.cost = rounded_cost(units, package.cost_decimals, package.rounding)
    return rating


def find_rate(
    rating: Rating,
    digits: str,
    direction: str,
    package: PackageRules,
    resolve: TariffResolver,
    start: float,
) -> None:
    """Fill the rate: the package's custom rates first, then its tariff times markup, then a flat inbound rate."""
    outbound = direction == OUTBOUND
    override = package.increment_outbound if outbound else package.increment_inbound
    table = package.custom_outbound if outbound else package.custom_inbound
    custom = table.lookup(digits) if table.lengths else None
    if custom is not None:
        if custom.first is not None and custom.step is not None:
            rating.first, rating.step = custom.first, custom.step
        else:
            rating.first, rating.step = override or DEFAULT_INCREMENT
        rating.source, rating.prefix = "custom", custom.prefix
        rating.description = custom.description or "Custom rate"
        rating.rate_micro = custom.rate_micro
        return
    tariff_id = package.tariff_id if outbound else package.inbound_tariff_id
    if tariff_id is not None:
        compiled = resolve(tariff_id, start)
        entry = compiled.lookup(digits) if compiled is not None else None
        if entry is not None:
            marked = compiled.marked(entry, package.markup_percent)
            rating.first, rating.step = override or (entry.first, entry.step)
            rating.source, rating.prefix, rating.description = "tariff", entry.prefix, entry.description
            rating.rate_micro = marked.rate_micro
            rating.connect_micro = marked.connect_micro
            rating.tariff_version = compiled.version_number
            rating.grace_seconds = entry.grace_seconds
        return
    if not outbound and package.inbound_rate_micro is not None:
        rating.source, rating.prefix, rating.description = "flat", "", "Flat inbound rate"
        rating.rate_micro = package.inbound_rate_micro
        rating.first, rating.step = override or DEFAULT_INCREMENT
