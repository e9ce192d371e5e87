"""Posting charges to WHMCS exactly once (billing-rules §5).

Each write is first recorded as a `Posting` (planned), marked `posting` just before it is sent and
`posted` after WHMCS confirms it. A posting left `posting` or `unverified` (crash, lost reply) is
looked up in WHMCS by its reference before anything is sent again.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tollgate_common.db import MAX_INTEGER_ID, Database
from tollgate_common.errors import Conflict, NotFound
from tollgate_common.money import lenient_decimal, money_str

from .exceptions import InsufficientCredit, WhmcsActionError, WhmcsOutcomeUnknown, WhmcsUnavailable
from .ledger import POSTPAID, PREPAID, charge_description, marker
from .models import Charge, Posting, Run
from .whmcs import WhmcsClient

CREDIT_ADD = "credit_add"
CREDIT_REMOVE = "credit_remove"
INVOICE = "invoice"
BILLABLE_ITEM = "billable_item"
EXECUTION_ORDER = {CREDIT_ADD: 0, CREDIT_REMOVE: 1, BILLABLE_ITEM: 2, INVOICE: 3}
"""Refunds first (they raise the credit removals can use), the invoice last (it takes what credit could not)."""

PLANNED, SENDING, POSTED, UNVERIFIED, SKIPPED = "planned", "posting", "posted", "unverified", "skipped"
SHORTFALL_ATTEMPTS = 3
IN_FLIGHT_MARGIN_SECONDS = 1.0
"""Added to the WHMCS timeout: how long after being marked `posting` a send can still land."""


@dataclass
class ClientOutcome:
    """What posting one client's charges achieved: totals per kind and postings still unresolved."""

    client_id: int
    posted: dict[str, Decimal] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def invoice_reference(run_key: str, client_id: int) -> str:
    """The reference of a client's invoice posting in a run."""
    return f"{run_key}:client:{client_id}"


def plan_postings(run: Run, client_id: int, charges: list[Charge], credit: Decimal) -> list[Posting]:
    """Split a client's charges into WHMCS writes: credit removals up to the credit, one invoice for the rest.

    Postpaid charges become billable items for the next invoice; a negative charge (rerating in the
    client's favour) is given back as credit.
    """
    available = credit + sum((-c.posted_amount for c in charges if c.posted_amount < 0), Decimal(0))
    postings: list[Posting] = []
    invoice_lines: list[dict[str, Any]] = []
    for charge in sorted(charges, key=lambda c: c.service_id):
        amount = charge.posted_amount
        description = charge_description(charge, run.cutoff)
        if amount == 0:
            continue
        if amount < 0:
            postings.append(_posting(run, client_id, CREDIT_ADD, charge.reference, -amount))
        elif charge.billing_mode == POSTPAID:
            postings.append(_posting(run, client_id, BILLABLE_ITEM, charge.reference, amount))
        else:
            take = min(amount, max(available, Decimal(0)))
            available -= take
            if take > 0:
                postings.append(_posting(run, client_id, CREDIT_REMOVE, charge.reference, take))
            if amount > take:
                invoice_lines.append(_invoice_line(charge, description, amount - take))
    if invoice_lines:
        invoice = _posting(run, client_id, INVOICE, invoice_reference(run.run_key, client_id), sum_lines(invoice_lines))
        invoice.lines = invoice_lines
        postings.append(invoice)
    return postings


def sum_lines(lines: list[dict[str, Any]]) -> Decimal:
    """Total of an invoice posting's lines."""
    return sum((Decimal(line["amount"]) for line in lines), Decimal(0))


def add_to_line(lines: list[dict[str, Any]], line: dict[str, Any]) -> list[dict[str, Any]]:
    """Add `line` to an invoice's lines, merging it into the same charge's line: one line per service."""
    merged, found = [], False
    for existing in lines:
        if existing["charge_reference"] == line["charge_reference"]:
            existing = {**existing, "amount": money_str(Decimal(existing["amount"]) + Decimal(line["amount"]))}
            found = True
        merged.append(existing)
    return merged if found else [*merged, line]


def _invoice_line(charge: Charge, description: str, amount: Decimal) -> dict[str, Any]:
    return {
        "charge_reference": charge.reference,
        "service_id": charge.service_id,
        "description": description,
        "amount": money_str(amount),
    }


def _posting(run: Run, client_id: int, kind: str, reference: str, amount: Decimal) -> Posting:
    return Posting(run_id=run.id, client_id=client_id, kind=kind, reference=reference, amount=amount, status=PLANNED)


