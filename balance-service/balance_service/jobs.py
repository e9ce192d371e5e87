"""RQ jobs on the `balance` queue: autobill, autosuspend, client evaluation and the daily client sync."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
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
from .evaluate import Evaluation, evaluate_chunk
from .evaluate import evaluate_client as evaluate
from .exceptions import WhmcsError
from .mirror import refresh_client
from .models import Client, WhmcsSettings, utcnow
from .peers import CdrApi, RatingApi
from .suspension import is_yes
from .whmcs import WhmcsClient, fetch_clients, map_concurrently
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


def wait_for_cdr_sync(run_key: str) -> dict[str, Any]:
    """Trigger the CDR sync of every server for this run and wait for it, up to `cdr_sync_wait_seconds`.

    Returns the report notes: the sync's outcome and, per server, why a server could not be synced
    (its calls are charged by a later run, and the operator must see that it is behind).
    """
    job = queue_job("cdr", "cdr_service.jobs.sync_all", run_key, job_id=f"cdr-sync:{run_key}")
    deadline = time.monotonic() + settings().cdr_sync_wait_seconds
    while True:
        job = fetch_job(get_redis(), job.id)
        status = job.get_status(refresh=True)
        if status in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED):
            result = job.return_value() if status == JobStatus.FINISHED else None
            failures = (result or {}).get("failures") or {}
            return {"cdr_sync": str(status.value), "cdr_sync_failures": failures}
        if time.monotonic() >= deadline:
            # Charge what is already rated; calls still syncing are charged by the next run.
            return {"cdr_sync": f"not finished after {settings().cdr_sync_wait_seconds} s", "cdr_sync_failures": {}}
        time.sleep(SYNC_POLL_SECONDS)


@contextlib.contextmanager
def run_lock(run_key: str) -> Iterator[Any]:
    """Hold the Redis lock of a run for this worker, or raise RunBusy when another worker has it."""
    # Not thread-local: the run's claim and posting threads renew it too.
    lock = get_redis().lock(f"balance:autobill:{run_key}", timeout=RUN_LOCK_SECONDS, thread_local=False)
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
            get_db(),
            whmcs_client(),
            cdr_api(),
            rating_api(),
            run_key,
            mode,
            now,
            notes=notes,
            heartbeat=lock.reacquire,
            claim_concurrency=settings().claim_concurrency,
            post_concurrency=settings().whmcs_concurrency,
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
    report = charge_run(run_key, mode, now, {**wait_for_cdr_sync(run_key), "resumed_runs": resumed})
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

    Unpaid invoices are listed once for everyone; client details are read in parallel chunks, each
    chunk decided in one transaction (a savepoint per client) and written back to WHMCS in parallel.
    """
    whmcs = whmcs_client()
    config = settings()
    today = dt.datetime.now(dt.UTC).date()
    # Clients are found through the mirror, so make sure it is fully synced once a day.
    queue_job("balance", "balance_service.jobs.sync_clients", today.isoformat(), job_id=f"client-sync:{today}")
    read_at = utcnow()
    currencies = whmcs.get_currencies()
    owed = whmcs.outstanding_by_client()
    with get_db().session() as session:
        row = load_settings(session)
        has_voip = field_ids(row).get("has_voip")
        clients = (
            [
                client_id
                for client_id, fields in session.execute(
                    select(Client.client_id, Client.custom_fields).order_by(Client.client_id)
                )
                if is_yes((fields or {}).get(str(has_voip)))
            ]
            if has_voip is not None
            else []
        )
    cdr = cdr_api()

    def make_client() -> WhmcsClient:
        return client_from(row, timeout=config.whmcs_timeout_seconds, read_retries=config.whmcs_read_retries)

    changed, errors = [], []
    chunks = [clients[start : start + AUTOSUSPEND_CHUNK] for start in range(0, len(clients), AUTOSUSPEND_CHUNK)]
    done = 0
    for chunk, fetched in prefetched(chunks, lambda ids: fetch_clients(make_client, ids, config.whmcs_concurrency)):
        results, chunk_errors = evaluate_chunk(
            get_db(),
            whmcs,
            row,
            dict(fetched),
            owed=owed,
            read_at=read_at,
            actor=f"autosuspend {run_key}",
            services_of=lambda cid: cdr.services(client_id=cid),
            enqueue=queue_job,
            today=today,
            reminders=config.low_balance_reminders,
            currencies=currencies,
            concurrency=config.whmcs_concurrency,
            make_client=make_client,
        )
        errors.extend(chunk_errors)
        changed.extend(
            {"client_id": r.client_id, "voip_state": r.voip_state, "reason": r.reason} for r in results if r.changed
        )
        done += len(chunk)
        report_progress(done, len(clients), "clients evaluated")
    return {"run_key": run_key, "evaluated": len(clients), "changed": changed, "errors": errors}


