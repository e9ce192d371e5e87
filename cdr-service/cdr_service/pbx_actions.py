"""The PBX action log: suspend or unsuspend a service once per action reference, visible while pending."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from sqlalchemy import select

from tollgate_common.db import Database
from tollgate_common.errors import NotFound
from tollgate_common.jobs import enqueue

from .adapters.base import ProviderAdapter, ServiceTarget
from .models import PbxAction, Server, ServiceAssignment
from .servers import MAX_ID
from .services import get_assignment

ACTIONS = ("suspend", "unsuspend")


def target_of(assignment: ServiceAssignment) -> ServiceTarget:
    """What an adapter needs to act on a service."""
    return ServiceTarget(
        service_id=assignment.service_id,
        tenant=assignment.tenant,
        extensions=tuple(assignment.extensions or ()),
        dids=tuple(assignment.dids or ()),
        billed_number=assignment.billed_number,
        cdr_link=assignment.cdr_link,
    )


def action_result(action: PbxAction) -> dict[str, Any]:
    """The action as the suspend/unsuspend jobs return it (`done`, `superseded` or `pending`)."""
    status = action.status if action.status in ("done", "superseded") else "pending"
    return {"status": status, "message": action.message}


def run_action(
    db: Database,
    redis: Redis,
    service_id: int,
    action_ref: str,
    action: str,
    adapter_factory: Callable[[Server], ProviderAdapter],
) -> dict[str, Any]:
    """Apply `action` on the service's PBX unless `action_ref` is already done; record every attempt.

    A failure is recorded on the action (still pending, with the error) and re-raised so RQ retries.
    A `manual` strategy records a task for an admin and emails them: the action stays pending until
    an admin marks it done.
    """
    now = datetime.now(UTC)
    with db.session() as session:
        record = session.scalar(select(PbxAction).where(PbxAction.action_ref == action_ref))
        if record is not None and record.status in ("done", "manual", "superseded"):
            return action_result(record)
        assignment = get_assignment(session, service_id)
        server = session.get(Server, assignment.server_id)
        if record is None:
            record = PbxAction(
                action_ref=action_ref,
                service_id=service_id,
                server_id=server.id,
                action=action,
                strategy=str((server.settings or {}).get("suspend_strategy", "")),
                status="pending",
                attempts=0,
                message="",
                details={},
                created_at=now,
                updated_at=now,
            )
            session.add(record)
            session.flush()
        # A suspend still retrying must not undo a later unsuspend (or the reverse): the newest
        # action on a service is the one that stands.
        newer = session.scalar(
            select(PbxAction.action_ref)
            .where(PbxAction.service_id == service_id, PbxAction.id > record.id)
            .order_by(PbxAction.id.desc())
            .limit(1)
        )
        if newer is not None:
            record.status = "superseded"
            record.message = f"superseded by {newer}"
            record.updated_at = now
            return action_result(record)
        record.attempts += 1
        target = target_of(assignment)
        adapter = adapter_factory(server)
    try:
        details = adapter.suspend(target) if action == "suspend" else adapter.unsuspend(target)
    except Exception as exc:
        with db.session() as session:
            record = session.scalar(select(PbxAction).where(PbxAction.action_ref == action_ref))
            record.message = f"attempt {record.attempts} failed: {exc}"[:2000]
            record.updated_at = datetime.now(UTC)
        raise
    with db.session() as session:
        record = session.scalar(select(PbxAction).where(PbxAction.action_ref == action_ref))
        assignment = session.get(ServiceAssignment, service_id)
        record.details = details
        record.updated_at = datetime.now(UTC)
        if details.get("manual"):
            record.status = "manual"
            record.message = details.get("message", "recorded as a task for an admin")
            # notify-service's "VoIP Manual Action" template goes to the operator's admin address.
            task_details = {key: value for key, value in details.items() if key not in {"manual", "message"}}
            enqueue(
                redis,
                "notify",
                "notify_service.jobs.send",
                f"manual-task:{action_ref}",
                "VoIP Manual Action",
                assignment.client_id,
                {
                    "task_id": str(record.id),
                    "task_action": action,
                    "task_service_id": str(service_id),
                    "task_server": str(assignment.server_id),
                    "task_details": "; ".join(f"{key}: {value}" for key, value in sorted(task_details.items())),
                },
                job_id=f"manual-task:{action_ref}",
            )
            return action_result(record)
        record.status = "done"
        record.message = f"{action} done ({record.strategy})"
        assignment.suspended = action == "suspend"
        assignment.status = "Suspended" if action == "suspend" else "Active"
        return action_result(record)


def list_actions(db: Database, *, service_id: int | None = None, status: str | None = None) -> list[PbxAction]:
    """PBX actions, newest first, optionally one service's or one status'."""
    with db.session() as session:
        query = select(PbxAction).order_by(PbxAction.id.desc())
        if service_id is not None:
            query = query.where(PbxAction.service_id == service_id)
        if status is not None:
            query = query.where(PbxAction.status == status)
        return list(session.scalars(query.limit(500)))


def complete_manual(db: Database, action_id: int, note: str) -> PbxAction:
    """Mark a manual task done once an admin has carried it out on the provider's portal."""
    with db.session() as session:
        record = session.get(PbxAction, action_id) if 0 < action_id <= MAX_ID else None
        if record is None:
            raise NotFound(f"PBX action {action_id} not found")
        if record.status != "done":
            record.status = "done"
            record.message = note or "done by an admin"
            record.updated_at = datetime.now(UTC)
            assignment = session.get(ServiceAssignment, record.service_id)
            if assignment is not None:
                assignment.suspended = record.action == "suspend"
                assignment.status = "Suspended" if record.action == "suspend" else "Active"
        return record
