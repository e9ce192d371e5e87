"""Client CDR views (billing-rules §8): a billing period's calls, searched, filtered, sorted, paged, totalled."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select

from tollgate_common.db import Database
from tollgate_common.errors import InvalidInput
from tollgate_common.money import money_str

from .models import Cdr, Server, ServiceAssignment
from .periods import BillingPeriod, resolve_period
from .rating import rated_number
from .services import get_assignment

SORTS = {
    "start": (Cdr.start_at,),
    "billsec": (Cdr.billsec,),
    "cost": (Cdr.cost,),
    "number": (Cdr.destination_number,),
    "direction": (Cdr.direction,),
}
DIRECTION_FILTERS = ("inbound", "outbound", "local")
MAX_PER_PAGE = 500
CSV_COLUMNS = (
    "start",
    "direction",
    "extension",
    "caller",
    "destination",
    "number",
    "status",
    "billsec",
    "billed_seconds",
    "free_seconds",
    "rate_per_minute",
    "cost",
    "description",
)


@dataclass(frozen=True)
class CdrQuery:
    """What a client asked to see."""

    period: str | None = None
    direction: str | None = None
    q: str | None = None
    sort: str = "-start"
    page: int = 1
    per_page: int = 50


def service_timezone(db: Database, service_id: int) -> tuple[ServiceAssignment, str]:
    """The service and its time zone (its own, else its server's)."""
    with db.session() as session:
        assignment = get_assignment(session, service_id)
        server_timezone = session.scalar(select(Server.timezone).where(Server.id == assignment.server_id))
    return assignment, assignment.timezone or server_timezone or "UTC"


def selection(service_id: int, period: BillingPeriod, query: CdrQuery) -> list[Any]:
    """The WHERE conditions for a client's view; suppressed calls never appear."""
    begin, end = period.bounds_utc()
    conditions: list[Any] = [
        Cdr.service_id == service_id,
        Cdr.start_at >= begin,
        Cdr.start_at < end,
        Cdr.visible.is_(True),
    ]
    if query.direction:
        if query.direction not in DIRECTION_FILTERS:
            raise InvalidInput(
                f"direction: expected one of {list(DIRECTION_FILTERS)}", {"fields": {"direction": query.direction}}
            )
        conditions.append(Cdr.direction == query.direction)
    if query.q:
        needle = "".join(ch for ch in query.q if ch.isdigit() or ch in "*#")
        if not needle:
            raise InvalidInput("q: search by digits of a number", {"fields": {"q": query.q}})
        pattern = f"%{needle}%"
        conditions.append(
            or_(
                Cdr.destination_number.like(pattern),
                Cdr.caller_number.like(pattern),
                Cdr.caller_destination.like(pattern),
            )
        )
    return conditions


def order_by(sort: str) -> list[Any]:
    """The ORDER BY for a `sort` value (`-` for descending), with the id as tie-breaker."""
    descending = sort.startswith("-")
    key = sort.lstrip("-+")
    if key not in SORTS:
        raise InvalidInput(
            f"sort: expected one of {sorted(SORTS)} (prefix '-' for descending)", {"fields": {"sort": sort}}
        )
    columns = [*SORTS[key], Cdr.id]
    return [column.desc() if descending else column.asc() for column in columns]


def totals(db: Database, conditions: list[Any]) -> dict[str, Any]:
    """Calls, billed and free minutes, and the amount (rounded costs of billable calls)."""
    where = and_(*conditions)
    with db.engine.connect() as connection:
        calls, billed, free = connection.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Cdr.billed_seconds), 0),
                func.coalesce(func.sum(Cdr.free_seconds), 0),
            ).where(where)
        ).one()
        amount = money_total(connection, select(Cdr.cost).where(where, Cdr.billable.is_(True)))
    return {
        "calls": calls,
        "billed_minutes": money_str((Decimal(int(billed)) / 60).quantize(Decimal("0.01"))),
        "free_minutes": money_str((Decimal(int(free)) / 60).quantize(Decimal("0.01"))),
        "amount": money_out(amount),
    }


