"""Admin Suspend / Unsuspend commands on one service: a hold that only the Unsuspend command lifts."""

from __future__ import annotations

from typing import Any

from tollgate_common.db import Database
from tollgate_common.errors import NotFound

from .evaluate import Enqueue
from .models import Client, ClientEvent, ServiceHold
from .peers import CdrApi
from .suspension import SUSPENDED


def service_client_id(cdr: CdrApi, service_id: int) -> int:
    """The client a service belongs to, from cdr-service."""
    services = cdr.services(ids=[service_id])
    if not services:
        raise NotFound(f"service {service_id} is not known to cdr-service")
    return int(services[0]["client_id"])


def admin_suspend(db: Database, cdr: CdrApi, enqueue: Enqueue, service_id: int, reason: str) -> dict[str, Any]:
    """Hold a service suspended until the Unsuspend command; queue the PBX action."""
    client_id = service_client_id(cdr, service_id)
    with db.session() as session:
        if session.get(ServiceHold, service_id) is None:
            session.add(ServiceHold(service_id=service_id, client_id=client_id))
        event = ClientEvent(
            client_id=client_id,
            kind="service_suspended",
            actor="admin",
            reason=reason,
            details={"service_id": service_id},
        )
        session.add(event)
        session.flush()
        action_ref = f"admin:{service_id}:{event.id}:suspend"
        enqueue("cdr", "cdr_service.jobs.suspend_service", service_id, action_ref, job_id=f"pbx:{action_ref}")
        event.details = {**event.details, "action_ref": action_ref}
    return {"service_id": service_id, "client_id": client_id, "held": True, "pbx_action": action_ref}


def admin_unsuspend(db: Database, cdr: CdrApi, enqueue: Enqueue, service_id: int, reason: str) -> dict[str, Any]:
    """Lift an admin hold; the PBX is restored unless the client itself is suspended (balance or manual)."""
    client_id = service_client_id(cdr, service_id)
    with db.session() as session:
        hold = session.get(ServiceHold, service_id)
        if hold is not None:
            session.delete(hold)
        client = session.get(Client, client_id)
        client_suspended = client is not None and client.voip_state == SUSPENDED
        event = ClientEvent(
            client_id=client_id,
            kind="service_unsuspended",
            actor="admin",
            reason=reason,
            details={"service_id": service_id},
        )
        session.add(event)
        session.flush()
        action_ref = None
        if not client_suspended:
            action_ref = f"admin:{service_id}:{event.id}:unsuspend"
            enqueue("cdr", "cdr_service.jobs.unsuspend_service", service_id, action_ref, job_id=f"pbx:{action_ref}")
        event.details = {**event.details, "action_ref": action_ref, "client_suspended": client_suspended}
    return {"service_id": service_id, "client_id": client_id, "held": False, "pbx_action": action_ref}
