"""A client's effective rate list: custom rates, then the tariff in force times markup, or a flat rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from .csv_import import canonical_amount
from .engine.cost import from_micro, mark_up, to_micro
from .engine.increments import format_increment, parse_increment
from .engine.rater import DEFAULT_INCREMENT, OUTBOUND
from .exceptions import PackageNotFound
from .models import Package
from .packages import list_packages
from .tariff_store import slice_of_rates, timelines


@dataclass
class RateListPage:
    """One page of a client's rates, custom and flat ones first, then the tariff's."""

    package_id: int
    direction: str
    tariff_version: int | None
    total: int
    rates: list[dict[str, Any]]


def matches(query: str | None, prefix: str, description: str) -> bool:
    """Digits search prefixes; anything else searches descriptions."""
    if not query:
        return True
    if query.lstrip("+").isdigit():
        return prefix.startswith(query.lstrip("+"))
    return query.lower() in description.lower()


def entry(prefix: str, description: str, source: str, rate: Any, increment: tuple[int, int], connect: Any) -> dict:
    """Build one row of the rate list."""
    return {
        "prefix": prefix,
        "description": description,
        "source": source,
        "rate_per_minute": Decimal(canonical_amount(Decimal(rate))),
        "increment": format_increment(*increment),
        "connect_fee": Decimal(connect),
    }


def fixed_rates(package: Package, direction: str, query: str | None, override: tuple[int, int] | None) -> list[dict]:
    """The package's own prices for `direction`: custom rates and, for inbound without a tariff, the flat rate."""
    rates = []
    for rate in package.custom_rates or []:
        description = rate.get("description") or "Custom rate"
        if rate["direction"] == direction and matches(query, rate["prefix"], description):
            increment = parse_increment(rate["increment"]) if rate.get("increment") else override or DEFAULT_INCREMENT
            rates.append(entry(rate["prefix"], description, "custom", rate["rate"], increment, 0))
    flat = direction != OUTBOUND and package.inbound_tariff_id is None and package.inbound_rate is not None
    if flat and matches(query, "", "Flat inbound rate"):
        rates.append(entry("", "Flat inbound rate", "flat", package.inbound_rate, override or DEFAULT_INCREMENT, 0))
    return sorted(rates, key=lambda rate: rate["prefix"])


def effective_rates(
    session: Session, product_id: int, direction: str, query: str | None, page: int, per_page: int
) -> RateListPage:
    """Return one page of what the product's clients pay per prefix in `direction`."""
    packages = list_packages(session, product_id)
    if not packages:
        raise PackageNotFound(f"no package is linked to WHMCS product {product_id}")
    package = packages[0]
    override_text = package.increment_outbound if direction == OUTBOUND else package.increment_inbound
    override = parse_increment(override_text) if override_text else None
    fixed = fixed_rates(package, direction, query, override)
    start = (page - 1) * per_page
    rates = fixed[start : start + per_page]
    total = len(fixed)
    version_number = None
    tariff_id = package.tariff_id if direction == OUTBOUND else package.inbound_tariff_id
    ref = timelines(session, [tariff_id])[tariff_id].at(datetime.now(UTC).timestamp()) if tariff_id else None
    if ref is not None:
        version_number = ref.number
        digits = query.lstrip("+") if query and query.lstrip("+").isdigit() else None
        text = query if query and digits is None else None
        offset = max(start - len(fixed), 0)
        rows, tariff_total = slice_of_rates(session, ref.version_id, digits, text, offset, per_page - len(rates))
        total += tariff_total
        for row in rows:
            rate = from_micro(mark_up(to_micro(row.rate), package.markup_percent))
            connect = from_micro(mark_up(to_micro(row.connect_fee), package.markup_percent))
            increment = override or (row.first_block, row.step)
            rates.append(entry(row.prefix, row.description, "tariff", rate, increment, connect))
    return RateListPage(package.id, direction, version_number, total, rates)