def money_out(amount: Decimal) -> str:
    """Money for JSON without the storage scale's trailing zeros, keeping at least cents (`0.0110` → `0.011`)."""
    normal = amount.normalize()
    if normal.as_tuple().exponent > -2:
        normal = normal.quantize(Decimal("0.01"))
    return money_str(normal)


def money_total(connection: Any, query: Select) -> Decimal:
    """Sum a money column exactly: in SQL on PostgreSQL (NUMERIC), in Python on SQLite (stored as text)."""
    if connection.dialect.name == "postgresql":
        subquery = query.subquery()
        value = connection.execute(select(func.coalesce(func.sum(subquery.c[0]), 0))).scalar_one()
        return Decimal(value)
    return sum((value for (value,) in connection.execute(query) if value is not None), Decimal(0))


def row_view(row: Cdr, zone: ZoneInfo) -> dict[str, Any]:
    """One call as the client sees it."""
    start = row.start_at
    return {
        "id": row.id,
        "start": start.isoformat().replace("+00:00", "Z"),
        "start_local": start.astimezone(zone).isoformat(),
        "direction": row.direction,
        "extension": row.extension,
        "caller": row.caller_number,
        "destination": row.destination_number,
        "number": rated_number(row.direction, row.destination_number, row.caller_destination),
        "status": row.status,
        "billsec": row.billsec,
        "billed_seconds": row.billed_seconds or 0,
        "free_seconds": row.free_seconds or 0,
        "rate_per_minute": money_out(row.rate_per_minute) if row.rate_per_minute is not None else None,
        "cost": money_out(row.cost if row.billable else Decimal(0)) if row.rated_at is not None else None,
        "billable": bool(row.billable),
        "reason": row.reason,
        "description": row.description,
        "rated": row.rated_at is not None,
    }


def list_cdrs(db: Database, service_id: int, query: CdrQuery, now: datetime | None = None) -> dict[str, Any]:
    """One page of a service's calls for a period, with totals over the whole selection."""
    assignment, timezone = service_timezone(db, service_id)
    period = resolve_period(
        query.period, now or datetime.now(UTC), assignment.next_due_date, assignment.billing_cycle, timezone
    )
    if query.page < 1 or not 1 <= query.per_page <= MAX_PER_PAGE:
        raise InvalidInput(
            f"page must be ≥ 1 and per_page between 1 and {MAX_PER_PAGE}",
            {"fields": {"page": query.page, "per_page": query.per_page}},
        )
    conditions = selection(service_id, period, query)
    with db.session() as session:
        rows = session.scalars(
            select(Cdr)
            .where(and_(*conditions))
            .order_by(*order_by(query.sort))
            .limit(query.per_page)
            .offset((query.page - 1) * query.per_page)
        ).all()
    summary = totals(db, conditions)
    zone = ZoneInfo(timezone)
    return {
        "service_id": service_id,
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat(), "timezone": timezone},
        "page": query.page,
        "per_page": query.per_page,
        "pages": max(1, -(-summary["calls"] // query.per_page)),
        "totals": summary,
        "rows": [row_view(row, zone) for row in rows],
    }


def export_csv(db: Database, service_id: int, query: CdrQuery, now: datetime | None = None) -> Iterator[str]:
    """Every call of the selection as CSV (header first), in the requested order, streamed."""
    assignment, timezone = service_timezone(db, service_id)
    period = resolve_period(
        query.period, now or datetime.now(UTC), assignment.next_due_date, assignment.billing_cycle, timezone
    )
    conditions = selection(service_id, period, query)
    statement = select(Cdr).where(and_(*conditions)).order_by(*order_by(query.sort))
    zone = ZoneInfo(timezone)

    def generate() -> Iterator[str]:
        """Yield the CSV in chunks of about 64 KB."""
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_COLUMNS)
        with db.session() as session:
            for row in session.scalars(statement.execution_options(yield_per=2000)):
                view = row_view(row, zone)
                view["start"] = view["start_local"]
                writer.writerow(["" if view[name] is None else view[name] for name in CSV_COLUMNS])
                if buffer.tell() > 65536:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
        yield buffer.getvalue()

    return generate()
