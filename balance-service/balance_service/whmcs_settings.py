"""The saved WHMCS connection and client custom-field mapping; the secret is stored, never shown."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .exceptions import WhmcsNotConfigured
from .models import WhmcsSettings, utcnow
from .whmcs import Credentials, WhmcsClient

SETTINGS_ROW_ID = 1
CLIENT_FIELDS = {
    "has_voip": "Has VoIP Service",
    "manual_suspend": "Manual VoIP Suspend",
    "voip_suspended": "VoIP Suspended",
    "low_balance_threshold": "Low Balance Threshold",
}
"""Our name for each mapped WHMCS client custom field, and the field's name in WHMCS."""


def save_settings(session: Session, values: dict[str, Any]) -> WhmcsSettings:
    """Create or replace the WHMCS settings; an omitted secret keeps the stored one."""
    row = session.get(WhmcsSettings, SETTINGS_ROW_ID)
    if row is None:
        row = WhmcsSettings(id=SETTINGS_ROW_ID, secret="")
        session.add(row)
    row.url = values["url"]
    row.identifier = values["identifier"]
    if values.get("secret"):
        row.secret = values["secret"]
    row.accesskey = values.get("accesskey") or ""
    fields = values.get("client_fields") or {}
    for key in CLIENT_FIELDS:
        setattr(row, f"field_{key}", fields.get(key))
    row.updated_at = utcnow()
    return row


def load_settings(session: Session) -> WhmcsSettings:
    """Return the saved settings, or raise WhmcsNotConfigured."""
    row = session.get(WhmcsSettings, SETTINGS_ROW_ID)
    if row is None or not row.secret:
        raise WhmcsNotConfigured("WHMCS is not configured: PUT /v1/settings/whmcs first")
    return row


def field_ids(row: WhmcsSettings) -> dict[str, int | None]:
    """Our field name -> WHMCS custom field id (None when not mapped)."""
    return {key: getattr(row, f"field_{key}") for key in CLIENT_FIELDS}


def public_view(row: WhmcsSettings) -> dict[str, Any]:
    """The settings as GET shows them: everything but the secret, which is only said to be set."""
    return {
        "url": row.url,
        "identifier": row.identifier,
        "secret_set": bool(row.secret),
        "accesskey_set": bool(row.accesskey),
        "client_fields": field_ids(row),
        "updated_at": row.updated_at,
    }


def client_from(row: WhmcsSettings, *, timeout: float, read_retries: int) -> WhmcsClient:
    """Build a WHMCS API client from the saved settings."""
    credentials = Credentials(row.url, row.identifier, row.secret, row.accesskey or "")
    return WhmcsClient(credentials, timeout=timeout, read_retries=read_retries)