class Poster:
    """Posts one run's charges for one client, resuming whatever an earlier attempt left."""

    def __init__(
        self,
        db: Database,
        whmcs: WhmcsClient,
        run_id: int,
        client_id: int,
        today: dt.date,
        heartbeat: Callable[[], None] = lambda: None,
    ):
        self.db = db
        self.heartbeat = heartbeat
        self.whmcs = whmcs
        self.run_id = run_id
        self.client_id = client_id
        self.today = today
        self.outcome = ClientOutcome(client_id)

    def post(self) -> ClientOutcome:
        """Plan (once) and execute the client's postings; never sends a posting WHMCS may already have."""
        planned = self._ensure_plan()
        for posting_id in planned:
            self._execute(posting_id)
        # A credit shortfall found while sending may have added the invoice after planning.
        for posting_id in self._ensure_plan():
            if posting_id not in planned:
                self._execute(posting_id)
        return self.outcome

    def _ensure_plan(self) -> list[int]:
        with self.db.session() as session:
            existing = session.scalars(
                select(Posting).where(Posting.run_id == self.run_id, Posting.client_id == self.client_id)
            ).all()
            if not existing:
                run = session.get(Run, self.run_id)
                charges = session.scalars(
                    select(Charge).where(Charge.run_id == self.run_id, Charge.client_id == self.client_id)
                ).all()
                needs_credit = any(c.billing_mode == PREPAID and c.posted_amount > 0 for c in charges)
                credit = lenient_decimal(self.whmcs.get_client(self.client_id).get("credit")) if needs_credit else 0
                existing = plan_postings(run, self.client_id, list(charges), Decimal(credit))
                session.add_all(existing)
                session.flush()
            ordered = sorted(existing, key=lambda p: (EXECUTION_ORDER[p.kind], p.id))
            return [p.id for p in ordered]

    def _execute(self, posting_id: int) -> None:
        self.heartbeat()
        with self.db.session() as session:
            posting = session.get(Posting, posting_id)
            status, kind, reference = posting.status, posting.kind, posting.reference
            marked_at = posting.updated_at
        if status in (POSTED, SKIPPED):
            self._count(posting_id)
            return
        if status == SENDING:
            self._wait_out_in_flight(marked_at)
        if status in (SENDING, UNVERIFIED):
            found = self._look_up(posting_id)
            if found is not None:
                self._finish(posting_id, POSTED, whmcs_id=found)
                return
            if kind == BILLABLE_ITEM:
                # WHMCS has no API to list billable items: an admin checks the client and resolves it.
                self._finish(posting_id, UNVERIFIED, error="outcome unknown; WHMCS cannot list billable items")
                self.outcome.unresolved.append(reference)
                return
        for _ in range(SHORTFALL_ATTEMPTS):
            try:
                self._send(posting_id)
                return
            except InsufficientCredit:
                if not self._move_shortfall_to_invoice(posting_id):
                    return
        self.outcome.errors.append(f"{reference}: credit kept changing while posting")

    def _wait_out_in_flight(self, marked_at: dt.datetime) -> None:
        """Give a send that an earlier attempt may still have in flight time to land before looking it up.

        A resume normally comes long after the attempt it resumes (its lock must expire first). After a
        Redis restart the run lock is gone, so a new attempt can start while the old one's call is still
        running; a look-up before that call's timeout has passed could miss it and send it twice.
        """
        ends = marked_at + dt.timedelta(seconds=self.whmcs.timeout + IN_FLIGHT_MARGIN_SECONDS)
        while (left := (ends - dt.datetime.now(dt.UTC)).total_seconds()) > 0:
            time.sleep(min(left, 5.0))
            self.heartbeat()

    def _send(self, posting_id: int) -> None:
        self.heartbeat()
        with self.db.session() as session:
            posting = session.get(Posting, posting_id)
            posting.status = SENDING
            kind, amount, lines, reference = posting.kind, posting.amount, list(posting.lines), posting.reference
            description = self._description(session, posting)
        try:
            if kind in (CREDIT_REMOVE, CREDIT_ADD):
                whmcs_id = None
                self.whmcs.add_credit(self.client_id, amount, description, remove=kind == CREDIT_REMOVE)
            elif kind == BILLABLE_ITEM:
                whmcs_id = self.whmcs.add_billable_item(self.client_id, amount, description)
            else:
                whmcs_id = self.whmcs.create_invoice(
                    self.client_id,
                    [(line["description"], Decimal(line["amount"])) for line in lines],
                    duedate=self.today.isoformat(),
                    notes=f"Tollgate VoIP usage {marker(reference)}",
                )
        except InsufficientCredit:
            raise
        except WhmcsOutcomeUnknown as exc:
            self._finish(posting_id, UNVERIFIED, error=exc.message)
            self.outcome.unresolved.append(reference)
            return
        except (WhmcsActionError, WhmcsUnavailable) as exc:
            # WHMCS refused or was unreachable before anything was applied: safe to try again later.
            self._finish(posting_id, PLANNED, error=exc.message)
            self.outcome.errors.append(f"{reference}: {exc.message}")
            return
        self._finish(posting_id, POSTED, whmcs_id=whmcs_id)

    def _description(self, session: Any, posting: Posting) -> str:
        charge = session.scalar(select(Charge).where(Charge.reference == posting.reference))
        run = session.get(Run, posting.run_id)
        if posting.kind == CREDIT_ADD:
            return f"VoIP usage correction, service #{charge.service_id} {marker(posting.reference)}"
        return charge_description(charge, run.cutoff) if charge is not None else marker(posting.reference)

    def _look_up(self, posting_id: int) -> int | None:
        """Find a posting in WHMCS by its reference marker; return the WHMCS id when it is there."""
        with self.db.session() as session:
            posting = session.get(Posting, posting_id)
            kind, amount, tag = posting.kind, posting.amount, marker(posting.reference)
        if kind in (CREDIT_REMOVE, CREDIT_ADD):
            signed = -amount if kind == CREDIT_REMOVE else amount
            for entry in reversed(self.whmcs.get_credits(self.client_id)):
                if tag in str(entry.get("description", "")) and lenient_decimal(entry.get("amount")) == signed:
                    return int(entry["id"])
            return None
        if kind == INVOICE:
            for invoice in self.whmcs.list_invoices(self.client_id):
                if tag in str(invoice.get("notes", "")):
                    return int(invoice["id"])
        return None

    def _move_shortfall_to_invoice(self, posting_id: int) -> bool:
        """Credit fell since planning: take what is there now and move the rest onto the client's invoice."""
        credit = lenient_decimal(self.whmcs.get_client(self.client_id).get("credit"))
        with self.db.session() as session:
            posting = session.get(Posting, posting_id)
            take = min(posting.amount, max(credit, Decimal(0)))
            shortfall = posting.amount - take
            run = session.get(Run, posting.run_id)
            invoice = session.scalar(
                select(Posting).where(Posting.reference == invoice_reference(run.run_key, self.client_id))
            )
            if invoice is not None and invoice.status != PLANNED:
                posting.status, posting.error = PLANNED, "credit short and the invoice is already posted"
                self.outcome.errors.append(f"{posting.reference}: credit short after the invoice was posted")
                return False
            charge = session.scalar(select(Charge).where(Charge.reference == posting.reference))
            if invoice is None:
                invoice = _posting(
                    run, self.client_id, INVOICE, invoice_reference(run.run_key, self.client_id), Decimal(0)
                )
                invoice.lines = []
                session.add(invoice)
            invoice.lines = add_to_line(
                invoice.lines, _invoice_line(charge, charge_description(charge, run.cutoff), shortfall)
            )
            invoice.amount = sum_lines(invoice.lines)
            posting.amount = take
            posting.status = PLANNED if take > 0 else SKIPPED
        return take > 0

    def _finish(self, posting_id: int, status: str, *, whmcs_id: int | None = None, error: str = "") -> None:
        with self.db.session() as session:
            posting = session.get(Posting, posting_id)
            posting.status = status
            posting.error = error
            if whmcs_id is not None:
                posting.whmcs_id = whmcs_id
        if status == POSTED:
            self._count(posting_id)

    def _count(self, posting_id: int) -> None:
        with self.db.session() as session:
            posting = session.get(Posting, posting_id)
            if posting.status == POSTED:
                self.outcome.posted[posting.kind] = self.outcome.posted.get(posting.kind, Decimal(0)) + posting.amount


def resolve_posting(db: Database, posting_id: int, outcome: str) -> dict[str, Any]:
    """Record an admin's finding for an unverified posting: `posted` (it is in WHMCS) or `not_posted`.

    A `not_posted` posting goes back to planned, so resuming the run sends it once.
    """
    with db.session() as session:
        posting = session.get(Posting, posting_id) if 0 < posting_id <= MAX_INTEGER_ID else None
        if posting is None:
            raise NotFound(f"posting {posting_id} not found")
        if posting.status != UNVERIFIED:
            raise Conflict(f"posting {posting_id} is {posting.status}; only an unverified posting can be resolved")
        posting.status = POSTED if outcome == "posted" else PLANNED
        posting.error = f"resolved by an admin: {outcome}"
        run = session.get(Run, posting.run_id)
        return {"posting_id": posting.id, "status": posting.status, "run_key": run.run_key, "mode": run.mode}
