"""Billing periods: a service's WHMCS cycle [last due date, next due date) in its time zone."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from tollgate_common.errors import InvalidInput

CYCLE_MONTHS = {
    "monthly": 1,
    "quarterly": 3,
    "semiannually": 6,
    "annually": 12,
    "biennially": 24,
    "triennially": 36,
}
"""WHMCS billing cycles by name (lower-case, letters only); any other cycle bills by calendar month."""

MAX_RANGE_DAYS = 400


@dataclass(frozen=True)
class BillingPeriod:
    """A half-open range of local dates [start, end) and its UTC instants."""

    start: date
    end: date
    timezone: str

    def bounds_utc(self) -> tuple[datetime, datetime]:
        """The period's start and end instants in UTC (local midnights)."""
        zone = ZoneInfo(self.timezone)
        begin = datetime.combine(self.start, time(), zone).astimezone(UTC)
        finish = datetime.combine(self.end, time(), zone).astimezone(UTC)
        return begin, finish


def cycle_months(billing_cycle: str | None) -> int:
    """Months in a WHMCS billing cycle (1 for cycles that are not periodic)."""
    key = "".join(ch for ch in (billing_cycle or "").lower() if ch.isalpha())
    return CYCLE_MONTHS.get(key, 1)


def add_months(anchor: date, months: int) -> date:
    """Move `anchor` by whole months, clamping the day (Jan 31 + 1 month = Feb 28/29)."""
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    day = min(anchor.day, calendar.monthrange(year, month + 1)[1])
    return date(year, month + 1, day)


def period_containing(day: date, next_due_date: date | None, billing_cycle: str | None, timezone: str) -> BillingPeriod:
    """Return the billing period holding local date `day`, anchored on the service's next due date."""
    months = cycle_months(billing_cycle)
    anchor = next_due_date or date(day.year, day.month, 1)
    diff = (day.year - anchor.year) * 12 + (day.month - anchor.month)
    index = diff // months
    for candidate in (index - 1, index, index + 1):
        start = add_months(anchor, candidate * months)
        end = add_months(anchor, (candidate + 1) * months)
        if start <= day < end:
            return BillingPeriod(start, end, timezone)
    raise AssertionError("unreachable: consecutive periods cover every date")


def local_date(instant: datetime, timezone: str) -> date:
    """The date of `instant` in `timezone`."""
    return instant.astimezone(ZoneInfo(timezone)).date()


def resolve_period(
    spec: str | None, now: datetime, next_due_date: date | None, billing_cycle: str | None, timezone: str
) -> BillingPeriod:
    """Resolve `current`, `previous` or `YYYY-MM-DD..YYYY-MM-DD` (inclusive dates) into a period."""
    spec = (spec or "current").strip()
    current = period_containing(local_date(now, timezone), next_due_date, billing_cycle, timezone)
    if spec == "current":
        return current
    if spec == "previous":
        return period_containing(current.start - timedelta(days=1), next_due_date, billing_cycle, timezone)
    first, sep, last = spec.partition("..")
    try:
        start = date.fromisoformat(first)
        end = date.fromisoformat(last) if sep else start
    except ValueError:
        raise InvalidInput(
            f"period: {spec!r} is not current, previous or YYYY-MM-DD..YYYY-MM-DD", {"fields": {"period": spec}}
        ) from None
    if end < start:
        raise InvalidInput("period: the range ends before it starts", {"fields": {"period": spec}})
    if (end - start).days > MAX_RANGE_DAYS:
        raise InvalidInput(f"period: at most {MAX_RANGE_DAYS} days", {"fields": {"period": spec}})
    return BillingPeriod(start, end + timedelta(days=1), timezone)