def prefetched(
    chunks: list[list[int]], fetch: Callable[[list[int]], dict[int, Any]]
) -> Iterator[tuple[list[int], Any]]:
    """Yield (chunk, fetch(chunk)) in order while the next chunk is already being fetched in the background."""
    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch") as pool:
        pending = pool.submit(fetch, chunks[0])
        for number, chunk in enumerate(chunks):
            fetched = pending.result()
            if number + 1 < len(chunks):
                pending = pool.submit(fetch, chunks[number + 1])
            yield chunk, fetched


def sync_clients(day: str) -> dict[str, Any]:
    """Refresh every WHMCS client into the mirror (the daily full sync), in chunks read in parallel.

    GetClients pages give the ids; details and services are read over `whmcs_concurrency` connections and
    unpaid invoices once for everyone. A client refreshed after these reads began (a payment event, an
    evaluation) keeps its fresher row; a client WHMCS fails to answer is reported and the rest proceed.
    """
    whmcs = whmcs_client()
    config = settings()
    with get_db().session() as session:
        row = load_settings(session)

    def make_client() -> WhmcsClient:
        return client_from(row, timeout=config.whmcs_timeout_seconds, read_retries=config.whmcs_read_retries)

    def read(client_id: int, client: WhmcsClient) -> tuple[dict[str, Any], list[dict[str, Any]]] | WhmcsError:
        try:
            return client.get_client(client_id), client.get_services(client_id)
        except WhmcsError as exc:
            return exc

    read_at = utcnow()
    currencies = whmcs.get_currencies()
    owed = whmcs.outstanding_by_client()
    ids = list(whmcs.iter_client_ids())
    synced, errors = 0, []
    for start in range(0, len(ids), AUTOSUSPEND_CHUNK):
        chunk = ids[start : start + AUTOSUSPEND_CHUNK]
        fetched = map_concurrently(read, chunk, make_client, config.whmcs_concurrency)
        with get_db().session() as session:
            rows = session.scalars(
                select(Client).where(Client.client_id.in_(chunk)).order_by(Client.client_id).with_for_update()
            )
            locked = {client.client_id: client for client in rows}
            for client_id, got in zip(chunk, fetched, strict=True):
                if isinstance(got, WhmcsError):
                    errors.append({"client_id": client_id, "error": got.message})
                    continue
                mirrored = locked.get(client_id)
                if mirrored is not None and mirrored.synced_at is not None and mirrored.synced_at >= read_at:
                    continue
                details, services = got
                refresh_client(
                    session,
                    whmcs,
                    client_id,
                    currencies,
                    details=details,
                    outstanding=owed.get(client_id, Decimal(0)),
                    services=services,
                    locked=mirrored,
                )
                synced += 1
        report_progress(start + len(chunk), len(ids), "clients synced")
    log.info("clients_synced", day=day, synced=synced, errors=len(errors))
    return {"day": day, "synced": synced, "errors": errors}


def payment_event(event: str, client_id: int | None, invoice_id: int | None) -> dict[str, Any]:
    """Re-evaluate the client behind a WHMCS payment event (the invoice tells which client when not given)."""
    whmcs = whmcs_client()
    if client_id is None:
        reply = whmcs.call("GetInvoice", write=False, invoiceid=invoice_id)
        client_id = int(reply["userid"])
    return evaluate_one(whmcs, int(client_id), f"whmcs {event}").__dict__
