"""HTTP routes of balance_service: WHMCS settings, runs, clients, payment events, admin hold commands."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from tollgate_common.db import MAX_INTEGER_ID
from tollgate_common.service import get_db

from . import jobs
from .exceptions import ClientNotFound, InvalidSettings, RunNotFound
from .holds import admin_suspend, admin_unsuspend
from .ledger import money_text
from .mirror import merge_data, refresh_client
from .models import Charge, Client, ClientEvent, Run, ServiceHold
from .posting import resolve_posting
from .schemas import (
    ChargeListSchema,
    ClientViewSchema,
    CommandSchema,
    EventAcceptedSchema,
    HoldResultSchema,
    MergeDataSchema,
    ResolvedSchema,
    ResolveSchema,
    RunListSchema,
    RunQuerySchema,
    RunSchema,
    WhmcsEventSchema,
    WhmcsSettingsInSchema,
    WhmcsSettingsOutSchema,
)
from .whmcs_settings import load_settings, public_view, save_settings

bp = Blueprint("balance", __name__, description="WHMCS settings, runs, client balances and suspension")

PAYMENT_EVENTS = frozenset({"InvoicePaid", "AddInvoicePayment"})
CLIENT_EVENTS_SHOWN = 50


@bp.route("/v1/settings/whmcs")
class WhmcsSettingsView(MethodView):
    @bp.response(200, WhmcsSettingsOutSchema)
    def get(self) -> dict[str, Any]:
        """Show the WHMCS settings (the secret and access key are only said to be set)."""
        with get_db().session() as session:
            return public_view(load_settings(session))

    @bp.arguments(WhmcsSettingsInSchema)
    @bp.response(200, WhmcsSettingsOutSchema)
    def put(self, values: dict[str, Any]) -> dict[str, Any]:
        """Save the WHMCS URL, API credentials and client custom-field ids."""
        with get_db().session() as session:
            row = save_settings(session, values)
            if not row.secret:
                raise InvalidSettings(
                    "secret: required the first time WHMCS settings are saved", {"fields": ["secret"]}
                )
            return public_view(row)


def mirrored_client(session: Any, client_id: int) -> Client:
    """The mirrored client, read from WHMCS first when it is not mirrored yet."""
    if not 0 < client_id <= MAX_INTEGER_ID:
        raise ClientNotFound(f"client {client_id} not found")
    client = session.get(Client, client_id)
    return client if client is not None else refresh_client(session, jobs.whmcs_client(), client_id)


@bp.get("/internal/clients/<int:client_id>/merge-data")
@bp.response(200, MergeDataSchema)
def client_merge_data(client_id: int) -> dict[str, Any]:
    """Give notify-service a client's merge data: names, credit, due balance, custom fields, services."""
    with get_db().session() as session:
        row = load_settings(session)
        return merge_data(session, mirrored_client(session, client_id), row, dt.datetime.now(dt.UTC))


@bp.get("/v1/runs")
@bp.arguments(RunQuerySchema, location="query")
@bp.response(200, RunListSchema)
def list_runs(query: dict[str, Any]) -> dict[str, Any]:
    """List the latest autobill runs, newest first."""
    with get_db().session() as session:
        runs = session.scalars(select(Run).order_by(Run.id.desc()).limit(query["limit"])).all()
        return {"items": list(runs)}


def find_run(session: Any, run_ref: str) -> Run:
    """A run by its id or by its key (`daily:2026-11-25`)."""
    run = session.get(Run, int(run_ref)) if run_ref.isdigit() and 0 < int(run_ref) <= MAX_INTEGER_ID else None
    run = run or session.scalar(select(Run).where(Run.run_key == run_ref))
    if run is None:
        raise RunNotFound(f"run {run_ref} not found")
    return run


@bp.get("/v1/runs/<run_ref>")
@bp.response(200, RunSchema)
def get_run(run_ref: str) -> Run:
    """Show one run (by id or key) with its report: charges, amounts posted, open postings, failures."""
    with get_db().session() as session:
        return find_run(session, run_ref)


