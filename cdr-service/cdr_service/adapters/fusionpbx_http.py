"""Read FusionPBX CDRs through its CSV export page (`xml_cdr_export.php?key=...`), for PBXs without DB access."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from tollgate_common.errors import UpstreamError

from .base import FetchBatch, RejectedRow, RowError
from .fusionpbx_rows import normalise_row

EXPORT_PATH = "/app/xml_cdr/xml_cdr_export.php"
EXPORT_OVERLAP_SECONDS = 86400
"""The export filters on start time, not insert time, so each sync re-reads a day to catch late rows."""


class ExportAuthError(UpstreamError):
    """FusionPBX sent us to its login page or answered `access denied`."""


def split_export_line(line: str) -> list[str]:
    """Split one export line: every value is wrapped in quotes and embedded quotes are not escaped."""
    text = line.rstrip("\r\n")
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].split('","')
    return text.split(",")


class FusionPbxExport:
    """The CSV export of one FusionPBX, authenticated by a user's API key."""

    def __init__(self, base_url: str, api_key: str, *, tenant: str = "", timeout_seconds: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.tenant = tenant.lower()
        self.timeout_seconds = timeout_seconds

    def download(self, start_epoch: int, stop_epoch: int) -> str:
        """Fetch the CSV for calls starting in [start_epoch, stop_epoch]; auth failures become clear errors."""
        params: dict[str, Any] = {
            "key": self.api_key,
            "export_format": "csv",
            "leg": "a",
            "start_epoch": start_epoch,
            "stop_epoch": stop_epoch,
        }
        if not self.tenant:
            params["show"] = "all"
        try:
            response = requests.get(
                self.base_url + EXPORT_PATH, params=params, timeout=self.timeout_seconds, allow_redirects=False
            )
        except requests.RequestException as exc:
            raise UpstreamError(f"FusionPBX export unreachable at {self.base_url}: {exc.__class__.__name__}") from None
        if 300 <= response.status_code < 400:
            raise ExportAuthError(
                "FusionPBX redirected the export to its login page: the api_key is wrong, too short, "
                "or its user is disabled"
            )
        if response.status_code != 200:
            raise UpstreamError(f"FusionPBX export answered HTTP {response.status_code}")
        body = response.text
        if body.strip().lower().startswith("access denied"):
            raise ExportAuthError(
                "FusionPBX answered 'access denied': the API key's user needs the xml_cdr_export and "
                "xml_cdr_export_csv permissions (and xml_cdr_all to export every domain)"
            )
        return body

    def test(self) -> str:
        """Export the last hour to prove the key and its permissions work."""
        now = int(datetime.now(UTC).timestamp())
        lines = [line for line in self.download(now - 3600, now).splitlines() if line.strip()]
        return f"FusionPBX export reachable; {max(len(lines) - 1, 0)} call(s) in the last hour"

    def fetch(self, since: datetime, until: datetime | None = None) -> Iterator[FetchBatch]:
        """Download one window (start time in [since, until]) and yield it as one batch."""
        until = until or datetime.now(UTC) + timedelta(minutes=1)
        body = self.download(int(since.timestamp()), int(until.timestamp()))
        yield parse_export(body, self.tenant, position=until)


def parse_export(body: str, tenant: str, position: datetime | None) -> FetchBatch:
    """Parse an export CSV body into records and rejected lines (numbered from the header, line 1)."""
    batch = FetchBatch(position=position)
    lines = body.splitlines()
    if not lines:
        return batch
    header = [name.strip() for name in split_export_line(lines[0])]
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        values = split_export_line(line)
        row = dict(zip(header, values, strict=False))
        if tenant and not row.get("domain_name"):
            row["domain_name"] = tenant
        try:
            if len(values) != len(header):
                raise RowError(f"line {number}: {len(values)} values for {len(header)} columns")
            record = normalise_row(row)
            record.answer_at, record.end_at = export_times(row, record.start_at, record.billsec)
            batch.records.append(record)
        except RowError as exc:
            reason = str(exc) if str(exc).startswith("line ") else f"line {number}: {exc}"
            batch.rejected.append(
                RejectedRow(
                    source_id=row.get("xml_cdr_uuid", "") or "",
                    tenant=(row.get("domain_name") or tenant).lower(),
                    reason=reason,
                    raw={"line": number, "text": line[:2000]},
                )
            )
    return batch


def export_times(row: dict[str, str], start_at: datetime, billsec: int) -> tuple[datetime | None, datetime | None]:
    """The export has no answer/end epochs: answer = start + tta, end = answer + billsec (or start + tta)."""
    try:
        tta = int(float(row.get("tta") or 0))
    except ValueError:
        tta = 0
    answer_at = start_at + timedelta(seconds=tta) if billsec > 0 else None
    end_at = (answer_at or start_at + timedelta(seconds=max(tta, 0))) + timedelta(seconds=billsec)
    return answer_at, end_at
