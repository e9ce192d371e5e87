"""The LesNet adapter: each service's CDR Link file, read by a configurable delimited-text reader; manual suspension."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

from tollgate_common.errors import UpstreamError

from .base import (
    CallRecord,
    FetchBatch,
    ProviderAdapter,
    RejectedRow,
    RowError,
    ServiceTarget,
    number_text,
    whole_seconds,
)
from .url_guard import check_url, parse_hosts

MAX_FILE_BYTES = 64 * 1024 * 1024
"""A CDR file larger than this is refused rather than read into memory."""


@dataclass(frozen=True)
class ReaderConfig:
    """How to read a LesNet CDR file; the defaults are the format in docs/providers/lesnet-format.md."""

    columns: dict[str, str] = field(
        default_factory=lambda: {
            "date": "Date",
            "time": "Time",
            "peer": "Peer",
            "source": "Source",
            "destination": "Destination",
            "direction": "Direction",
            "duration": "Duration",
        }
    )
    delimiter: str = ","
    date_format: str = "%Y-%m-%d %H:%M:%S"
    timezone: str = "America/Winnipeg"
    directions: dict[str, str] = field(default_factory=lambda: {"IN": "inbound", "OUT": "outbound"})

    @classmethod
    def from_settings(cls, settings: dict[str, Any] | None) -> ReaderConfig:
        """Defaults overridden by the server's `reader` settings; `columns` merge key by key."""
        settings = settings or {}
        default = cls()
        return cls(
            columns={**default.columns, **(settings.get("columns") or {})},
            delimiter=settings.get("delimiter", default.delimiter),
            date_format=settings.get("date_format", default.date_format),
            timezone=settings.get("timezone", default.timezone),
            directions={**default.directions, **(settings.get("directions") or {})},
        )


def row_hash(values: dict[str, str]) -> str:
    """The source id of a row: a hash of its content, since LesNet rows carry no id and files overlap."""
    text = "\x1f".join(f"{key}={values[key].strip()}" for key in sorted(values))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def parse_file(text: str, reader: ReaderConfig) -> FetchBatch:
    """Parse a CDR file: a header line, then one call per line; a bad line is rejected with its number."""
    batch = FetchBatch()
    lines = csv.reader(io.StringIO(text), delimiter=reader.delimiter)
    header = next(lines, None)
    if header is None:
        return batch
    header = [name.strip() for name in header]
    missing = [column for column in reader.columns.values() if column not in header]
    if missing:
        raise UpstreamError(f"LesNet file lacks the columns {missing} (has {header}); adjust the reader columns")
    zone = ZoneInfo(reader.timezone)
    for number, values in enumerate(lines, start=2):
        if not any(value.strip() for value in values):
            continue
        row = dict(zip(header, values, strict=False))
        fields = {name: (row.get(column) or "").strip() for name, column in reader.columns.items()}
        try:
            if len(values) != len(header):
                raise RowError(f"{len(values)} values for {len(header)} columns")
            batch.records.append(lesnet_record(fields, reader, zone))
        except RowError as exc:
            batch.rejected.append(
                RejectedRow(
                    source_id=row_hash(row),
                    tenant=fields.get("peer", "").upper(),
                    reason=f"line {number}: {exc}",
                    raw={"line": number, "values": values[:50]},
                )
            )
    return batch


def lesnet_record(fields: dict[str, str], reader: ReaderConfig, zone: ZoneInfo) -> CallRecord:
    """One LesNet row as a CallRecord: the DID is Destination inbound and Source outbound."""
    # one column may hold both date and time (map `date` and `time` to it)
    same_column = reader.columns.get("date") == reader.columns.get("time")
    stamp = fields.get("date", "") if same_column else f"{fields.get('date', '')} {fields.get('time', '')}".strip()
    try:
        start_at = datetime.strptime(stamp, reader.date_format).replace(tzinfo=zone).astimezone(UTC)
    except ValueError:
        raise RowError(f"date/time {stamp!r} does not match {reader.date_format!r}") from None
    direction = reader.directions.get(fields.get("direction", "").upper())
    if direction is None:
        raise RowError(f"direction {fields.get('direction')!r} is not one of {sorted(reader.directions)}")
    billsec = whole_seconds(fields.get("duration"), "duration")
    source = number_text(fields.get("source"), "source")
    destination = number_text(fields.get("destination"), "destination")
    peer = fields.get("peer", "").upper()
    if not peer:
        raise RowError("peer: missing")
    return CallRecord(
        source_id=row_hash(fields),
        tenant=peer,
        direction=direction,
        extension="",
        caller_number=source,
        destination_number=destination,
        caller_destination=destination,
        start_at=start_at,
        answer_at=start_at if billsec else None,
        end_at=start_at + timedelta(seconds=billsec),
        duration=billsec,
        billsec=billsec,
        status="answered" if billsec else "no_answer",
        hangup_cause="",
    )


