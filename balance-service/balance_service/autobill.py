"""An autobill run (billing-rules §5): claim each service's rated calls, record charges, post per client."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tollgate_common.db import Database

from .ledger import PREPAID, charge_reference, money_text, record_charge
from .models import Charge, ClaimIntent, Posting, Run, utcnow
from .peers import CdrApi, RatingApi
from .posting import ClientOutcome, Poster
from .whmcs import WhmcsClient, map_concurrently

MODES = ("daily", "frequent")
FINISHED = "finished"
INCOMPLETE = "incomplete"


def open_run(db: Database, run_key: str, mode: str, now: dt.datetime) -> tuple[int, bool]:
    """Return (run id, already finished); the first call for a key fixes its cut-off time for every rerun."""
    with db.session() as session:
        run = session.scalar(select(Run).where(Run.run_key == run_key))
        if run is not None:
            return run.id, run.status == FINISHED
    try:
        with db.session() as session:
            run = Run(run_key=run_key, mode=mode, cutoff=now)
            session.add(run)
            session.flush()
            return run.id, False
    except IntegrityError:
        # Two triggers raced to open the same key; the other one won and its run is ours too.
        with db.session() as session:
            run = session.scalar(select(Run).where(Run.run_key == run_key))
            return run.id, run.status == FINISHED


def fix_scope(db: Database, cdr: CdrApi, rating: RatingApi, run_id: int, mode: str, cutoff: dt.datetime) -> list:
    """Fix, in one transaction on the first attempt, which services the run charges; return those skipped.

    A resumed run keeps that set: calls that arrive later wait for the next run instead of reaching a
    client whose postings are already made.
    """
    with db.session() as session:
        run = session.get(Run, run_id)
        if run.report.get("scope_fixed"):
            return list(run.report.get("skipped", []))
        skipped = []
        for row in cdr.billable(cutoff):
            package = rating.package_for(int(row["product_id"]))
            if package is None:
                skipped.append({"service_id": row["service_id"], "reason": "no package for the product"})
            elif in_scope(package, mode):
                mode_of_billing = package.get("billing_mode") or PREPAID
                session.add(
                    ClaimIntent(
                        run_id=run_id,
                        service_id=int(row["service_id"]),
                        client_id=int(row["client_id"]),
                        billing_mode=mode_of_billing,
                    )
                )
        run.report = {**run.report, "scope_fixed": True, "skipped": skipped}
        return skipped


def unclaimed_intents(db: Database, run_id: int) -> list[ClaimIntent]:
    """Intents of a run that have no charge yet."""
    with db.session() as session:
        charged = select(Charge.service_id).where(Charge.run_id == run_id)
        return list(
            session.scalars(
                select(ClaimIntent)
                .where(ClaimIntent.run_id == run_id, ClaimIntent.service_id.not_in(charged))
                .order_by(ClaimIntent.service_id)
            )
        )


def unfinished_runs(db: Database, exclude: str) -> list[tuple[str, str]]:
    """(run key, mode) of every run not finished, oldest first, except `exclude`."""
    with db.session() as session:
        rows = session.execute(
            select(Run.run_key, Run.mode).where(Run.status != FINISHED, Run.run_key != exclude).order_by(Run.id)
        ).all()
        return [(key, mode) for key, mode in rows]


def in_scope(package: dict[str, Any] | None, mode: str) -> bool:
    """Realtime packages belong to the frequent run, all others to the daily run."""
    return package is not None and bool(package.get("realtime")) == (mode == "frequent")


def run_autobill(
    db: Database,
    whmcs: WhmcsClient,
    cdr: CdrApi,
    rating: RatingApi,
    run_key: str,
    mode: str,
    now: dt.datetime,
    notes: dict[str, Any] | None = None,
    heartbeat: Callable[[], None] = lambda: None,
    claim_concurrency: int = 1,
    post_concurrency: int = 1,
) -> dict[str, Any]:
    """Charge every in-scope service once for this run key and return the run report.

    A finished run is returned as it is; an unfinished one (crash, lost reply) resumes where it stopped.
    `heartbeat` is called before each claim and each WHMCS write, so the caller can keep its run lock alive
    (from the pool threads when `claim_concurrency` / `post_concurrency` run services and clients in parallel).
    """
    run_id, finished = open_run(db, run_key, mode, now)
    if finished:
        with db.session() as session:
            return dict(session.get(Run, run_id).report)
    with db.session() as session:
        run = session.get(Run, run_id)
        cutoff = run.cutoff
    report: dict[str, Any] = {"run_key": run_key, "mode": mode, "cutoff": cutoff.isoformat(), "scope_fixed": True}
    report["skipped"] = fix_scope(db, cdr, rating, run_id, mode, cutoff)
    # Claim every intent without a charge, including those a crashed attempt claimed but never recorded.
    claim_all(db, cdr, run_id, run_key, cutoff, unclaimed_intents(db, run_id), claim_concurrency, heartbeat)
    with db.session() as session:
        clients = sorted(set(session.scalars(select(Charge.client_id).where(Charge.run_id == run_id))))
    posted: dict[str, Decimal] = defaultdict(Decimal)
    unresolved: list[str] = []
    failures: list[str] = []
    for outcome in post_clients(db, whmcs, run_id, clients, now.date(), post_concurrency, heartbeat):
        for kind, amount in outcome.posted.items():
            posted[kind] += amount
        unresolved.extend(outcome.unresolved)
        failures.extend(outcome.errors)
    report.update(summarise(db, run_id))
    report.update(
        clients=clients,
        posted={kind: money_text(amount) for kind, amount in sorted(posted.items())},
        unresolved=unresolved,
        failures=failures,
    )
    report.update(notes or {})
    # Every call still unrated and every row quarantined so far, whatever its age: they stay listed
    # until rated or dealt with, including what this run's own sync quarantined after the cutoff.
    report.update(cdr_report=cdr.report(utcnow()), open_postings=open_postings(db, run_id))
    with db.session() as session:
        run = session.get(Run, run_id)
        run.report = report
        run.status = INCOMPLETE if unresolved or failures else FINISHED
        run.finished_at = utcnow() if run.status == FINISHED else None
    return report


def claim_all(
    db: Database,
    cdr: CdrApi,
    run_id: int,
    run_key: str,
    cutoff: dt.datetime,
    intents: list[ClaimIntent],
    concurrency: int,
    heartbeat: Callable[[], None],
) -> None:
    """Claim each intent's calls and record its charge, up to `concurrency` services at a time.

    Services are independent (their own calls, carry and charge row) and a claim is idempotent by its
    reference, so an attempt that dies mid-way is finished by the resume exactly as a serial one.
    """

    def claim_one(intent: ClaimIntent) -> None:
        heartbeat()
        claim = cdr.claim(intent.service_id, charge_reference(run_key, intent.service_id), cutoff)
        with db.session() as session:
            record_charge(session, session.get(Run, run_id), claim, intent.client_id, intent.billing_mode)

    if concurrency <= 1:
        for intent in intents:
            claim_one(intent)
        return
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="claim") as pool:
        # list() re-raises the first failure once the pool has finished the others.
        list(pool.map(claim_one, intents))


def post_clients(
    db: Database,
    whmcs: WhmcsClient,
    run_id: int,
    clients: list[int],
    today: dt.date,
    concurrency: int,
    heartbeat: Callable[[], None],
) -> list[ClientOutcome]:
    """Post each client's charges, up to `concurrency` clients at a time (one client's postings stay in order)."""
    if concurrency <= 1:
        return [Poster(db, whmcs, run_id, client_id, today, heartbeat).post() for client_id in clients]

    def make_client() -> WhmcsClient:
        return WhmcsClient(whmcs.credentials, timeout=whmcs.timeout, read_retries=whmcs.read_retries)

    def post_one(client_id: int, client: WhmcsClient) -> ClientOutcome:
        return Poster(db, client, run_id, client_id, today, heartbeat).post()

    return map_concurrently(post_one, clients, make_client, concurrency)


def open_postings(db: Database, run_id: int) -> list[dict[str, Any]]:
    """A run's postings not yet confirmed in WHMCS, with the id an admin resolves them by."""
    with db.session() as session:
        rows = session.scalars(
            select(Posting).where(Posting.run_id == run_id, Posting.status.not_in(("posted", "skipped")))
        )
        return [
            {
                "id": p.id,
                "reference": p.reference,
                "kind": p.kind,
                "amount": money_text(p.amount),
                "status": p.status,
                "error": p.error,
            }
            for p in rows
        ]


def summarise(db: Database, run_id: int) -> dict[str, Any]:
    """Totals over a run's charges: how many, how many calls, rated and posted amounts."""
    with db.session() as session:
        charges = session.scalars(select(Charge).where(Charge.run_id == run_id)).all()
        return {
            "charges": len(charges),
            "calls": sum(charge.calls for charge in charges),
            "rated": money_text(sum((c.usage + c.adjustment for c in charges), Decimal(0))),
            "charged": money_text(sum((c.posted_amount for c in charges), Decimal(0))),
        }
