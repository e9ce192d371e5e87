"""Turn a FusionPBX `v_xml_cdr` row (from the database or the CSV export) into a CallRecord."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .base import CallRecord, RowError, direction_of, epoch_to_utc, number_text, whole_seconds

FAILED_CAUSES = frozenset(
    {
        "CALL_REJECTED",
        "NO_ROUTE_DESTINATION",
        "UNALLOCATED_NUMBER",
        "NORMAL_TEMPORARY_FAILURE",
        "INVALID_NUMBER_FORMAT",
        "NETWORK_OUT_OF_ORDER",
        "RECOVERY_ON_TIMER_EXPIRE",
        "DESTINATION_OUT_OF_ORDER",
        "INCOMPATIBLE_DESTINATION",
        "SERVICE_UNAVAILABLE",
        "MANDATORY_IE_MISSING",
        "EXCHANGE_ROUTING_ERROR",
        "GATEWAY_DOWN",
    }
)
"""Hangup causes FusionPBX 5.2+ reports as status `failed` (integrations.md §1.2)."""

SHORT_NUMBER_DIGITS = 6


def derive_status(billsec: int, hangup_cause: str) -> str:
    """Status as FusionPBX 5.2+ computes it, for the 5.0/5.1 layouts that lack the column."""
    if billsec > 0:
        return "answered"
    if hangup_cause == "ORIGINATOR_CANCEL":
        return "cancelled"
    if hangup_cause == "USER_BUSY":
        return "busy"
    if hangup_cause in FAILED_CAUSES:
        return "failed"
    return "no_answer"


def is_short(number: str) -> bool:
    """Say whether `number` looks like an extension rather than a phone number."""
    return number.isdigit() and len(number) <= SHORT_NUMBER_DIGITS


def guess_extension(direction: str, caller: str, destination: str) -> str:
    """The tenant's own extension on the call when FusionPBX did not link one (`extension_uuid` empty)."""
    if direction in ("outbound", "local") and is_short(caller):
        return caller
    if direction == "inbound" and is_short(destination):
        return destination
    return ""


def normalise_row(row: dict[str, Any], inserted_at: datetime | None = None) -> CallRecord:
    """Build a CallRecord from a row keyed by v_xml_cdr column names; raise RowError with the reason."""
    source_id = str(row.get("xml_cdr_uuid") or "").strip()
    if not source_id:
        raise RowError("xml_cdr_uuid: missing")
    start_at = epoch_to_utc(row.get("start_epoch"), "start_epoch")
    if start_at is None:
        raise RowError("start_epoch: missing or zero")
    billsec = whole_seconds(row.get("billsec"), "billsec")
    duration_value = row.get("duration")
    duration = whole_seconds(duration_value, "duration") if duration_value not in (None, "") else billsec
    direction = direction_of(row.get("direction"))
    caller = number_text(row.get("caller_id_number"), "caller_id_number")
    destination = number_text(row.get("destination_number"), "destination_number")
    caller_destination = number_text(row.get("caller_destination"), "caller_destination")
    hangup_cause = str(row.get("hangup_cause") or "").strip().upper()[:60]
    status = str(row.get("status") or "").strip().lower()[:30] or derive_status(billsec, hangup_cause)
    extension = number_text(row.get("extension"), "extension") or guess_extension(direction, caller, destination)
    return CallRecord(
        source_id=source_id,
        tenant=str(row.get("domain_name") or "").strip().lower(),
        direction=direction,
        extension=extension,
        caller_number=caller,
        destination_number=destination,
        caller_destination=caller_destination,
        start_at=start_at,
        answer_at=epoch_to_utc(row.get("answer_epoch"), "answer_epoch"),
        end_at=epoch_to_utc(row.get("end_epoch"), "end_epoch"),
        duration=duration,
        billsec=billsec,
        status=status,
        hangup_cause=hangup_cause,
        source_inserted_at=inserted_at,
    )
