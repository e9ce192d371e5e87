"""VoIP service assignments from WHMCS: upsert with parsed fields, terminate, test on the PBX."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollgate_common.db import Database
from tollgate_common.errors import InvalidInput, NotFound

from .assignments import parse_assignment
from .models import Server, ServiceAssignment
from .servers import MAX_ID, validate_timezone
from .store import reattribute


def get_assignment(session: Session, service_id: int) -> ServiceAssignment:
    """Load a service or raise NotFound."""
    assignment = session.get(ServiceAssignment, service_id) if 0 < service_id <= MAX_ID else None
    if assignment is None:
        raise NotFound(f"service {service_id} is not a VoIP service known to cdr-service")
    return assignment


def upsert_service(
    db: Database, service_id: int, data: dict[str, Any], check_link: Callable[[str], object] | None = None
) -> ServiceAssignment:
    """Create or update a service from its WHMCS fields, then re-attribute its tenant's stored CDRs.

    `check_link` vets a CDR Link (it comes from WHMCS data, so it is never trusted).
    """
    if not 0 < service_id <= MAX_ID:
        raise InvalidInput(f"service id {service_id} is out of range", {"fields": {"service_id": service_id}})
    with db.session() as session:
        server = session.get(Server, data["server_id"])
        if server is None:
            raise InvalidInput(
                f"server_id: server {data['server_id']} does not exist", {"fields": {"server_id": data["server_id"]}}
            )
        parsed = parse_assignment(server.kind, data.get("domain"), data.get("username"), data.get("custom_fields"))
        if parsed.cdr_link and check_link is not None:
            try:
                check_link(parsed.cdr_link)
            except InvalidInput as exc:
                raise InvalidInput(
                    f"custom_fields.CDR Link: {exc.message}", {"fields": {"custom_fields.CDR Link": exc.message}}
                ) from None
        timezone = data.get("timezone")
        if timezone:
            validate_timezone(timezone)
        assignment = session.get(ServiceAssignment, service_id)
        previous = (assignment.server_id, assignment.tenant) if assignment is not None else None
        if assignment is None:
            assignment = ServiceAssignment(service_id=service_id, suspended=False)
            session.add(assignment)
        assignment.client_id = data["client_id"]
        assignment.product_id = data["product_id"]
        assignment.server_id = server.id
        assignment.kind = server.kind
        assignment.status = data.get("status") or assignment.status or "Active"
        assignment.domain_field = data.get("domain") or ""
        assignment.username_field = data.get("username") or ""
        assignment.custom_fields = data.get("custom_fields") or {}
        assignment.tenant = parsed.tenant
        assignment.main_did = parsed.main_did
        assignment.dids = parsed.dids
        assignment.extensions = parsed.extensions
        assignment.billed_number = parsed.billed_number
        assignment.cdr_link = parsed.cdr_link
        assignment.billing_cycle = data.get("billing_cycle") or "Monthly"
        assignment.next_due_date = data.get("next_due_date")
        assignment.timezone = timezone or None
        if assignment.status.lower() != "terminated":
            assignment.terminated_at = None
        elif assignment.terminated_at is None:
            assignment.terminated_at = datetime.now(UTC)
        assignment.updated_at = datetime.now(UTC)
        current = (assignment.server_id, assignment.tenant)
    for server_id, tenant in {current, previous} - {None}:
        reattribute(db, server_id, tenant)
    return assignment


def terminate_service(db: Database, service_id: int) -> ServiceAssignment:
    """Stop attributing new calls to the service; its stored calls stay billable and visible."""
    with db.session() as session:
        assignment = get_assignment(session, service_id)
        if assignment.terminated_at is None:
            assignment.terminated_at = datetime.now(UTC)
        assignment.status = "Terminated"
        key = (assignment.server_id, assignment.tenant)
    reattribute(db, *key)
    return assignment


def describe_assignment(assignment: ServiceAssignment) -> dict[str, Any]:
    """The service as the contract B `/internal/services` list and `GET /v1/services/{id}` show it."""
    return {
        "service_id": assignment.service_id,
        "client_id": assignment.client_id,
        "product_id": assignment.product_id,
        "server_id": assignment.server_id,
        "kind": assignment.kind,
        "status": assignment.status,
        "suspended": assignment.suspended,
        "tenant": assignment.tenant,
        "main_did": assignment.main_did,
        "dids": assignment.dids,
        "extensions": assignment.extensions,
        "billed_number": assignment.billed_number,
        "cdr_link": assignment.cdr_link,
        "billing_cycle": assignment.billing_cycle,
        "next_due_date": assignment.next_due_date.isoformat() if isinstance(assignment.next_due_date, date) else None,
        "timezone": assignment.timezone,
        "terminated_at": assignment.terminated_at,
    }


def list_services(db: Database, client_id: int | None, ids: list[int] | None) -> list[ServiceAssignment]:
    """The VoIP services we know, optionally one client's or a list of ids.

    Ids beyond the id range cannot exist; they are dropped rather than sent to the database,
    whose integer columns would refuse them.
    """
    if ids is not None:
        ids = [service_id for service_id in ids if 0 < service_id <= MAX_ID]
        if not ids:
            return []
    with db.session() as session:
        query = select(ServiceAssignment).order_by(ServiceAssignment.service_id)
        if client_id is not None:
            query = query.where(ServiceAssignment.client_id == client_id)
        if ids:
            query = query.where(ServiceAssignment.service_id.in_(ids))
        return list(session.scalars(query))
