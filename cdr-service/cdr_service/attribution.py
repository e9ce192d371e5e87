"""Attribute each CDR to the WHMCS service that owns it: the tenant, then its extensions or DIDs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from .adapters.base import CallRecord
from .models import ServiceAssignment


@dataclass(frozen=True)
class Owner:
    """The numbers one service owns inside its tenant."""

    service_id: int
    extensions: frozenset[str]
    dids: frozenset[str]
    ended: datetime | None = None

    @property
    def whole_tenant(self) -> bool:
        """A service listing no extensions bills its whole tenant."""
        return not self.extensions


class Attributor:
    """Finds the owning service of a call among the live services of one server."""

    def __init__(self, assignments: Iterable[ServiceAssignment]):
        self.by_tenant: dict[str, list[Owner]] = defaultdict(list)
        for assignment in sorted(assignments, key=lambda item: item.service_id):
            extensions = set(assignment.extensions or [])
            dids = {did for did in (assignment.dids or []) if did}
            if assignment.billed_number:
                (extensions if len(assignment.billed_number) <= 6 else dids).add(assignment.billed_number)
            self.by_tenant[assignment.tenant.lower()].append(
                Owner(
                    assignment.service_id,
                    frozenset(extensions),
                    frozenset(with_nanp_variants(dids)),
                    assignment.terminated_at if assignment.terminated_at is not None else None,
                )
            )

    def owners_of_tenant(self, tenant: str) -> list[Owner]:
        """The live services of a tenant (case-insensitive)."""
        return self.by_tenant.get(tenant.lower(), [])

    def owner_of(self, record: CallRecord) -> int | None:
        """Return the service id owning `record`, or None when no live service of its tenant claims it."""
        # a terminated service still owns the calls it made before it ended (they may be synced late)
        owners = [
            owner
            for owner in self.by_tenant.get(record.tenant.lower(), [])
            if owner.ended is None or record.start_at < owner.ended
        ]
        if not owners:
            return None
        if len(owners) == 1 and owners[0].whole_tenant:
            return owners[0].service_id
        if record.extension:
            for owner in owners:
                if record.extension in owner.extensions:
                    return owner.service_id
        own_numbers = call_own_numbers(record)
        for owner in owners:
            if own_numbers & owner.dids:
                return owner.service_id
        for owner in owners:
            if owner.whole_tenant:
                return owner.service_id
        return None


def call_own_numbers(record: CallRecord) -> set[str]:
    """The tenant-side numbers of a call: the DID called on inbound calls, the caller on outbound ones."""
    if record.direction == "inbound":
        numbers = {record.caller_destination, record.destination_number}
    else:
        numbers = {record.caller_number}
    return {digits(number) for number in numbers if number}


def digits(number: str) -> str:
    """Keep only the digits of a number."""
    return "".join(ch for ch in number if ch.isdigit())


def with_nanp_variants(dids: set[str]) -> set[str]:
    """Match a NANP DID written with or without its leading 1 (`5192229000` and `15192229000`)."""
    variants = set(dids)
    for did in dids:
        if len(did) == 10:
            variants.add("1" + did)
        elif len(did) == 11 and did.startswith("1"):
            variants.add(did[1:])
    return variants