@bp.get("/v1/runs/<run_ref>/charges")
@bp.response(200, ChargeListSchema)
def list_run_charges(run_ref: str) -> dict[str, Any]:
    """List a run's charges with their calls, so every WHMCS line traces back to its CDRs."""
    with get_db().session() as session:
        run = find_run(session, run_ref)
        charges = session.scalars(select(Charge).where(Charge.run_id == run.id).order_by(Charge.service_id)).all()
        return {"items": list(charges)}


@bp.get("/v1/clients/<int:client_id>")
@bp.response(200, ClientViewSchema)
def get_client(client_id: int) -> dict[str, Any]:
    """Show a client's balance, VoIP state, admin holds and latest events."""
    with get_db().session() as session:
        client = mirrored_client(session, client_id)
        events = session.scalars(
            select(ClientEvent)
            .where(ClientEvent.client_id == client_id)
            .order_by(ClientEvent.id.desc())
            .limit(CLIENT_EVENTS_SHOWN)
        ).all()
        holds = session.scalars(select(ServiceHold.service_id).where(ServiceHold.client_id == client_id)).all()
        return {
            "client_id": client.client_id,
            "credit": money_text(client.credit),
            "outstanding": money_text(client.outstanding),
            "currency_code": client.currency_code,
            "voip_state": client.voip_state,
            "suspended_by": client.suspended_by,
            "suspended_at": client.suspended_at,
            "synced_at": client.synced_at,
            "held_services": list(holds),
            "events": list(events),
        }


@bp.post("/v1/events/whmcs")
@bp.arguments(WhmcsEventSchema)
@bp.response(202, EventAcceptedSchema)
def whmcs_event(body: dict[str, Any]) -> dict[str, Any]:
    """Take a WHMCS hook event; a payment re-evaluates its client at once (in a job)."""
    if body["event"] not in PAYMENT_EVENTS:
        return {"accepted": False, "job_id": None, "reason": f"event {body['event']} is not acted on"}
    if body.get("client_id") is None and body.get("invoice_id") is None:
        return {"accepted": False, "job_id": None, "reason": "neither client_id nor invoice_id given"}
    job = jobs.queue_job(
        "balance", "balance_service.jobs.payment_event", body["event"], body.get("client_id"), body.get("invoice_id")
    )
    return {"accepted": True, "job_id": job.id, "reason": "client re-evaluation queued"}


@bp.post("/v1/services/<int:service_id>/suspend")
@bp.arguments(CommandSchema)
@bp.response(200, HoldResultSchema)
def suspend_service(body: dict[str, Any], service_id: int) -> dict[str, Any]:
    """Admin Suspend: hold the service suspended until the Unsuspend command."""
    return admin_suspend(get_db(), jobs.cdr_api(), jobs.queue_job, service_id, body["reason"])


@bp.post("/v1/services/<int:service_id>/unsuspend")
@bp.arguments(CommandSchema)
@bp.response(200, HoldResultSchema)
def unsuspend_service(body: dict[str, Any], service_id: int) -> dict[str, Any]:
    """Admin Unsuspend: lift the hold; the PBX is restored unless the client itself is suspended."""
    return admin_unsuspend(get_db(), jobs.cdr_api(), jobs.queue_job, service_id, body["reason"])


@bp.post("/v1/postings/<int:posting_id>/resolve")
@bp.arguments(ResolveSchema)
@bp.response(200, ResolvedSchema)
def resolve(body: dict[str, Any], posting_id: int) -> dict[str, Any]:
    """Settle an unverified WHMCS posting after checking WHMCS by hand, then resume its run."""
    result = resolve_posting(get_db(), posting_id, body["outcome"])
    job = jobs.queue_job(
        "balance",
        "balance_service.jobs.autobill",
        result["run_key"],
        result["mode"],
        job_id=f"autobill-resume:{result['run_key']}:{posting_id}",
    )
    return {**result, "resume_job_id": job.id}
