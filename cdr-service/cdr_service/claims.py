"""Claims (contract B): the rated, billable, unclaimed calls balance-service charges, at most once each."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError

from tollgate_common.db import Database
from tollgate_common.errors import Conflict, NotFound

from .models import Cdr, Claim, CostAdjustment, QuarantinedCdr, ServiceAssignment
from .services import get_assignment
from .views import money_out, money_total


def claimable(service_id: int | None, cutoff: datetime) -> Any:
    """Rated, billable, not yet claimed calls started before `cutoff`."""
    conditions = [
        Cdr.claim_id.is_(None),
        Cdr.billable.is_(True),
        Cdr.rated_at.is_not(None),
        Cdr.start_at < cutoff,
        Cdr.service_id.is_not(None),
    ]
    if service_id is not None:
        conditions.append(Cdr.service_id == service_id)
    return and_(*conditions)


def billable_services(db: Database, cutoff: datetime) -> list[dict[str, Any]]:
    """Services with something to charge before `cutoff`: calls and amount (sum of rounded costs)."""
    totals: dict[int, list[Any]] = defaultdict(lambda: [0, Decimal(0)])
    with db.engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            query = select(Cdr.service_id, func.count(), func.sum(Cdr.cost)).where(claimable(None, cutoff))
            for service_id, calls, amount in connection.execute(query.group_by(Cdr.service_id)):
                totals[service_id] = [calls, Decimal(amount)]
        else:
            # SQLite stores money as text: add it up as Decimal here rather than as floats in SQL
            for service_id, cost in connection.execute(select(Cdr.service_id, Cdr.cost).where(claimable(None, cutoff))):
                totals[service_id][0] += 1
                totals[service_id][1] += cost
        assignments = {row.service_id: row for row in connection.execute(select(ServiceAssignment)).all()}
    return [
        {
            "service_id": service_id,
            "client_id": assignments[service_id].client_id if service_id in assignments else None,
            "product_id": assignments[service_id].product_id if service_id in assignments else None,
            "calls": calls,
            "amount": money_out(amount),
        }
        for service_id, (calls, amount) in sorted(totals.items())
    ]


def claim_body(db: Database, claim: Claim) -> dict[str, Any]:
    """The claim as contract B returns it, with its CDR ids."""
    with db.engine.connect() as connection:
        cdr_ids = [
            row[0] for row in connection.execute(select(Cdr.id).where(Cdr.claim_id == claim.id).order_by(Cdr.id))
        ]
    return {
        "claim_ref": claim.claim_ref,
        "service_id": claim.service_id,
        "cutoff": claim.cutoff.isoformat(),
        "cdr_ids": [str(cdr_id) for cdr_id in cdr_ids],
        "calls": claim.calls,
        "amount": money_out(claim.amount),
        "adjustment": money_out(claim.adjustment),
    }


def get_claim(db: Database, claim_ref: str) -> dict[str, Any]:
    """The claim as recorded, for tracing a charge back to its CDRs."""
    with db.session() as session:
        claim = session.scalar(select(Claim).where(Claim.claim_ref == claim_ref))
        if claim is None:
            raise NotFound(f"claim {claim_ref!r} not found")
    return claim_body(db, claim)


def claim_service(db: Database, service_id: int, claim_ref: str, cutoff: datetime) -> dict[str, Any]:
    """Claim the service's chargeable calls and pending adjustments; the same `claim_ref` returns the same claim."""
    with db.session() as session:
        get_assignment(session, service_id)
        existing = session.scalar(select(Claim).where(Claim.claim_ref == claim_ref))
        if existing is not None:
            if existing.service_id != service_id:
                raise Conflict(f"claim {claim_ref!r} belongs to service {existing.service_id}")
            return claim_body(db, existing)
    try:
        with db.engine.begin() as connection:
            now = datetime.now(UTC)
            claim_id = connection.execute(
                Claim.__table__.insert()
                .values(
                    claim_ref=claim_ref,
                    service_id=service_id,
                    cutoff=cutoff,
                    calls=0,
                    amount=Decimal(0),
                    adjustment=Decimal(0),
                    created_at=now,
                )
                .returning(Claim.__table__.c.id)
            ).scalar_one()
            # claim_id IS NULL in the WHERE makes a concurrent claim skip rows another one took
            calls = connection.execute(
                update(Cdr.__table__)
                .where(claimable(service_id, cutoff))
                .values(claim_id=claim_id, charged_cost=Cdr.__table__.c.cost)
            ).rowcount
            amount = money_total(connection, select(Cdr.cost).where(Cdr.claim_id == claim_id))
            connection.execute(
                update(CostAdjustment.__table__)
                .where(CostAdjustment.service_id == service_id, CostAdjustment.claim_id.is_(None))
                .values(claim_id=claim_id)
            )
            adjustment = money_total(
                connection, select(CostAdjustment.amount).where(CostAdjustment.claim_id == claim_id)
            )
            connection.execute(
                update(Claim.__table__)
                .where(Claim.__table__.c.id == claim_id)
                .values(calls=calls, amount=amount, adjustment=adjustment)
            )
    except IntegrityError:
        # a concurrent request with the same claim_ref won the race; answer with its claim
        return get_claim(db, claim_ref)
    return get_claim(db, claim_ref)


def report(db: Database, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
    """Per service: calls with no rate (or not rated yet) and quarantined rows, in a time window."""
    unrated_conditions = [Cdr.service_id.is_not(None), Cdr.rated_at.is_(None) | (Cdr.reason == "no_rate")]
    quarantine_conditions = []
    if since is not None:
        unrated_conditions.append(Cdr.start_at >= since)
        quarantine_conditions.append(QuarantinedCdr.created_at >= since)
    if until is not None:
        unrated_conditions.append(Cdr.start_at < until)
        quarantine_conditions.append(QuarantinedCdr.created_at < until)
    result: dict[Any, dict[str, int]] = defaultdict(lambda: {"unrated": 0, "quarantined": 0})
    with db.engine.connect() as connection:
        for service_id, count in connection.execute(
            select(Cdr.service_id, func.count()).where(and_(*unrated_conditions)).group_by(Cdr.service_id)
        ):
            result[service_id]["unrated"] = count
        for service_id, count in connection.execute(
            select(QuarantinedCdr.service_id, func.count())
            .where(and_(*quarantine_conditions) if quarantine_conditions else True)
            .group_by(QuarantinedCdr.service_id)
        ):
            result[service_id]["quarantined"] = count
    return [
        {"service_id": service_id, **counts}
        for service_id, counts in sorted(result.items(), key=lambda item: (item[0] is None, item[0] or 0))
    ]
