"""Re-evaluate one client: refresh from WHMCS, decide suspension and low-balance alerts, and act on the change.

Side effects go out as idempotent jobs whose keys depend only on the client's suspension number, and
they are queued before the new state is committed: a crash in between replays the same keys, so a
PBX action or an email is never doubled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tollgate_common.db import Database

from .alerts import ALERT, AlertState, decide_alert, parse_threshold
from .exceptions import WhmcsError
from .mirror import facts_for, field_value, refresh_client, state_for
from .models import Client, ClientEvent, ServiceHold, WhmcsSettings, utcnow
from .suspension import BY_BALANCE, BY_FIELD_OVERRIDE, SUSPENDED, decide, field_value_for, is_no, service_suspended
from .whmcs import WhmcsClient
from .whmcs_settings import field_ids

Enqueue = Callable[..., Any]
"""enqueue(queue, func_path, *args, job_id=...) as in tollgate_common.jobs, bound to a Redis connection."""

ZERO_BALANCE_TEMPLATE = "VoIP Zero Balance"
RESTORED_TEMPLATE = "VoIP Service Restored"
LOW_BALANCE_TEMPLATE = "Low Balance Alert"


@dataclass
class Evaluation:
    """What one evaluation decided and set in motion."""

    client_id: int
    voip_state: str
    changed: bool = False
    reason: str = ""
    pbx_actions: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def evaluate_client(
    db: Database,
    whmcs: WhmcsClient,
    settings_row: WhmcsSettings,
    client_id: int,
    *,
    actor: str,
    services_of: Callable[[int], list[dict[str, Any]]],
    enqueue: Enqueue,
    today: dt.date,
    reminders: bool,
    currencies: dict[int, dict[str, str]] | None = None,
    details: dict[str, Any] | None = None,
    outstanding: Decimal | None = None,
) -> Evaluation:
    """Refresh a client from WHMCS, then apply the §6 rules: suspend or restore, write back, alert."""
    with db.session() as session:
        client = refresh_client(
            session,
            whmcs,
            client_id,
            currencies,
            details=details,
            outstanding=outstanding,
            with_services=outstanding is None,
        )
        decision = decide(facts_for(client, settings_row), state_for(client))
        result = Evaluation(client_id, client.voip_state)
        if decision is not None:
            if decision.changed:
                apply_change(session, client, decision, actor, services_of, enqueue, result)
            elif decision.suspended_by != client.suspended_by:
                # Still suspended, for a new reason (e.g. the manual flag cleared while the balance is short).
                session.add(
                    ClientEvent(
                        client_id=client.client_id,
                        kind="suspension_reason",
                        actor=actor,
                        reason=decision.reason,
                        details={"from": client.suspended_by, "to": decision.suspended_by},
                    )
                )
                client.suspended_by = decision.suspended_by
            write_back(whmcs, settings_row, client, result)
        send_low_balance_alert(client, settings_row, enqueue, today, reminders, result)
        result.voip_state = client.voip_state
        return result


def apply_change(
    session: Any,
    client: Client,
    decision: Any,
    actor: str,
    services_of: Callable[[int], list[dict[str, Any]]],
    enqueue: Enqueue,
    result: Evaluation,
) -> None:
    """Move a client to the decided state: PBX actions for every VoIP service, emails, the event log."""
    previous_by = client.suspended_by
    suspending = decision.voip_state == SUSPENDED
    number = client.suspension_count + 1 if suspending else client.suspension_count
    holds = set(session.scalars(select(ServiceHold.service_id).where(ServiceHold.client_id == client.client_id)))
    for service in services_of(client.client_id):
        service_id = int(service["service_id"])
        wanted = service_suspended(decision.voip_state, service_id in holds)
        if wanted == bool(service.get("suspended")):
            continue
        action = "suspend" if wanted else "unsuspend"
        action_ref = f"client:{client.client_id}:{number}:{service_id}:{action}"
        enqueue("cdr", f"cdr_service.jobs.{action}_service", service_id, action_ref, job_id=f"pbx:{action_ref}")
        result.pbx_actions.append(action_ref)
    if suspending and decision.suspended_by == BY_BALANCE:
        key = f"zero-balance:{client.client_id}:{number}"
        enqueue("notify", "notify_service.jobs.send", key, ZERO_BALANCE_TEMPLATE, client.client_id, {}, job_id=key)
        result.emails.append(key)
    if not suspending and previous_by == BY_BALANCE:
        key = f"restored:{client.client_id}:{number}"
        enqueue("notify", "notify_service.jobs.send", key, RESTORED_TEMPLATE, client.client_id, {}, job_id=key)
        result.emails.append(key)
    client.voip_state = decision.voip_state
    client.suspended_by = decision.suspended_by
    client.suspension_count = number
    client.suspended_at = utcnow() if suspending else None
    session.add(
        ClientEvent(
            client_id=client.client_id,
            kind="suspended" if suspending else "restored",
            actor=actor,
            reason=decision.reason,
            details={
                "suspended_by": decision.suspended_by,
                "suspension": number,
                "credit": str(client.credit),
                "outstanding": str(client.outstanding),
                "pbx_actions": result.pbx_actions,
            },
        )
    )
    result.changed = True
    result.reason = decision.reason


def write_back(whmcs: WhmcsClient, settings_row: WhmcsSettings, client: Client, result: Evaluation) -> None:
    """Make WHMCS's `VoIP Suspended` show our state (Yes / None), leaving an admin's No or Yes alone."""
    field_id = field_ids(settings_row).get("voip_suspended")
    if field_id is None:
        return
    current = field_value(client, settings_row, "voip_suspended")
    if is_no(current) or client.suspended_by == BY_FIELD_OVERRIDE:
        return
    wanted = field_value_for(client.voip_state)
    if current == wanted:
        client.voip_field_written = wanted
        return
    try:
        whmcs.set_client_fields(client.client_id, {field_id: wanted})
    except WhmcsError as exc:
        # Setting a field is idempotent: the next evaluation writes it again.
        result.errors.append(f"VoIP Suspended write-back failed: {exc.message}")
        return
    client.custom_fields = {**client.custom_fields, str(field_id): wanted}
    client.voip_field_written = wanted


def send_low_balance_alert(
    client: Client, settings_row: WhmcsSettings, enqueue: Enqueue, today: dt.date, reminders: bool, result: Evaluation
) -> None:
    """Queue the Low Balance Alert on crossing, or the daily reminder, and keep the alert state."""
    threshold = parse_threshold(field_value(client, settings_row, "low_balance_threshold"))
    state = AlertState(client.low_balance_armed, client.low_balance_sent_on)
    decision = decide_alert(threshold, client.credit, state, today, reminders=reminders)
    if decision.send is not None:
        key = f"low-balance:{client.client_id}:{today.isoformat()}"
        extra = {"reminder": decision.send != ALERT, "threshold": str(threshold)}
        enqueue("notify", "notify_service.jobs.send", key, LOW_BALANCE_TEMPLATE, client.client_id, extra, job_id=key)
        result.emails.append(key)
    client.low_balance_armed = decision.state.armed
    client.low_balance_sent_on = decision.state.sent_on
