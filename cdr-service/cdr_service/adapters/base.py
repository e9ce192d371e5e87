"""The one interface every provider adapter implements, and the normalised records they produce."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

DIRECTIONS = ("inbound", "outbound", "local", "")
MAX_NUMBER_LENGTH = 80


@dataclass(slots=True)
class CallRecord:
    """One call as the store keeps it, whatever the provider: times in UTC, seconds as integers."""

    source_id: str
    tenant: str
    direction: str
    extension: str
    caller_number: str
    destination_number: str
    caller_destination: str
    start_at: datetime
    answer_at: datetime | None
    end_at: datetime | None
    duration: int
    billsec: int
    status: str
    hangup_cause: str
    source_inserted_at: datetime | None = None


@dataclass(slots=True)
class RejectedRow:
    """A source row that cannot become a CallRecord, with the reason, kept for quarantine."""

    source_id: str
    tenant: str
    reason: str
    raw: dict[str, Any]


@dataclass
class FetchBatch:
    """Rows read in one step; once stored, the sync may advance its watermark to `position`."""

    records: list[CallRecord] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    position: datetime | None = None


@dataclass(frozen=True)
class ServiceTarget:
    """What a PBX action needs to know about a service: its tenant and the numbers it owns."""

    service_id: int
    tenant: str
    extensions: tuple[str, ...] = ()
    dids: tuple[str, ...] = ()
    billed_number: str | None = None
    cdr_link: str | None = None


class RowError(ValueError):
    """A source row is malformed; the message is the quarantine reason."""


class ProviderAdapter(ABC):
    """Test the connection, fetch a time window of CDRs, suspend and unsuspend a service."""

    kind: str = ""

    @abstractmethod
    def test(self) -> str:
        """Check the connection and credentials; return a short success message or raise UpstreamError."""

    min_overlap_seconds: int = 0
    """How far each sync must re-read at least, when the source cannot filter on the time a row was written."""

    @abstractmethod
    def fetch(self, since: datetime, until: datetime, targets: Sequence[ServiceTarget]) -> Iterator[FetchBatch]:
        """Yield the CDRs recorded in [since, until) for the server's services, in batches stored one at a time."""

    @abstractmethod
    def suspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Stop the service's calling on the PBX; return what was changed. Safe to repeat."""

    @abstractmethod
    def unsuspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Restore the service's calling on the PBX; return what was changed. Safe to repeat."""

    def test_service(self, target: ServiceTarget) -> str:
        """Check that the service's tenant exists on the PBX (default: the connection test)."""
        return self.test()


def epoch_to_utc(value: Any, field_name: str) -> datetime | None:
    """Turn an epoch (number or numeric string; 0 or empty means unset) into an aware UTC datetime."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise RowError(f"{field_name}: {value!r} is not an epoch time") from None
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, UTC)


def whole_seconds(value: Any, field_name: str) -> int:
    """Parse a non-negative number of seconds (FusionPBX stores numeric, Vodia strings)."""
    if value is None or value == "":
        raise RowError(f"{field_name}: missing")
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise RowError(f"{field_name}: {value!r} is not a number of seconds") from None
    if not number.is_finite():
        raise RowError(f"{field_name}: {value!r} is not a number of seconds")
    if number < 0:
        raise RowError(f"{field_name}: {value!r} is negative")
    return int(number)


def number_text(value: Any, field_name: str) -> str:
    """Clean a phone number or extension field into a bounded string."""
    text = "" if value is None else str(value).strip()
    if len(text) > MAX_NUMBER_LENGTH:
        raise RowError(f"{field_name}: longer than {MAX_NUMBER_LENGTH} characters")
    return text


def direction_of(value: Any) -> str:
    """Validate a direction value against the four the store knows."""
    direction = ("" if value is None else str(value)).strip().lower()
    if direction not in DIRECTIONS:
        raise RowError(f"direction: {value!r} is not inbound, outbound, local or empty")
    return direction
