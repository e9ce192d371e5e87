"""RQ jobs on the `balance` queue: autobill, autosuspend, client evaluation and the daily client sync."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import structlog
from redis.exceptions import LockError
from rq.job import JobStatus
from sqlalchemy import select

from tollgate_common.errors import TollgateError
from tollgate_common.http import ServiceClient
from tollgate_common.jobs import enqueue, fetch_job, report_progress
from tollgate_common.service import get_db, get_redis, settings

from .autobill import MODES, run_autobill, unfinished_runs
from .evaluate import Evaluation
from .evaluate import evaluate_client as evaluate
from .mirror import refresh_client
from .models import Client, WhmcsSettings
from .peers import CdrApi, RatingApi
from .suspension import is_yes
from .whmcs import WhmcsClient, fetch_clients
from .whmcs_settings import client_from, field_ids, load_settings

log = structlog.get_logger(__name__)
SYNC_POLL_SECONDS = 1.0
AUTOSUSPEND_CHUNK = 500
"""Clients whose WHMCS details are fetched in parallel before their decisions are made."""
RUN_LOCK_SECONDS = 300
"""How long a run lock lives without a heartbeat (renewed before every claim and posting); a worker
killed mid-run frees its run after this at most. Above a read with all its retries (4 x 30 s)."""


class RunBusy(TollgateError):
    """Another worker holds this run; raising lets RQ retry once it is done."""

    code = "run_busy"


class RunIncomplete(TollgateError):
    """Some postings of a run are unresolved or failed; raising lets RQ retry the run later."""

    code = "run_incomplete"


def queue_job(queue: str, func_path: str, *args: Any, job_id: str | None = None) -> Any:
    """Enqueue on the running app's Redis; the shape evaluate.Enqueue expects."""
    job, _created = enqueue(get_redis(), queue, func_path, *args, job_id=job_id)
    return job


def whmcs_client() -> WhmcsClient:
    """The WHMCS client built from the saved settings."""
    with get_db().session() as session:
        row = load_settings(session)
    config = settings()
    return client_from(row, timeout=config.whmcs_timeout_seconds, read_retries=config.whmcs_read_retries)


def cdr_api() -> CdrApi:
    """cdr-service, reached with the internal token."""
    config = settings()
    return CdrApi(ServiceClient("cdr-service", config.cdr_url, config.internal_token))


def rating_api() -> RatingApi:
    """rating-service, reached with the internal token."""
    config = settings()
    return RatingApi(ServiceClient("rating-service", config.rating_url, config.internal_token))


def wait_for_cdr_sync(run_key: str) -> str:
    """Trigger the CDR sync of every server for this run and wait for it, up to `cdr_sync_wait_seconds`."""
    job = queue_job("cdr", "cdr_service.jobs.sync_all", run_key, job_id=f"cdr-sync:{run_key}")
    deadline = time.monotonic() + settings().cdr_sync_wait_seconds
    while True:
        status = fetch_job(get_redis(), job.id).get_status(refresh=True)
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            return str(status.value)
        if time.monotonic() >= deadline:
            # Charge what is already rated; calls still syncing are charged by the next run.
            return f"not finished after {settings().cdr_sync_wait_seconds} s"
        time.sleep(SYNC_POLL_SECONDS)


@contextlib.contextmanager
def run_lock(run_key: str) -> Iterator[Any]:
    """Hold the Redis lock of a run for this worker, or raise RunBusy when another worker has it."""
    lock = get_redis().lock(f"balance:autobill:{run_key}", timeout=RUN_LOCK_SECONDS)
    if not lock.acquire(blocking=False):
        raise RunBusy(f"run {run_key} is being worked on by another worker; retrying later")
    try:
        yield lock
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def charge_run(run_key: str, mode: str, now: dt.datetime, notes: dict[str, Any]) -> dict[str, Any]:
    """Run or resume one run key under its lock, then queue the evaluation of each client it charged."""
    with run_lock(run_key) as lock:
        report = run_autobill(
            get_db(), whmcs_client(), cdr_api(), rating_api(), run_key, mode, now, notes=notes, heartbeat=lock.reacquire
        )
    for client_id in report.get("clients", []):
        # No job id: an evaluation is idempotent, and a resumed run must re-evaluate after its late postings.
        queue_job("balance", "balance_service.jobs.evaluate_client", client_id, f"autobill {run_key}")
    return report


