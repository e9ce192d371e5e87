"""Rate CDRs for cdr-service and quote single calls: packages, filters and tariffs read once per batch."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tollgate_common.db import Database

from .engine.free_minutes import PoolClaim
from .engine.rater import Call, PackageRules, Rating, TariffResolver, no_package, rate_call, settle, tenant_number_set
from .engine.tariffs import CompiledTariff, TariffCache, VersionTimeline
from .filters_store import compiled_filters
from .packages import get_package, packages_for_products, rules_for
from .pools import PoolKey, settle_pools
from .tariff_store import timelines


@dataclass(frozen=True, slots=True)
class ServiceInfo:
    """What cdr-service tells about a service in a batch request."""

    product_id: int
    server_id: int | None
    period: str
    tenant_numbers: tuple[str, ...] = ()


def tariff_ids_of(rules: Iterable[PackageRules]) -> set[int]:
    """Return every tariff the packages rate with, outbound and inbound."""
    ids: set[int] = set()
    for rule in rules:
        ids.update(tariff_id for tariff_id in (rule.tariff_id, rule.inbound_tariff_id) if tariff_id is not None)
    return ids


def make_resolver(lines: dict[int, VersionTimeline], cache: TariffCache) -> TariffResolver:
    """Resolve (tariff, call start) to a compiled version through the timelines read for this batch.

    Versions are held for the whole batch, so the shared cache is consulted once per version, not per call.
    """
    held: dict[int, CompiledTariff] = {}

    def resolve(tariff_id: int, start: float) -> CompiledTariff | None:
        timeline = lines.get(tariff_id)
        ref = timeline.at(start) if timeline is not None else None
        if ref is None:
            return None
        compiled = held.get(ref.version_id)
        if compiled is None:
            compiled = held[ref.version_id] = cache.get(ref.version_id)
        return compiled

    return resolve


def load_rules(session: Session, product_ids: set[int]) -> dict[int, PackageRules]:
    """Return the engine rules of each product's package; products without one are left out."""
    packages = packages_for_products(session, product_ids)
    return {product_id: rules_for(package) for product_id, package in packages.items()}


def rate_batch(
    db: Database, cache: TariffCache, services: dict[str, ServiceInfo], cdrs: list[dict[str, Any]]
) -> list[Rating]:
    """Rate every CDR, settle free minutes per service and period, and return one result per CDR in order."""
    with db.session() as session:
        rules_by_product = load_rules(session, {service.product_id for service in services.values()})
        lines = timelines(session, tariff_ids_of(rules_by_product.values()))
        filters = compiled_filters(session, (service.server_id for service in services.values()))
    resolve = make_resolver(lines, cache)
    tenants = {
        service_id: tenant_number_set(list(service.tenant_numbers), rules_by_product[service.product_id].dial_plan)
        for service_id, service in services.items()
        if service.product_id in rules_by_product
    }
    ratings: list[Rating] = []
    pools: dict[PoolKey, tuple[int, list[PoolClaim]]] = {}
    for cdr in cdrs:
        service = services[cdr["service_id"]]
        rules = rules_by_product.get(service.product_id)
        if rules is None:
            ratings.append(no_package(cdr["id"]))
            continue
        call = Call(
            id=cdr["id"],
            direction=cdr.get("direction") or "",
            number=cdr.get("number") or "",
            billsec=cdr["billsec"],
            answered=cdr["answered"],
            start=cdr["start"].timestamp(),
            other_party=cdr.get("other_party") or "",
            extension=cdr.get("extension") or "",
        )
        server_filters = filters.get(service.server_id) if service.server_id is not None else None
        if server_filters is None:
            rating = rate_call(call, rules, resolve, tenant_numbers=tenants[cdr["service_id"]])
        else:
            rating = rate_call(call, rules, resolve, server_filters, tenants[cdr["service_id"]])
        ratings.append(rating)
        if rating.pool_eligible and not rules.unlimited:
            key = (cdr["service_id"], service.period)
            pool = pools.setdefault(key, (rules.free_minutes * 60, []))
            pool[1].append(PoolClaim(call.id, call.start, rating.billed_seconds))
    settle_all(db, ratings, rules_by_product, services, cdrs, pools)
    return ratings


def settle_all(
    db: Database,
    ratings: list[Rating],
    rules_by_product: dict[int, PackageRules],
    services: dict[str, ServiceInfo],
    cdrs: list[dict[str, Any]],
    pools: dict[PoolKey, tuple[int, list[PoolClaim]]],
) -> None:
    """Claim free seconds (reusing earlier allocations), release those of calls no longer covered, and price."""
    pooled = {claim.cdr_id for _, claims in pools.values() for claim in claims}
    with db.session() as session:
        granted = settle_pools(session, pools, [rating.id for rating in ratings if rating.id not in pooled])
    for rating, cdr in zip(ratings, cdrs, strict=True):
        rules = rules_by_product.get(services[cdr["service_id"]].product_id)
        if rules is None:
            continue
        if rating.pool_eligible and rules.unlimited:
            free = rating.billed_seconds
        else:
            free = min(granted.get(rating.id, 0), rating.billed_seconds)
        settle(rating, rules, free)


def quote(
    db: Database, cache: TariffCache, package_id: int, direction: str, number: str, billsec: int, start: datetime | None
) -> Rating:
    """Price one call at list price: no server filters and no free minutes."""
    moment = start or datetime.now(UTC)
    with db.session() as session:
        rules = rules_for(get_package(session, package_id))
        lines = timelines(session, tariff_ids_of([rules]))
    call = Call("quote", direction, number, billsec, billsec > 0, moment.timestamp())
    return settle(rate_call(call, rules, make_resolver(lines, cache)), rules)
