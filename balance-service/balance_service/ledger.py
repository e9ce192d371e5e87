"""The ledger: one charge per service per run, with its calls, rerating adjustment and sub-cent carry."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollgate_common.money import money_str, parse_decimal, split_postable

from .models import Charge, Run, ServiceCarry

PREPAID = "prepaid"
POSTPAID = "postpaid"


STORAGE_QUANTUM = Decimal("0.000001")
"""Money columns keep 6 decimals (NUMERIC(24, 6))."""


def money_text(amount: Decimal) -> str:
    """Money as JSON text, the same on every database: at least 2 decimals, no trailing zeros past them."""
    whole, _, fraction = money_str(amount.quantize(STORAGE_QUANTUM)).partition(".")
    return f"{whole}.{fraction.rstrip('0').ljust(2, '0')}"


def charge_reference(run_key: str, service_id: int) -> str:
    """The stable reference of a service's charge in a run; also the claim reference sent to cdr-service."""
    return f"{run_key}:{service_id}"


def marker(reference: str) -> str:
    """The tag written into WHMCS descriptions and notes, so a post can be found again by its reference."""
    return f"[TG {reference}]"


def charge_description(charge: Charge, cutoff: dt.datetime) -> str:
    """The text WHMCS shows for a charge: service, calls, period end, and the reference marker."""
    return (
        f"VoIP usage, service #{charge.service_id}: {charge.calls} calls to {cutoff:%Y-%m-%d %H:%M} UTC "
        f"{marker(charge.reference)}"
    )


def record_charge(session: Session, run: Run, claim: dict[str, Any], client_id: int, billing_mode: str) -> Charge:
    """Record a claimed service's charge once; a second call with the same claim returns the first charge.

    The service's carry is consumed and replaced in the same transaction, so a rerun never carries twice.
    """
    reference = str(claim["claim_ref"])
    existing = session.scalar(select(Charge).where(Charge.reference == reference))
    if existing is not None:
        return existing
    service_id = int(reference.rsplit(":", 1)[1])
    carry = session.get(ServiceCarry, service_id, with_for_update=True)
    if carry is None:
        carry = ServiceCarry(service_id=service_id, carry=Decimal(0))
        session.add(carry)
    usage = parse_decimal(claim.get("amount", "0"), "amount")
    adjustment = parse_decimal(claim.get("adjustment") or "0", "adjustment")
    carry_in = carry.carry
    posted, carry_out = split_postable(usage + adjustment + carry_in)
    charge = Charge(
        reference=reference,
        run_id=run.id,
        service_id=service_id,
        client_id=client_id,
        billing_mode=billing_mode,
        calls=int(claim.get("calls", 0)),
        cdr_ids=list(claim.get("cdr_ids") or []),
        usage=usage,
        adjustment=adjustment,
        carry_in=carry_in,
        posted_amount=posted,
        carry_out=carry_out,
    )
    session.add(charge)
    session.flush()
    carry.carry = carry_out
    carry.last_charge_id = charge.id
    return charge


def usage_since(session: Session, service_ids: list[int], since: dt.datetime) -> dict[int, Decimal]:
    """Posted usage per service in charges recorded since `since` (for the current-period merge field)."""
    if not service_ids:
        return {}
    totals: dict[int, Decimal] = {service_id: Decimal(0) for service_id in service_ids}
    # Summed in Python: Money is text on SQLite, where SQL SUM would go through floats.
    for charge in session.scalars(select(Charge).where(Charge.service_id.in_(service_ids), Charge.created_at >= since)):
        totals[charge.service_id] += charge.posted_amount
    return totals
