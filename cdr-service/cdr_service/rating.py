"""Rate stored CDRs in batches through rating-service (contract A) and store each result on its CDR."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, select, update

from tollgate_common.db import Database
from tollgate_common.errors import UpstreamError
from tollgate_common.money import parse_decimal

from .models import Cdr, CostAdjustment, Server, ServiceAssignment
from .periods import local_date, period_containing

RESULT_FIELDS = (
    "billable",
    "reason",
    "visible",
    "number_e164",
    "number_class",
    "prefix",
    "description",
    "rate_source",
    "rate_per_minute",
    "billed_seconds",
    "free_seconds",
    "cost",
    "cost_exact",
    "tariff_version",
    "package_id",
)


class RatingClient(Protocol):
    """What rate_pending needs of a client: a JSON POST (ServiceClient, or a test double)."""

    def post(self, path: str, **kwargs: Any) -> Any:
        """Send a POST and return the JSON body."""


@dataclass(frozen=True)
class ServiceRatingInfo:
    """What rating-service needs about a service besides its calls."""

    service_id: int
    product_id: int
    server_id: int
    timezone: str
    billing_cycle: str
    next_due_date: date | None
    tenant_numbers: tuple[str, ...]
    periods: list[tuple[datetime, datetime, str]] = field(default_factory=list, compare=False)

    def period_start(self, start_at: datetime) -> str:
        """The start date of the billing period holding `start_at`; periods seen before are reused."""
        for begin, end, label in self.periods:
            if begin <= start_at < end:
                return label
        day = local_date(start_at, self.timezone)
        period = period_containing(day, self.next_due_date, self.billing_cycle, self.timezone)
        begin, end = period.bounds_utc()
        self.periods.append((begin, end, period.start.isoformat()))
        return period.start.isoformat()


def service_infos(db: Database, service_ids: Iterable[int] | None = None) -> dict[int, ServiceRatingInfo]:
    """Load rating info for the given services (all when None)."""
    with db.session() as session:
        query = select(ServiceAssignment, Server.timezone).join(Server, Server.id == ServiceAssignment.server_id)
        if service_ids is not None:
            query = query.where(ServiceAssignment.service_id.in_(list(service_ids)))
        infos = {}
        for assignment, server_timezone in session.execute(query).all():
            numbers = list(assignment.extensions or []) + list(assignment.dids or [])
            if assignment.billed_number:
                numbers.append(assignment.billed_number)
            infos[assignment.service_id] = ServiceRatingInfo(
                service_id=assignment.service_id,
                product_id=assignment.product_id,
                server_id=assignment.server_id,
                timezone=assignment.timezone or server_timezone,
                billing_cycle=assignment.billing_cycle,
                next_due_date=assignment.next_due_date,
                tenant_numbers=tuple(dict.fromkeys(numbers)),
            )
        return infos


def rated_number(direction: str, destination: str, caller_destination: str) -> str:
    """The number a call is rated on: the dialled number, or the DID called for inbound calls."""
    if direction == "inbound":
        return caller_destination or destination
    return destination


def other_party(direction: str, caller: str, destination: str) -> str:
    """The raw number on the far side of the call."""
    return caller if direction == "inbound" else destination


def build_requests(rows: Sequence[Any], infos: dict[int, ServiceRatingInfo]) -> list[dict[str, Any]]:
    """Group CDRs (in start order) into rate-batch bodies where each service has a single billing period."""
    requests: list[dict[str, Any]] = []
    current: dict[str, Any] = {"services": {}, "cdrs": []}
    for row in rows:
        info = infos[row.service_id]
        start_at = row.start_at
        period = info.period_start(start_at)
        key = str(row.service_id)
        existing = current["services"].get(key)
        if existing is not None and existing["period"] != period:
            requests.append(current)
            current = {"services": {}, "cdrs": []}
            existing = None
        if existing is None:
            current["services"][key] = {
                "product_id": info.product_id,
                "server_id": info.server_id,
                "period": period,
                "tenant_numbers": list(info.tenant_numbers),
            }
        current["cdrs"].append(
            {
                "id": str(row.id),
                "service_id": key,
                "direction": row.direction,
                "number": rated_number(row.direction, row.destination_number, row.caller_destination),
                "other_party": other_party(row.direction, row.caller_number, row.destination_number),
                "extension": row.extension,
                "billsec": row.billsec,
                "answered": row.billsec > 0,
                "start": start_at.isoformat().replace("+00:00", "Z"),
            }
        )
    if current["cdrs"]:
        requests.append(current)
    return requests


def parse_result(result: dict[str, Any]) -> dict[str, Any]:
    """Turn one rate-batch result into column values; money stays Decimal, a malformed result is an error."""
    try:
        values = {
            "cdr_id": int(result["id"]),
            "billable": bool(result["billable"]),
            "reason": str(result["reason"]),
            "visible": bool(result.get("visible", True)),
            "number_e164": result.get("number_e164"),
            "number_class": result.get("number_class"),
            "prefix": result.get("prefix"),
            "description": (result.get("description") or None) and str(result["description"])[:255],
            "rate_source": result.get("source"),
            "rate_per_minute": optional_money(result.get("rate_per_minute"), "rate_per_minute"),
            "billed_seconds": int(result.get("billed_seconds") or 0),
            "free_seconds": int(result.get("free_seconds") or 0),
            "cost": optional_money(result.get("cost"), "cost") or Decimal(0),
            "cost_exact": optional_money(result.get("cost_exact"), "cost_exact") or Decimal(0),
            "tariff_version": result.get("tariff_version"),
            "package_id": result.get("package_id"),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(f"rating-service returned a malformed result: {exc!r}") from None
    return values


def optional_money(value: Any, field: str) -> Decimal | None:
    """Parse a money string, keeping None for an absent value."""
    return None if value in (None, "") else parse_decimal(value, field)


def pending_query(
    *,
    service_ids: Sequence[int] | None,
    since: datetime | None,
    until: datetime | None,
    only_unrated: bool,
    after_id: int,
) -> Any:
    """Select the CDRs to rate: attributed, unrated (or everything in a rerate window), in start order."""
    conditions = [Cdr.service_id.is_not(None), Cdr.id > after_id]
    if only_unrated:
        conditions.append(Cdr.rated_at.is_(None) | (Cdr.reason == "no_rate"))
    if service_ids is not None:
        conditions.append(Cdr.service_id.in_(list(service_ids)))
    if since is not None:
        conditions.append(Cdr.start_at >= since)
    if until is not None:
        conditions.append(Cdr.start_at < until)
    return select(
        Cdr.id,
        Cdr.service_id,
        Cdr.direction,
        Cdr.destination_number,
        Cdr.caller_destination,
        Cdr.caller_number,
        Cdr.extension,
        Cdr.billsec,
        Cdr.start_at,
    ).where(and_(*conditions))


def rate_pending(
    db: Database,
    client: RatingClient,
    *,
    batch_size: int,
    service_ids: Sequence[int] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    only_unrated: bool = True,
    progress: Callable[[int], None] | None = None,
    after_id: int = 0,
) -> dict[str, int]:
    """Rate CDRs in batches; return counts and `last_id`, the highest CDR id looked at.

    Pass only_unrated=False with a window to rerate a period. Results of one batch are written by a
    helper thread while the next batch is read and sent to rating-service, so the database and
    rating-service work at the same time.
    """
    infos = service_infos(db)
    counts = {"rated": 0, "billable": 0, "unrated": 0, "adjusted": 0, "last_id": after_id}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rating-store") as writer:
        pending_write: Future[int] | None = None
        while True:
            with db.engine.connect() as connection:
                query = pending_query(
                    service_ids=service_ids, since=since, until=until, only_unrated=only_unrated, after_id=after_id
                )
                rows = connection.execute(query.order_by(Cdr.id).limit(batch_size)).all()
            if not rows:
                break
            after_id = counts["last_id"] = rows[-1].id
            rows = sorted((row for row in rows if row.service_id in infos), key=lambda row: (row.start_at, row.id))
            for body in build_requests(rows, infos):
                response = client.post("/internal/rate-batch", json=body)
                results = [parse_result(result) for result in (response or {}).get("results", [])]
                sent = {int(cdr["id"]) for cdr in body["cdrs"]}
                unknown = [result["cdr_id"] for result in results if result["cdr_id"] not in sent]
                if unknown:
                    raise UpstreamError(f"rating-service returned results for CDRs it was not sent: {unknown[:5]}")
                if pending_write is not None:
                    counts["adjusted"] += pending_write.result()
                pending_write = writer.submit(store_results, db, results)
                counts["rated"] += len(results)
                counts["billable"] += sum(1 for result in results if result["billable"])
                counts["unrated"] += sum(1 for result in results if result["reason"] == "no_rate")
            if progress is not None:
                progress(counts["rated"])
        if pending_write is not None:
            counts["adjusted"] += pending_write.result()
    return counts


class RatingAlongside:
    """Rate CDRs in a helper thread while a sync stores them, so storing and rating overlap.

    Use as a context manager around the sync; on exit it rates what is left, then `counts()` gives
    the totals or raises the rating error.
    """

    IDLE_WAIT_SECONDS = 0.2

    def __init__(
        self, db: Database, client: RatingClient, *, batch_size: int, service_ids: Sequence[int] | None = None
    ):
        self.db = db
        self.client = client
        self.batch_size = batch_size
        self.service_ids = list(service_ids) if service_ids is not None else None
        self.totals = {"rated": 0, "billable": 0, "unrated": 0, "adjusted": 0}
        self.error: BaseException | None = None
        self._stored_all = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rating-alongside", daemon=True)

    def __enter__(self) -> RatingAlongside:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stored_all.set()
        self._thread.join()

    def counts(self) -> dict[str, int]:
        """The rating totals, or the error that stopped rating."""
        if self.error is not None:
            raise self.error
        return dict(self.totals)

    def _run(self) -> None:
        after_id = 0
        try:
            while True:
                # a pass that starts after the sync has stored everything is the last one needed
                last_pass = self._stored_all.is_set()
                result = rate_pending(
                    self.db, self.client, batch_size=self.batch_size, service_ids=self.service_ids, after_id=after_id
                )
                after_id = result.pop("last_id")
                for key, value in result.items():
                    self.totals[key] += value
                if last_pass:
                    return
                if result["rated"] == 0:
                    self._stored_all.wait(self.IDLE_WAIT_SECONDS)
        except BaseException as exc:  # handed to the job thread by counts(), so RQ sees it
            self.error = exc


def store_results(db: Database, results: list[dict[str, Any]]) -> int:
    """Write results onto their CDRs; a charged CDR keeps its charge and gets an adjustment for the difference."""
    if not results:
        return 0
    now = datetime.now(UTC)
    with db.engine.begin() as connection:
        ids = [result["cdr_id"] for result in results]
        charged = charged_costs(connection, ids)
        adjustments = []
        for result in results:
            if result["cdr_id"] in charged:
                service_id, already = charged[result["cdr_id"]]
                new_cost = result["cost"] if result["billable"] else Decimal(0)
                if new_cost != already:
                    adjustments.append(
                        {
                            "service_id": service_id,
                            "cdr_id": result["cdr_id"],
                            "amount": new_cost - already,
                            "created_at": now,
                        }
                    )
        if connection.dialect.name == "postgresql":
            copy_update_results(connection, results, now)
        else:
            # executemany SETs every column named in the parameter dicts
            statement = update(Cdr.__table__).where(Cdr.__table__.c.id == bindparam("cdr_id"))
            connection.execute(statement, [{**result, "rated_at": now} for result in results])
        if adjustments:
            connection.execute(CostAdjustment.__table__.insert(), adjustments)
    return len(adjustments)


RESULT_TEMP_COLUMNS = (
    ("cdr_id", "bigint"),
    ("billable", "boolean"),
    ("reason", "text"),
    ("visible", "boolean"),
    ("number_e164", "text"),
    ("number_class", "text"),
    ("prefix", "text"),
    ("description", "text"),
    ("rate_source", "text"),
    ("rate_per_minute", "numeric"),
    ("billed_seconds", "integer"),
    ("free_seconds", "integer"),
    ("cost", "numeric"),
    ("cost_exact", "numeric"),
    ("tariff_version", "integer"),
    ("package_id", "integer"),
)


def copy_update_results(connection: Connection, results: list[dict[str, Any]], now: datetime) -> None:
    """COPY results into a temp table and update cdrs from it in one statement (PostgreSQL)."""
    names = [name for name, _ in RESULT_TEMP_COLUMNS]
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        columns = ", ".join(f"{name} {kind}" for name, kind in RESULT_TEMP_COLUMNS)
        cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS cdr_rating_import ({columns})")
        cursor.execute("TRUNCATE cdr_rating_import")
        with cursor.copy(f"COPY cdr_rating_import ({', '.join(names)}) FROM STDIN") as copy:
            for result in results:
                copy.write_row([result[name] for name in names])
        # without statistics the planner may hash-join against the whole cdrs table
        cursor.execute("ANALYZE cdr_rating_import")
        assignments = ", ".join(f"{name} = t.{name}" for name in RESULT_FIELDS)
        ids = [result["cdr_id"] for result in results]
        # the id range keeps a merge join from walking the primary key from its first row
        cursor.execute(
            f"UPDATE cdrs SET rated_at = %s, {assignments} FROM cdr_rating_import t"
            " WHERE cdrs.id = t.cdr_id AND cdrs.id BETWEEN %s AND %s",
            (now, min(ids), max(ids)),
        )


def charged_costs(connection: Connection, ids: list[int]) -> dict[int, tuple[int, Decimal]]:
    """For the claimed CDRs among `ids`: (service, what the client has been charged so far, adjustments included)."""
    wanted = set(ids)
    # a range scan on the primary key instead of a 5,000-item IN list, which is slow to build and plan
    rows = [
        row
        for row in connection.execute(
            select(Cdr.id, Cdr.service_id, Cdr.charged_cost).where(
                Cdr.id.between(min(ids), max(ids)), Cdr.claim_id.is_not(None)
            )
        ).all()
        if row.id in wanted
    ]
    if not rows:
        return {}
    adjusted: dict[int, Decimal] = {}
    # summed here, not in SQL: SQLite stores money as text and would sum it as floats
    for cdr_id, amount in connection.execute(
        select(CostAdjustment.cdr_id, CostAdjustment.amount).where(CostAdjustment.cdr_id.in_([row.id for row in rows]))
    ).all():
        adjusted[cdr_id] = adjusted.get(cdr_id, Decimal(0)) + amount
    return {
        row.id: (row.service_id, (row.charged_cost or Decimal(0)) + adjusted.get(row.id, Decimal(0))) for row in rows
    }
