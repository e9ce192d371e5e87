"""The Vodia adapter: REST login (session or Basic), paged domain CDRs, accounts disabled to suspend."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
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
    epoch_to_utc,
    number_text,
)

SIP_USER = re.compile(r"(?:sips?|tel):\+?([^@;>\s]+)")
VODIA_OVERLAP_SECONDS = 86400
"""The cdrs endpoint filters by call day, so each sync re-reads the previous day too."""


def sip_user(address: Any) -> str:
    """The user part of a SIP name-addr (`"Ann" <sip:8300@tenant>` → `8300`), or the text itself."""
    text = "" if address is None else str(address)
    match = SIP_USER.search(text)
    return match.group(1) if match else text.strip().strip('"')


def seconds_between(start: str, end: str, field_name: str) -> int:
    """Whole seconds between two epoch strings, rounded half up (Vodia keeps milliseconds)."""
    try:
        value = Decimal(end) - Decimal(start)
    except (InvalidOperation, TypeError):
        raise RowError(f"{field_name}: {start!r} or {end!r} is not an epoch time") from None
    if value < 0:
        raise RowError(f"{field_name}: ends before it starts")
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def normalise_cdr(record: dict[str, Any], tenant: str) -> CallRecord:
    """Build a CallRecord from a Vodia CDR: direction from trunks and extensions, billsec from connect to end."""
    if record.get("id") in (None, ""):
        raise RowError("id: missing")
    start_at = epoch_to_utc(record.get("start"), "start")
    if start_at is None:
        raise RowError("start: missing")
    end = str(record.get("end") or "")
    if not end:
        raise RowError("end: missing")
    connect = str(record.get("connect") or "")
    caller = number_text(sip_user(record.get("from")), "from")
    callee = number_text(sip_user(record.get("to")), "to")
    extensions = [str(item) for item in record.get("extensions") or []]
    # a trunk means the call left or entered the PBX; which way depends on whether an extension placed it
    direction = ("outbound" if caller in extensions else "inbound") if record.get("trunks") else "local"
    extension = caller if direction in ("outbound", "local") and caller in extensions else ""
    if not extension and extensions:
        extension = extensions[0]
    billsec = seconds_between(connect, end, "connect") if connect else 0
    return CallRecord(
        source_id=str(record["id"]),
        tenant=tenant.lower(),
        direction=direction,
        extension=extension,
        caller_number=caller,
        destination_number=callee,
        caller_destination=callee,
        start_at=start_at,
        answer_at=epoch_to_utc(connect, "connect") if connect else None,
        end_at=epoch_to_utc(end, "end"),
        duration=seconds_between(str(record["start"]), end, "end"),
        billsec=billsec,
        status="answered" if billsec > 0 else "no_answer",
        hangup_cause="",
    )


class VodiaAdapter(ProviderAdapter):
    """One Vodia PBX reached over its REST API with an admin login."""

    kind = "vodia"
    min_overlap_seconds = VODIA_OVERLAP_SECONDS

    def __init__(self, settings: dict[str, Any], *, timezone: str = "UTC", timeout_seconds: float = 30.0):
        self.base_url = settings["base_url"].rstrip("/")
        self.username = settings["username"]
        self.password = settings["password"]
        self.auth_mode = settings.get("auth", "session")
        self.page_size = int(settings.get("page_size", 500))
        self.date_format = settings.get("cdr_date_format", "yyyymmdd")
        self.timezone = timezone
        self.timeout_seconds = timeout_seconds
        self.http = requests.Session()
        self._logged_in = False

    def _login(self) -> None:
        if self._logged_in:
            return
        if self.auth_mode == "basic":
            self.http.auth = (self.username, self.password)
        else:
            digest = hashlib.md5(self.password.encode()).hexdigest()
            response = self._send(
                "PUT", "/rest/system/session", json={"name": "auth", "value": f"{self.username} {digest}"}
            )
            session_id = response.json()
            if not isinstance(session_id, str) or not session_id:
                raise UpstreamError("Vodia login answered without a session id")
            self.http.cookies.set("session", session_id)
        self._logged_in = True

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = self.http.request(method, self.base_url + path, timeout=self.timeout_seconds, **kwargs)
        except requests.RequestException as exc:
            raise UpstreamError(f"Vodia unreachable at {self.base_url}: {exc.__class__.__name__}") from None
        if response.status_code == 401:
            raise UpstreamError("Vodia refused the login: wrong username or password")
        if response.status_code == 403:
            raise UpstreamError("Vodia answered 403: enable 'API access' for this admin in the Vodia web interface")
        if response.status_code == 404:
            raise UpstreamError(f"Vodia answered 404 for {path}: unknown domain or account")
        if response.status_code != 200:
            raise UpstreamError(f"Vodia answered HTTP {response.status_code} for {path}")
        return response

    def _get(self, path: str, **params: Any) -> Any:
        self._login()
        try:
            return self._send("GET", path, params=params or None).json()
        except ValueError:
            raise UpstreamError(f"Vodia answered {path} with a non-JSON body") from None

    def test(self) -> str:
        """Log in and list the domains."""
        domains = self._get("/rest/system/domains")
        return f"logged in to Vodia ({self.auth_mode}); {len(domains)} domain(s)"

    def test_service(self, target: ServiceTarget) -> str:
        """Check that the service's domain exists and list its accounts."""
        users = self._get(f"/rest/domain/{target.tenant}/users")
        return f"Vodia domain {target.tenant} found with {len(users)} account(s)"

    def range_params(self, since: datetime, until: datetime) -> dict[str, str]:
        """The `start`/`end` query values for a window, in the configured date format."""
        if self.date_format == "epoch":
            return {"start": str(int(since.timestamp())), "end": str(int(until.timestamp()))}
        zone = ZoneInfo(self.timezone)
        return {
            "start": since.astimezone(zone).strftime("%Y%m%d"),
            "end": until.astimezone(zone).strftime("%Y%m%d"),
        }

    def fetch(self, since: datetime, until: datetime, targets: Sequence[ServiceTarget]) -> Iterator[FetchBatch]:
        """Page through each assigned domain's CDRs; each page is one batch."""
        window = self.range_params(since, until)
        for tenant in sorted({target.tenant for target in targets}):
            page = 1
            while True:
                records = self._get(f"/rest/domain/{tenant}/cdrs", page=page, size=self.page_size, **window)
                if not isinstance(records, list):
                    raise UpstreamError(f"Vodia cdrs for {tenant} is not a JSON array")
                yield self.to_batch(records, tenant, until)
                if len(records) < self.page_size:
                    break
                page += 1

    def to_batch(self, records: list[Any], tenant: str, until: datetime) -> FetchBatch:
        """Normalise one page of records; a bad record is set aside with its reason."""
        batch = FetchBatch(position=until)
        for record in records:
            try:
                if not isinstance(record, dict):
                    raise RowError("record is not a JSON object")
                batch.records.append(normalise_cdr(record, tenant))
            except RowError as exc:
                raw = record if isinstance(record, dict) else {"value": str(record)}
                batch.rejected.append(
                    RejectedRow(source_id=str(raw.get("id") or ""), tenant=tenant, reason=str(exc), raw=raw)
                )
        return batch

    def accounts_of(self, target: ServiceTarget) -> list[str]:
        """The service's accounts: its extensions (and billed extension), else every extension of the domain."""
        accounts = list(target.extensions)
        if target.billed_number and target.billed_number not in accounts and len(target.billed_number) <= 6:
            accounts.append(target.billed_number)
        if accounts:
            return accounts
        users = self._get(f"/rest/domain/{target.tenant}/users")
        return [str(user["name"]) for user in users if user.get("usertype") == "extensions"]

    def _set_disabled(self, target: ServiceTarget, disabled: bool) -> dict[str, Any]:
        accounts = self.accounts_of(target)
        self._login()
        for account in accounts:
            self._send(
                "PUT",
                f"/rest/domain/{target.tenant}/user_settings/{account}",
                json={"disabled": "true" if disabled else "false"},
            )
        return {"accounts": accounts, "disabled": disabled}

    def suspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Disable the service's accounts."""
        return self._set_disabled(target, True)

    def unsuspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Enable the service's accounts."""
        return self._set_disabled(target, False)
