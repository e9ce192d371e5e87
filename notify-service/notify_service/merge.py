"""Merge data as WHMCS builds it for a client, plus Tollgate's own fields, and the catalogue of known names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from tollgate_common.errors import UpstreamError
from tollgate_common.money import format_money, lenient_decimal

from .templating import FieldCatalogue, MergeField

CUSTOM_FIELD_PREFIX = "client_custom_field_"

SERVICE_ITEM_FIELDS = ("service_id", "product", "usage_current_period")

MERGE_FIELDS = [
    MergeField("client_id", "The client's WHMCS id."),
    MergeField("client_name", 'First and last name, with the company in brackets when set: "Ada Lovelace (Acme)".'),
    MergeField("client_first_name", "The client's first name."),
    MergeField("client_last_name", "The client's last name."),
    MergeField("client_company_name", "The client's company name, empty when none."),
    MergeField("client_email", "The client's email address."),
    MergeField("client_credit", 'Credit balance in the client\'s currency, e.g. "$12.50 USD".'),
    MergeField("client_due_invoices_balance", "What the client owes on unpaid invoices, in the client's currency."),
    MergeField(
        "voip_services",
        "The client's VoIP services, for {foreach $voip_services as $service}: "
        "$service.service_id, $service.product, $service.usage_current_period (formatted).",
        SERVICE_ITEM_FIELDS,
    ),
    MergeField("voip_usage_current_period", "Usage of all the client's VoIP services in the current period."),
    MergeField("date", "Today's date, YYYY-MM-DD (UTC)."),
    MergeField("suspension_id", "The suspension a zero-balance email is about (sent by balance-service)."),
    MergeField("suspension_reason", "Why calling was suspended (sent by balance-service)."),
    MergeField("low_balance_threshold", "The threshold that was crossed, formatted (sent by balance-service)."),
    MergeField("task_id", "The manual PBX task an admin email is about."),
    MergeField("task_action", "What the admin must do by hand: suspend or unsuspend."),
    MergeField("task_service_id", "The WHMCS service the manual task is for."),
    MergeField("task_server", "The PBX or carrier server the manual task is on."),
    MergeField("task_details", "Free text describing the manual task."),
]

CATALOGUE = FieldCatalogue(
    fields={merge_field.name: merge_field for merge_field in MERGE_FIELDS},
    patterns=[(re.compile(CUSTOM_FIELD_PREFIX + "[0-9a-z]+"), CUSTOM_FIELD_PREFIX + "<name>")],
)
"""What a template may name; any client custom field is allowed as its value differs per client."""


def custom_field_key(name: str) -> str:
    """Return the merge field of a custom field: "Low Balance" -> client_custom_field_lowbalance."""
    return CUSTOM_FIELD_PREFIX + re.sub(r"[^0-9a-z]", "", name.lower())


def client_merge_fields(body: Mapping[str, Any], today: date) -> dict[str, Any]:
    """Build the merge data of one client from balance-service's merge-data body."""
    try:
        prefix = body.get("currency_prefix") or ""
        suffix = body.get("currency_suffix") or ""

        def money(value: Any) -> str:
            return format_money(lenient_decimal(value), prefix, suffix)

        first, last, company = body["first_name"] or "", body["last_name"] or "", body.get("company_name") or ""
        name = f"{first} {last}".strip()
        services = body.get("services") or []
        usage = sum((lenient_decimal(service.get("usage_current_period")) for service in services), Decimal(0))
        fields: dict[str, Any] = {
            "client_id": str(body["client_id"]),
            "client_name": f"{name} ({company})" if company else name,
            "client_first_name": first,
            "client_last_name": last,
            "client_company_name": company,
            "client_email": body["email"] or "",
            "client_credit": money(body["credit"]),
            "client_due_invoices_balance": money(body.get("due_invoices_balance")),
            "voip_services": [
                {
                    "service_id": str(service["service_id"]),
                    "product": str(service.get("product") or ""),
                    "usage_current_period": money(service.get("usage_current_period")),
                }
                for service in services
            ],
            "voip_usage_current_period": money(usage),
            "date": today.isoformat(),
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise UpstreamError(f"balance-service merge data is malformed: missing or bad {exc}") from None
    for field_name, value in (body.get("custom_fields") or {}).items():
        fields[custom_field_key(field_name)] = "" if value is None else str(value)
    return fields


def merged(client_fields: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Overlay the job's extra fields on the client's, as WHMCS customvars override earlier keys."""
    return {**client_fields, **{key: "" if value is None else str(value) for key, value in extra.items()}}
