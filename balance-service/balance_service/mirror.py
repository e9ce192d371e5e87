"""The client mirror: WHMCS credit, outstanding balance, custom fields and services, refreshed from WHMCS."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from tollgate_common.money import lenient_decimal

from .exceptions import ClientNotFound, WhmcsActionError
from .ledger import money_text, usage_since
from .models import Client, WhmcsSettings, utcnow
from .suspension import ClientFacts, ClientState
from .whmcs import WhmcsClient
from .whmcs_settings import CLIENT_FIELDS, field_ids


def refresh_client(
    session: Session,
    whmcs: WhmcsClient,
    client_id: int,
    currencies: dict[int, dict[str, str]] | None = None,
    *,
    details: dict[str, Any] | None = None,
    outstanding: Decimal | None = None,
    with_services: bool = True,
    services: list[dict[str, Any]] | None = None,
    locked: Client | None = None,
) -> Client:
    """Read one client's details, unpaid balance and services from WHMCS into the mirror.

    A bulk caller (autosuspend) passes `details` and `outstanding` it read for many clients at once,
    skips the services (or passes those it read: `services`), which only the daily sync and single-client
    refreshes re-read, and passes the mirror row it already locked (`locked`) with the rest of its chunk.
    """
    if details is None:
        details = read_details(whmcs, client_id)
    if outstanding is None:
        outstanding = whmcs.outstanding(client_id)
    currencies = currencies if currencies is not None else whmcs.get_currencies()
    currency = currencies.get(int(details.get("currency") or 0), {})
    client = locked if locked is not None else session.get(Client, client_id, with_for_update=True)
    if client is None:
        client = Client(client_id=client_id)
        session.add(client)
    client.first_name = details.get("firstname", "")
    client.last_name = details.get("lastname", "")
    client.company_name = details.get("companyname", "") or ""
    client.email = details.get("email", "")
    client.status = details.get("status", "")
    client.currency_code = currency.get("code", details.get("currency_code", ""))
    client.currency_prefix = currency.get("prefix", "")
    client.currency_suffix = currency.get("suffix", "")
    client.credit = lenient_decimal(details.get("credit"))
    client.outstanding = outstanding
    fields = details.get("customfields") or []
    client.custom_fields = {str(entry["id"]): str(entry.get("value") or "") for entry in fields}
    if services is not None:
        client.services = services
    elif with_services or client.services is None:
        client.services = whmcs.get_services(client_id)
    client.synced_at = utcnow()
    session.flush()
    return client


def read_details(whmcs: WhmcsClient, client_id: int) -> dict[str, Any]:
    """GetClientsDetails, with WHMCS's "Client Not Found" as our ClientNotFound."""
    try:
        return whmcs.get_client(client_id)
    except WhmcsActionError as exc:
        if exc.whmcs_message == "Client Not Found":
            raise ClientNotFound(f"WHMCS has no client {client_id}") from None
        raise


def field_value(client: Client, row: WhmcsSettings, key: str) -> str:
    """The raw value of a mapped custom field (`has_voip`, ...), blank when unmapped or unset."""
    field_id = field_ids(row).get(key)
    return client.custom_fields.get(str(field_id), "") if field_id is not None else ""


def facts_for(client: Client, row: WhmcsSettings) -> ClientFacts:
    """The WHMCS facts the autosuspend decision reads."""
    return ClientFacts(
        has_voip=field_value(client, row, "has_voip"),
        manual_suspend=field_value(client, row, "manual_suspend"),
        voip_suspended=field_value(client, row, "voip_suspended"),
        credit=client.credit,
        outstanding=client.outstanding,
    )


def state_for(client: Client) -> ClientState:
    """Tollgate's own suspension state of a mirrored client."""
    return ClientState(client.voip_state, client.suspended_by, client.voip_field_written)


def period_start(now: dt.datetime) -> dt.datetime:
    """Start of the current usage period for merge data: the first of this month, UTC."""
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def merge_data(session: Session, client: Client, row: WhmcsSettings, now: dt.datetime) -> dict[str, Any]:
    """What notify-service needs to render a client's email: names, money as strings, fields by name, services."""
    service_ids = [int(service["service_id"]) for service in client.services]
    usage = usage_since(session, service_ids, period_start(now))
    return {
        "client_id": client.client_id,
        "first_name": client.first_name,
        "last_name": client.last_name,
        "company_name": client.company_name,
        "email": client.email,
        "credit": money_text(client.credit),
        "due_invoices_balance": money_text(client.outstanding),
        "currency_prefix": client.currency_prefix,
        "currency_suffix": client.currency_suffix,
        "custom_fields": {name: field_value(client, row, key) for key, name in CLIENT_FIELDS.items()},
        "services": [
            {
                "service_id": int(service["service_id"]),
                "product": service.get("product", ""),
                "usage_current_period": money_text(usage.get(int(service["service_id"]), Decimal(0))),
            }
            for service in client.services
        ],
    }