def autobill(run_key: str, mode: str) -> dict[str, Any]:
    """Finish earlier unfinished runs, sync CDRs, charge every in-scope service once for `run_key`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    # The gateway passes its job key (`autobill:daily:<date>`); the run key is the billing-rules one.
    run_key = run_key.removeprefix("autobill:")
    now = dt.datetime.now(dt.UTC)
    resumed = []
    for earlier_key, earlier_mode in unfinished_runs(get_db(), exclude=run_key):
        # A worker killed mid-run leaves charges recorded but not posted; the next run finishes them first.
        try:
            earlier = charge_run(earlier_key, earlier_mode, now, {})
            resumed.append(
                {"run_key": earlier_key, "unresolved": earlier["unresolved"], "failures": earlier["failures"]}
            )
        except TollgateError as exc:
            resumed.append({"run_key": earlier_key, "error": exc.message})
    report = charge_run(run_key, mode, now, {"cdr_sync": wait_for_cdr_sync(run_key), "resumed_runs": resumed})
    if mode == "daily":
        queue_job(
            "balance", "balance_service.jobs.sync_clients", now.date().isoformat(), job_id=f"client-sync:{now.date()}"
        )
    if report.get("unresolved") or report.get("failures"):
        raise RunIncomplete(f"run {run_key}: {len(report['unresolved'])} unresolved, {len(report['failures'])} failed")
    return report


def evaluate_one(
    whmcs: WhmcsClient,
    client_id: int,
    actor: str,
    *,
    row: WhmcsSettings | None = None,
    cdr: CdrApi | None = None,
    **reads: Any,
) -> Evaluation:
    """Evaluate one client with the app's settings, cdr-service and Redis; `reads` are prefetched WHMCS data."""
    if row is None:
        with get_db().session() as session:
            row = load_settings(session)
    peers = cdr or cdr_api()
    return evaluate(
        get_db(),
        whmcs,
        row,
        client_id,
        actor=actor,
        services_of=lambda cid: peers.services(client_id=cid),
        enqueue=queue_job,
        today=dt.datetime.now(dt.UTC).date(),
        reminders=settings().low_balance_reminders,
        **reads,
    )


def evaluate_client(client_id: int, reason: str) -> dict[str, Any]:
    """Refresh one client from WHMCS and apply suspension and low-balance rules at once."""
    result = evaluate_one(whmcs_client(), int(client_id), reason)
    return result.__dict__


def autosuspend(run_key: str) -> dict[str, Any]:
    """Evaluate every client whose Has VoIP Service is Yes; one client's failure does not stop the others.

    Unpaid invoices are listed once for everyone and client details are read in parallel chunks;
    the decisions themselves run one client at a time.
    """
    whmcs = whmcs_client()
    config = settings()
    today = dt.datetime.now(dt.UTC).date().isoformat()
    # Clients are found through the mirror, so make sure it is fully synced once a day.
    queue_job("balance", "balance_service.jobs.sync_clients", today, job_id=f"client-sync:{today}")
    currencies = whmcs.get_currencies()
    owed = whmcs.outstanding_by_client()
    with get_db().session() as session:
        row = load_settings(session)
        has_voip = field_ids(row).get("has_voip")
        clients = [
            c.client_id
            for c in session.scalars(select(Client).order_by(Client.client_id))
            if has_voip is not None and is_yes(c.custom_fields.get(str(has_voip)))
        ]
    cdr = cdr_api()

    def make_client() -> WhmcsClient:
        return client_from(row, timeout=config.whmcs_timeout_seconds, read_retries=config.whmcs_read_retries)

    changed, errors = [], []
    for start in range(0, len(clients), AUTOSUSPEND_CHUNK):
        chunk = clients[start : start + AUTOSUSPEND_CHUNK]
        fetched = fetch_clients(make_client, chunk, config.whmcs_concurrency)
        for client_id in chunk:
            details = fetched[client_id]
            try:
                if isinstance(details, Exception):
                    raise details
                result = evaluate_one(
                    whmcs,
                    client_id,
                    f"autosuspend {run_key}",
                    row=row,
                    cdr=cdr,
                    currencies=currencies,
                    details=details,
                    outstanding=owed.get(client_id, Decimal(0)),
                )
            except TollgateError as exc:
                errors.append({"client_id": client_id, "error": exc.message})
                continue
            if result.changed:
                changed.append({"client_id": client_id, "voip_state": result.voip_state, "reason": result.reason})
        report_progress(start + len(chunk), len(clients), "clients evaluated")
    return {"run_key": run_key, "evaluated": len(clients), "changed": changed, "errors": errors}


def sync_clients(day: str) -> dict[str, Any]:
    """Refresh every WHMCS client into the mirror (the daily full sync)."""
    whmcs = whmcs_client()
    currencies = whmcs.get_currencies()
    synced = 0
    for client_id in whmcs.iter_client_ids():
        with get_db().session() as session:
            refresh_client(session, whmcs, client_id, currencies)
        synced += 1
        if synced % 100 == 0:
            report_progress(synced, None, "clients synced")
    log.info("clients_synced", day=day, synced=synced)
    return {"day": day, "synced": synced}


def payment_event(event: str, client_id: int | None, invoice_id: int | None) -> dict[str, Any]:
    """Re-evaluate the client behind a WHMCS payment event (the invoice tells which client when not given)."""
    whmcs = whmcs_client()
    if client_id is None:
        reply = whmcs.call("GetInvoice", write=False, invoiceid=invoice_id)
        client_id = int(reply["userid"])
    return evaluate_one(whmcs, int(client_id), f"whmcs {event}").__dict__