class LesnetAdapter(ProviderAdapter):
    """LesNet has no public API: CDRs come from each service's daily file, suspension is a task for an admin."""

    kind = "lesnet"

    def __init__(self, settings: dict[str, Any], *, options: dict[str, Any]):
        self.reader = ReaderConfig.from_settings(settings.get("reader"))
        self.admin_email = settings.get("admin_email", "")
        self.allowed_hosts = parse_hosts(options.get("lesnet_allowed_hosts", ""))
        self.allow_http_loopback = bool(options.get("allow_http_loopback", False))
        self.timeout_seconds = float(options.get("timeout_seconds", 30.0))

    def download(self, url: str) -> str:
        """Fetch a CDR file after checking the URL; redirects are refused, not followed to unchecked places."""
        check_url(url, self.allowed_hosts, allow_http_loopback=self.allow_http_loopback)
        try:
            with requests.get(url, timeout=self.timeout_seconds, allow_redirects=False, stream=True) as response:
                if response.is_redirect:
                    raise UpstreamError(f"LesNet CDR Link {url} redirects; give the final URL")
                if response.status_code == 404:
                    raise UpstreamError(f"LesNet CDR Link {url} not found (404): check the account number")
                if response.status_code != 200:
                    raise UpstreamError(f"LesNet CDR Link {url} answered HTTP {response.status_code}")
                content = response.raw.read(MAX_FILE_BYTES + 1, decode_content=True)
        except requests.RequestException as exc:
            raise UpstreamError(f"LesNet CDR Link {url} unreachable: {exc.__class__.__name__}") from None
        if len(content) > MAX_FILE_BYTES:
            raise UpstreamError(f"LesNet CDR Link {url} is larger than {MAX_FILE_BYTES} bytes")
        return content.decode("utf-8-sig", errors="replace")

    def test(self) -> str:
        """LesNet has nothing to test per server; say where the real check happens."""
        return "LesNet has no server-level connection; test a service to check its CDR Link"

    def test_service(self, target: ServiceTarget) -> str:
        """Download and parse the service's CDR Link."""
        if not target.cdr_link:
            raise UpstreamError("the service has no CDR Link")
        batch = parse_file(self.download(target.cdr_link), self.reader)
        return f"CDR Link readable: {len(batch.records)} call(s), {len(batch.rejected)} unreadable line(s)"

    def fetch(self, since: datetime, until: datetime, targets: Sequence[ServiceTarget]) -> Iterator[FetchBatch]:
        """Read each distinct CDR Link once; the whole file every time, since rows are deduplicated by hash."""
        for link in sorted({target.cdr_link for target in targets if target.cdr_link}):
            batch = parse_file(self.download(link), self.reader)
            batch.position = until
            yield batch

    def _task(self, target: ServiceTarget, action: str) -> dict[str, Any]:
        what = "disable" if action == "suspend" else "enable"
        return {
            "manual": True,
            "message": f"manual task: {what} peer {target.tenant} and DIDs {', '.join(target.dids) or '-'} "
            "on portal.les.net, then mark this action done",
            "peer": target.tenant,
            "dids": list(target.dids),
            "admin_email": self.admin_email,
        }

    def suspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Record a manual task to disable the peer and DIDs on the Les.net portal."""
        return self._task(target, "suspend")

    def unsuspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Record a manual task to enable the peer and DIDs on the Les.net portal."""
        return self._task(target, "unsuspend")
