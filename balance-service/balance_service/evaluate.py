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

from sqlalchemy import select, update

from tollgate_common.db import Database
from tollgate_common.errors import TollgateError

from .alerts import ALERT, AlertState, decide_alert, parse_threshold
from .exceptions import WhmcsError
from .mirror import facts_for, field_value, refresh_client, state_for
from .models import Client, ClientEvent, ServiceHold, WhmcsSettings, utcnow
from .suspension import BY_BALANCE, BY_FIELD_OVERRIDE, SUSPENDED, decide, field_value_for, is_no, service_suspended
from .whmcs import WhmcsClient, map_concurrently
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
    decided: bool = False
    """Autosuspend applies to this client (Has VoIP Service is Yes)."""


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
        result = decide_and_apply(session, client, settings_row, actor, services_of, enqueue, today, reminders)
    # Written only once the new state is committed (see write_backs).
    write_backs(db, whmcs, settings_row, [(client, result)], concurrency=1)
    return result


def evaluate_chunk(
    db: Database,
    whmcs: WhmcsClient,
    settings_row: WhmcsSettings,
    fetched: dict[int, dict[str, Any] | Exception],
    *,
    owed: dict[int, Decimal],
    read_at: dt.datetime,
    actor: str,
    services_of: Callable[[int], list[dict[str, Any]]],
    enqueue: Enqueue,
    today: dt.date,
    reminders: bool,
    currencies: dict[int, dict[str, str]],
    concurrency: int,
    make_client: Callable[[], WhmcsClient] | None = None,
) -> tuple[list[Evaluation], list[dict[str, Any]]]:
    """Evaluate many mirrored clients from details read in bulk: one transaction, one savepoint per client.

    The chunk's mirror rows are locked in one statement. A client refreshed since `read_at` (a payment
    event, a charge) is decided on its mirror row, which is fresher than this bulk read. One client's
    failure rolls back only its savepoint. Returns the evaluations and the per-client errors.
    """
    results: list[tuple[Client, Evaluation]] = []
    errors: list[dict[str, Any]] = []
    with db.session() as session:
        rows = session.scalars(
            select(Client).where(Client.client_id.in_(list(fetched))).order_by(Client.client_id).with_for_update()
        )
        locked = {client.client_id: client for client in rows}
        for client_id, details in fetched.items():
            client = locked.get(client_id)
            if isinstance(details, Exception):
                message = details.message if isinstance(details, TollgateError) else str(details)
                errors.append({"client_id": client_id, "error": message})
                continue
            # A client refreshed since `read_at` (a payment event, a charge) has fresher facts than this read.
            fresher = client is not None and client.synced_at is not None and client.synced_at >= read_at
            try:
                with session.begin_nested():
                    if not fresher:
                        client = refresh_client(
                            session,
                            whmcs,
                            client_id,
                            currencies,
                            details=details,
                            outstanding=owed.get(client_id, Decimal(0)),
                            with_services=False,
                            locked=client,
                        )
                    result = decide_and_apply(
                        session, client, settings_row, actor, services_of, enqueue, today, reminders
                    )
            except TollgateError as exc:
                errors.append({"client_id": client_id, "error": exc.message})
                continue
            results.append((client, result))
    write_backs(db, whmcs, settings_row, results, concurrency=concurrency, make_client=make_client)
    return [result for _client, result in results], errors


def decide_and_apply(
    session: Any,
    client: Client,
    settings_row: WhmcsSettings,
    actor: str,
    services_of: Callable[[int], list[dict[str, Any]]],
    enqueue: Enqueue,
    today: dt.date,
    reminders: bool,
) -> Evaluation:
    """Decide a refreshed client's state, queue the side effects of a change and keep the alert state."""
    decision = decide(facts_for(client, settings_row), state_for(client))
    result = Evaluation(client.client_id, client.voip_state)
    if decision is not None:
        result.decided = True
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
        wanted = pending_write(settings_row, client)
        if wanted is not None and field_value(client, settings_row, "voip_suspended") == wanted[1]:
            # WHMCS already shows our state; remember it as ours.
            client.voip_field_written = wanted[1]
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
        # Queued whatever cdr-service reports: a suspend still pending (PBX down, queue backlog) shows the
        # service as active, and skipping the unsuspend would leave it to cut a paying client off later.
        wanted = service_suspended(decision.voip_state, service_id in holds)
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


def pending_write(settings_row: WhmcsSettings, client: Client) -> tuple[int, str] | None:
    """The `VoIP Suspended` (field id, value) that shows our state (Yes / None); None to leave an admin's No or Yes."""
    field_id = field_ids(settings_row).get("voip_suspended")
    if field_id is None:
        return None
    current = field_value(client, settings_row, "voip_suspended")
    if is_no(current) or client.suspended_by == BY_FIELD_OVERRIDE:
        return None
    return field_id, field_value_for(client.voip_state)


def write_backs(
    db: Database,
    whmcs: WhmcsClient,
    settings_row: WhmcsSettings,
    evaluated: list[tuple[Client, Evaluation]],
    *,
    concurrency: int,
    make_client: Callable[[], WhmcsClient] | None = None,
) -> None:
    """Make WHMCS's `VoIP Suspended` show the committed state of each evaluated client, then record it.

    Runs after the state is committed: a Yes written for a suspension that then failed to commit would
    read as an admin's own Yes on the next run. A crash in between leaves the field to the next run.
    """
    to_write = []
    for client, result in evaluated:
        wanted = pending_write(settings_row, client) if result.decided else None
        if wanted is not None and field_value(client, settings_row, "voip_suspended") != wanted[1]:
            to_write.append((client, result, wanted))
    if not to_write:
        return

    def write(item: tuple[Client, Evaluation, tuple[int, str]], writer: WhmcsClient) -> bool:
        client, result, (field_id, value) = item
        try:
            writer.set_client_fields(client.client_id, {field_id: value})
        except WhmcsError as exc:
            # Setting a field is idempotent: the next evaluation writes it again.
            result.errors.append(f"VoIP Suspended write-back failed: {exc.message}")
            return False
        return True

    if concurrency > 1 and len(to_write) > 1 and make_client is not None:
        done = map_concurrently(write, to_write, make_client, concurrency)
    else:
        done = [write(item, whmcs) for item in to_write]
    written = [(client, value) for (client, _result, (_field, value)), ok in zip(to_write, done, strict=True) if ok]
    with db.session() as session:
        for client, value in written:
            field_id = field_ids(settings_row)["voip_suspended"]
            client.custom_fields = {**client.custom_fields, str(field_id): value}
            client.voip_field_written = value
            # Recorded only if no later evaluation moved the client meanwhile (it writes its own state).
            session.execute(
                update(Client)
                .where(Client.client_id == client.client_id, Client.voip_state == client.voip_state)
                .values(voip_field_written=value, custom_fields=client.custom_fields)
            )


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
