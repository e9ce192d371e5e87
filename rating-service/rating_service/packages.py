"""Packages in the database: create, change, find by WHMCS product, and turn into engine rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollgate_common.errors import InvalidInput

from .csv_import import canonical_amount
from .engine.cost import to_micro
from .engine.increments import parse_increment
from .engine.numbers import DialPlan
from .engine.rater import INBOUND, CustomRate, PackageRules
from .engine.tariffs import PrefixTable
from .exceptions import PackageConflict, PackageNotFound
from .models import Package, PackageProduct, Tariff

STORED_FIELDS = (
    "name",
    "tariff_id",
    "inbound_tariff_id",
    "markup_percent",
    "free_minutes",
    "unlimited",
    "free_minutes_prefixes",
    "bill_inbound",
    "inbound_rate",
    "increment_outbound",
    "increment_inbound",
    "country_code",
    "international_prefix",
    "national_prefix",
    "prefix_correction",
    "nanp_10digit",
    "extension_max_digits",
    "cost_decimals",
    "rounding",
    "billing_mode",
    "realtime",
)


def get_package(session: Session, package_id: int) -> Package:
    """Return the package or raise PackageNotFound."""
    package = session.get(Package, package_id)
    if package is None:
        raise PackageNotFound(f"package {package_id} not found")
    return package


def list_packages(session: Session, product_id: int | None = None) -> list[Package]:
    """Every package, or the package linked to `product_id` (a list of at most one)."""
    query = select(Package).order_by(Package.id)
    if product_id is not None:
        query = query.join(PackageProduct).where(PackageProduct.product_id == product_id)
    return list(session.scalars(query))


def packages_for_products(session: Session, product_ids: set[int]) -> dict[int, Package]:
    """Map each linked product id to its package, in one query."""
    if not product_ids:
        return {}
    rows = session.execute(
        select(PackageProduct.product_id, Package).join(Package).where(PackageProduct.product_id.in_(product_ids))
    )
    return {product_id: package for product_id, package in rows}


def create_package(session: Session, data: dict[str, Any]) -> Package:
    """Create a package after the checks that need the database (tariffs exist, products and name free)."""
    package = Package(custom_rates=[], free_minutes_prefixes=[])
    apply_changes(session, package, data)
    session.add(package)
    session.flush()
    return package


def update_package(session: Session, package_id: int, changes: dict[str, Any]) -> Package:
    """Change the fields sent; the whole package is checked again as it will be saved."""
    package = get_package(session, package_id)
    apply_changes(session, package, changes)
    session.flush()
    return package


def apply_changes(session: Session, package: Package, data: dict[str, Any]) -> None:
    """Set the fields given, then run the checks that need the database."""
    for name in STORED_FIELDS:
        if name in data:
            setattr(package, name, data[name])
    if "custom_rates" in data:
        package.custom_rates = [stored_custom_rate(rate) for rate in data["custom_rates"]]
    # The checks' queries must not flush the changed package first: an unknown tariff would fail there
    # as a foreign-key error instead of the 422 below.
    with session.no_autoflush:
        if "name" in data:
            clash = session.scalar(select(Package.id).where(Package.name == data["name"], Package.id != package.id))
            if clash is not None:
                raise PackageConflict(f"package {clash} is already named {data['name']!r}", {"field": "name"})
        for field in ("tariff_id", "inbound_tariff_id"):
            tariff_id = getattr(package, field)
            if tariff_id is not None and session.get(Tariff, tariff_id) is None:
                message = f"{field}: tariff {tariff_id} does not exist"
                raise InvalidInput(message, {"fields": {field: ["unknown tariff"]}})
    check_inbound(package)
    if "whmcs_product_ids" in data:
        link_products(session, package, data["whmcs_product_ids"])


def stored_custom_rate(rate: dict[str, Any]) -> dict[str, Any]:
    """Custom rates are kept as JSON with the rate as a string, so no float ever touches them."""
    return {
        "prefix": rate["prefix"],
        "direction": rate["direction"],
        "rate": format(rate["rate"], "f"),
        "increment": rate.get("increment"),
        "description": rate.get("description", ""),
    }


def check_inbound(package: Package) -> None:
    """Billing inbound calls needs something to price them with."""
    inbound_custom = any(rate["direction"] == INBOUND for rate in package.custom_rates or [])
    priced = package.inbound_tariff_id is not None or package.inbound_rate is not None or inbound_custom
    if package.bill_inbound and not priced:
        message = "bill_inbound: set inbound_tariff_id, inbound_rate or an inbound custom rate to bill inbound calls"
        raise InvalidInput(message, {"fields": {"bill_inbound": [message.split(": ", 1)[1]]}})


def link_products(session: Session, package: Package, product_ids: list[int]) -> None:
    """Link WHMCS products; a product already sold with another package is a conflict, not a silent move."""
    if product_ids:
        taken = session.execute(
            select(PackageProduct.product_id, PackageProduct.package_id).where(
                PackageProduct.product_id.in_(product_ids)
            )
        ).all()
        for product_id, owner in taken:
            if owner != package.id:
                raise PackageConflict(
                    f"WHMCS product {product_id} is already linked to package {owner}",
                    {"field": "whmcs_product_ids", "product_id": product_id, "package_id": owner},
                )
    wanted = set(product_ids)
    package.products = [link for link in package.products if link.product_id in wanted]
    present = {link.product_id for link in package.products}
    for product_id in product_ids:
        if product_id not in present:
            package.products.append(PackageProduct(product_id=product_id))


def package_view(package: Package) -> dict[str, Any]:
    """The package as the API shows it, with the dial defaults that apply filled in."""
    plan = dial_plan(package)
    view = {name: getattr(package, name) for name in STORED_FIELDS}
    view.update(
        markup_percent=Decimal(canonical_amount(package.markup_percent)),
        inbound_rate=Decimal(canonical_amount(package.inbound_rate)) if package.inbound_rate is not None else None,
        id=package.id,
        whmcs_product_ids=package.whmcs_product_ids,
        custom_rates=[{**rate, "rate": Decimal(rate["rate"])} for rate in package.custom_rates],
        international_prefix=plan.international_prefix,
        national_prefix=plan.national_prefix,
        created_at=package.created_at,
        updated_at=package.updated_at,
    )
    return view


def dial_plan(package: Package) -> DialPlan:
    """Return the package's dial settings as the engine's DialPlan."""
    return DialPlan(
        country_code=package.country_code,
        international_prefix=package.international_prefix or "",
        national_prefix=package.national_prefix or "",
        prefix_correction=package.prefix_correction,
        nanp_10digit=package.nanp_10digit,
        extension_max_digits=package.extension_max_digits,
    )


def rules_for(package: Package) -> PackageRules:
    """Translate a stored package into the engine's rules."""
    custom: dict[str, dict[str, CustomRate]] = {"outbound": {}, "inbound": {}}
    for rate in package.custom_rates or []:
        first, step = parse_increment(rate["increment"]) if rate.get("increment") else (None, None)
        custom[rate["direction"]][rate["prefix"]] = CustomRate(
            rate["prefix"], to_micro(Decimal(rate["rate"])), first, step, rate.get("description") or ""
        )
    return PackageRules(
        id=package.id,
        dial_plan=dial_plan(package),
        tariff_id=package.tariff_id,
        inbound_tariff_id=package.inbound_tariff_id,
        markup_percent=package.markup_percent,
        bill_inbound=package.bill_inbound,
        inbound_rate_micro=to_micro(package.inbound_rate) if package.inbound_rate is not None else None,
        custom_outbound=PrefixTable(custom["outbound"]),
        custom_inbound=PrefixTable(custom["inbound"]),
        increment_outbound=parse_increment(package.increment_outbound) if package.increment_outbound else None,
        increment_inbound=parse_increment(package.increment_inbound) if package.increment_inbound else None,
        free_minutes=package.free_minutes,
        unlimited=package.unlimited,
        free_minutes_prefixes=tuple(package.free_minutes_prefixes or ()),
        cost_decimals=package.cost_decimals,
        rounding=package.rounding,
    )
