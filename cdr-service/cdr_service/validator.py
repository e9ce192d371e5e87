"""The E.164 validator (billing-rules §8): class each recent CDR's number with libphonenumber, suggest the fix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
from sqlalchemy import select

from tollgate_common.db import Database

from .models import Cdr

EXTENSION_MAX_DIGITS = 5


@dataclass(frozen=True)
class Verdict:
    status: str
    region: str | None = None
    fix: str | None = None


def digits_of(number: str) -> str:
    """Keep only the digits of a number."""
    return "".join(ch for ch in number if ch.isdigit())


def parse_e164(digits: str) -> phonenumbers.PhoneNumber | None:
    """Parse digits as an E.164 number (country code first), or None when libphonenumber cannot."""
    if not 7 <= len(digits) <= 15:
        return None
    try:
        return phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        return None


def classify(direction: str, number: str, called: str, country_code: str) -> Verdict:
    """Class one call's number: valid, wrong_country (outbound), invalid, or extension (inbound to an extension)."""
    if direction == "inbound":
        if 3 <= len(digits_of(called)) <= EXTENSION_MAX_DIGITS:
            return Verdict("extension")
        fix = f"set effective_caller_id_number={country_code}${{caller_id_number}}"
    else:
        fix = f"set destination_number={country_code}${{destination_number}}"
    digits = digits_of(number)
    if direction == "local" or (digits and len(digits) <= EXTENSION_MAX_DIGITS):
        return Verdict("extension")
    parsed = parse_e164(digits)
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        return Verdict("invalid", fix=fix)
    region = phonenumbers.region_code_for_number(parsed)
    if direction == "outbound" and str(parsed.country_code) != country_code:
        return Verdict("wrong_country", region=region, fix=fix)
    return Verdict("valid", region=region)


def validate_service(db: Database, service_id: int, country_code: str, days: int, limit: int) -> dict[str, Any]:
    """Check the service's recent calls (newest first) against the package country code."""
    since = datetime.now(UTC) - timedelta(days=days)
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(
                Cdr.id, Cdr.start_at, Cdr.direction, Cdr.caller_number, Cdr.destination_number, Cdr.caller_destination
            )
            .where(Cdr.service_id == service_id, Cdr.start_at >= since)
            .order_by(Cdr.start_at.desc(), Cdr.id.desc())
            .limit(limit)
        ).all()
    counts = {"valid": 0, "wrong_country": 0, "invalid": 0, "extension": 0}
    report = []
    for row in rows:
        number = row.caller_number if row.direction == "inbound" else row.destination_number
        verdict = classify(row.direction, number, row.caller_destination or row.destination_number, country_code)
        counts[verdict.status] += 1
        report.append(
            {
                "cdr_id": row.id,
                "start": row.start_at.isoformat().replace("+00:00", "Z"),
                "direction": row.direction,
                "number": number,
                "status": verdict.status,
                "region": verdict.region,
                "fix": verdict.fix,
            }
        )
    return {"service_id": service_id, "country_code": country_code, "counts": counts, "rows": report}
