"""Rate stored CDRs in batches through rating-service (contract A) and store each result on its CDR."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import Connection, and_, bindparam, select, update

from tollgate_common.db import Database
from tollgate_common.errors import UpstreamError
from tollgate_common.money import parse_decimal

from .models import Cdr, CostAdjustment, Server, ServiceAssignment
from .periods import local_date, period_containing
from .store import as_utc

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
    def post(self, path: str, **kwargs: Any) -> Any: ...


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

    def period_start(self, start_at: datetime) -> str:
        day = local_date(start_at, self.timezone)
        return period_containing(day, self.next_due_date, self.billing_cycle, self.timezone).start.isoformat()


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
        start_at = as_utc(row.start_at)
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
) -> dict[str, int]:
    """Rate CDRs in batches; return counts. Pass only_unrated=False with a window to rerate a period."""
    infos = service_infos(db)
    counts = {"rated": 0, "billable": 0, "unrated": 0, "adjusted": 0}
    after_id = 0
    while True:
        with db.engine.connect() as connection:
            query = pending_query(
                service_ids=service_ids, since=since, until=until, only_unrated=only_unrated, after_id=after_id
            )
            rows = connection.execute(query.order_by(Cdr.id).limit(batch_size)).all()
        if not rows:
            return counts
        after_id = rows[-1].id
        rows = sorted((row for row in rows if row.service_id in infos), key=lambda row: (row.start_at, row.id))
        for body in build_requests(rows, infos):
            response = client.post("/internal/rate-batch", json=body)
            results = [parse_result(result) for result in (response or {}).get("results", [])]
            sent = {int(cdr["id"]) for cdr in body["cdrs"]}
            unknown = [result["cdr_id"] for result in results if result["cdr_id"] not in sent]
            if unknown:
                raise UpstreamError(f"rating-service returned results for CDRs it was not sent: {unknown[:5]}")
            counts["adjusted"] += store_results(db, results)
            counts["rated"] += len(results)
            counts["billable"] += sum(1 for result in results if result["billable"])
            counts["unrated"] += sum(1 for result in results if result["reason"] == "no_rate")
        if progress is not None:
            progress(counts["rated"])


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
        # executemany SETs every column named in the parameter dicts
        statement = update(Cdr.__table__).where(Cdr.__table__.c.id == bindparam("cdr_id"))
        connection.execute(statement, [{**result, "rated_at": now} for result in results])
        if adjustments:
            connection.execute(CostAdjustment.__table__.insert(), adjustments)
    return len(adjustments)


def charged_costs(connection: Connection, ids: list[int]) -> dict[int, tuple[int, Decimal]]:
    """For the claimed CDRs among `ids`: (service, what the client has been charged so far, adjustments included)."""
    rows = connection.execute(
        select(Cdr.id, Cdr.service_id, Cdr.charged_cost).where(Cdr.id.in_(ids), Cdr.claim_id.is_not(None))
    ).all()
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
