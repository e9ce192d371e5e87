"""The WHMCS API actions the billing backend uses, with WHMCS's parameters, reply shapes and error texts."""

from __future__ import annotations

import datetime as dt
import json
import re
import urllib.request
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from . import phpserial
from .state import (
    PAID,
    UNPAID,
    BillableItem,
    Client,
    CreditEntry,
    Invoice,
    InvoiceItem,
    Payment,
    Service,
    WhmcsState,
    money,
    today,
)

AMOUNT_FORMAT = re.compile(r"^\d+(\.\d{1,2})?$")
DATE_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DEFAULT_LIMIT = 25
ALL_ROWS = 999999
CLIENT_STATUSES = ("Active", "Inactive", "Closed")
INVOICE_ACTIONS = ("noinvoice", "nextcron", "nextinvoice", "duedate", "recur")
CUSTOM_EMAIL_TYPES = ("general", "product", "domain", "invoice", "support", "affiliate")


class ActionError(Exception):
    """An action-level failure: WHMCS answers HTTP 200 with result=error and this message."""


Handler = Callable[[WhmcsState, dict[str, Any]], dict[str, Any]]
ACTIONS: dict[str, Handler] = {}


def action(*names: str) -> Callable[[Handler], Handler]:
    """Register a handler under one or more normalised action names."""

    def register(handler: Handler) -> Handler:
        for name in names:
            ACTIONS[name] = handler
        return handler

    return register


def int_param(params: dict[str, Any], name: str, default: int = 0) -> int:
    """Read an integer parameter, falling back to `default` on blanks and junk."""
    try:
        return int(str(params.get(name, default)).strip() or default)
    except ValueError:
        return default


def flag(params: dict[str, Any], name: str) -> bool:
    """Read a PHP-style boolean parameter."""
    return str(params.get(name, "")).strip().lower() in {"1", "true", "on", "yes"}


def decimal_param(value: Any) -> Decimal | None:
    """Parse a money parameter, or None when it is not a number."""
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def sort_value(value: Any) -> tuple[int, Any]:
    """Order numbers numerically and everything else as text, never comparing the two."""
    return (0, value) if isinstance(value, (int, Decimal)) else (1, str(value).lower())


def page(rows: list[Any], params: dict[str, Any], default_limit: int = DEFAULT_LIMIT) -> tuple[list[Any], int]:
    """Apply limitstart/limitnum to `rows`; return the page and its start."""
    start = max(int_param(params, "limitstart", 0), 0)
    limit = int_param(params, "limitnum", default_limit) or default_limit
    return rows[start : start + limit], start


def emit_hook(state: WhmcsState, event: str, variables: dict[str, Any]) -> None:
    """Record a hook event and POST it to the configured webhook, as an operator's hook file would."""
    payload = {"event": event, **variables}
    # The hook file of docs/whmcs.md also names the invoice and its client the way Tollgate reads them.
    if "invoiceid" in variables:
        payload["invoice_id"] = variables["invoiceid"]
    if "userid" in variables:
        payload["client_id"] = variables["userid"]
    state.hook_log.append(payload)
    if not state.webhook_url:
        return
    request = urllib.request.Request(
        state.webhook_url,
        data=json.dumps(payload).encode(),
        headers={**state.webhook_headers, "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=state.webhook_timeout_seconds):
            pass
    except OSError as exc:
        # A hook that fails never fails the API call in WHMCS either; it is only logged.
        payload["delivery_error"] = repr(exc)


def find_client(state: WhmcsState, params: dict[str, Any], key: str = "clientid") -> Client:
    """The client named by `key`, or the `Client ID Not Found` error."""
    client = state.clients.get(int_param(params, key))
    if client is None:
        raise ActionError("Client ID Not Found")
    return client


def client_view(state: WhmcsState, client: Client) -> dict[str, Any]:
    """A client as GetClientsDetails shows it (custom fields as {id, value} only)."""
    currency = state.currencies[client.currency]
    fields = [{"id": field_id, "value": value} for field_id, value in sorted(client.customfields.items())]
    view: dict[str, Any] = {
        "userid": client.id,
        "client_id": client.id,
        "id": client.id,
        "uuid": f"00000000-0000-4000-8000-{client.id:012d}",
        "firstname": client.firstname,
        "lastname": client.lastname,
        "fullname": f"{client.firstname} {client.lastname}",
        "companyname": client.companyname,
        "email": client.email,
        "address1": "",
        "city": "",
        "country": "US",
        "currency": client.currency,
        "currency_code": currency.code,
        "status": client.status,
        "credit": money(client.credit),
        "groupid": client.groupid,
        "language": "",
        "customfields": fields,
    }
    for index, entry in enumerate(fields, start=1):
        view[f"customfields{index}"] = entry["value"]
    return view


@action("getclients")
def get_clients(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetClients: paged, searchable; no `clients` key when nothing matches."""
    status = params.get("status", "")
    if status and status not in CLIENT_STATUSES:
        raise ActionError("Invalid client status supplied. Valid statuses are: Active, Inactive, Closed")
    search = str(params.get("search", "")).lower()
    orderby = params.get("orderby") or "lastname"
    rows = [
        client
        for client in state.clients.values()
        if (not status or client.status == status)
        and (
            not search
            or any(
                text.lower().startswith(search)
                for text in (
                    client.email,
                    client.firstname,
                    client.lastname,
                    client.companyname,
                    f"{client.firstname} {client.lastname}",
                )
            )
        )
    ]
    rows.sort(key=lambda client: (sort_value(getattr(client, orderby, client.lastname)), client.id))
    if str(params.get("sorting", "ASC")).upper() == "DESC":
        rows.reverse()
    selected, start = page(rows, params)
    reply: dict[str, Any] = {"totalresults": len(rows), "startnumber": start, "numreturned": len(selected)}
    if selected:
        reply["clients"] = {
            "client": [
                {
                    "id": client.id,
                    "firstname": client.firstname,
                    "lastname": client.lastname,
                    "companyname": client.companyname,
                    "email": client.email,
                    "datecreated": client.datecreated,
                    "groupid": client.groupid,
                    "status": client.status,
                }
                for client in selected
            ]
        }
    return reply


@action("getclientsdetails", "getclientsdata", "getclientsdatabyemail")
def get_clients_details(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetClientsDetails: the client, duplicated at the top level, with optional stats."""
    if not params.get("clientid") and not params.get("email"):
        raise ActionError("Either clientid Or email Is Required")
    if params.get("clientid"):
        client = state.clients.get(int_param(params, "clientid"))
    else:
        client = next((c for c in state.clients.values() if c.email.lower() == str(params["email"]).lower()), None)
    if client is None:
        raise ActionError("Client Not Found")
    view = client_view(state, client)
    reply: dict[str, Any] = {"client": view, **{key: value for key, value in view.items() if key != "customfields"}}
    if flag(params, "stats"):
        currency = state.currencies[client.currency]
        mine = [invoice for invoice in state.invoices.values() if invoice.userid == client.id]
        unpaid = [invoice for invoice in mine if invoice.status == UNPAID]
        overdue = [invoice for invoice in unpaid if invoice.effective_status(today()) == "Overdue"]
        reply["stats"] = {
            "numdueinvoices": str(len(unpaid)),
            "dueinvoicesbalance": currency.format(sum((i.balance for i in unpaid), Decimal("0"))),
            "numoverdueinvoices": str(len(overdue)),
            "overdueinvoicesbalance": currency.format(sum((i.balance for i in overdue), Decimal("0"))),
            "numunpaidinvoices": str(len(unpaid)),
            "unpaidinvoicesamount": currency.format(sum((i.total for i in unpaid), Decimal("0"))),
            "numpaidinvoices": str(sum(1 for i in mine if i.status == PAID)),
            "creditbalance": currency.format(client.credit),
        }
    return reply


def service_view(state: WhmcsState, service: Service) -> dict[str, Any]:
    """A service as GetClientsProducts shows it."""
    return {
        "id": service.id,
        "qty": 1,
        "clientid": service.clientid,
        "orderid": service.id,
        "ordernumber": str(1000000 + service.id),
        "pid": service.pid,
        "regdate": service.regdate,
        "name": service.name,
        "translated_name": service.name,
        "groupname": service.groupname,
        "translated_groupname": service.groupname,
        "domain": service.domain,
        "dedicatedip": "",
        "serverid": service.serverid,
        "servername": f"server{service.serverid}" if service.serverid else "",
        "serverip": "",
        "serverhostname": "",
        "suspensionreason": service.suspensionreason,
        "firstpaymentamount": money(service.recurringamount),
        "recurringamount": money(service.recurringamount),
        "paymentmethod": "banktransfer",
        "paymentmethodname": "Bank Transfer",
        "billingcycle": service.billingcycle,
        "nextduedate": service.nextduedate,
        "status": service.status,
        "username": service.username,
        "password": service.password,
        "subscriptionid": "",
        "promoid": 0,
        "overideautosuspend": 0,
        "overidesuspenduntil": "0000-00-00",
        "ns1": "",
        "ns2": "",
        "assignedips": "",
        "notes": "",
        "lastupdate": "0000-00-00 00:00:00",
        "customfields": {
            "customfield": [{**entry, "translated_name": entry["name"]} for entry in service.customfields]
        },
        "configoptions": {"configoption": list(service.configoptions)},
    }


@action("getcurrencies")
def get_currencies(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetCurrencies: every currency with its prefix and suffix."""
    return {
        "totalresults": len(state.currencies),
        "currencies": {
            "currency": [
                {"id": c.id, "code": c.code, "prefix": c.prefix, "suffix": c.suffix, "format": "1", "rate": "1.00000"}
                for c in state.currencies.values()
            ]
        },
    }


@action("getclientsproducts")
def get_clients_products(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetClientsProducts: all rows by default; `products` is "" when nothing matches."""
    filters = {
        "clientid": int_param(params, "clientid"),
        "id": int_param(params, "serviceid"),
        "pid": int_param(params, "pid"),
    }
    domain = params.get("domain", "")
    username = params.get("username2", "")
    rows = [
        service
        for service in sorted(state.services.values(), key=lambda s: s.id)
        if all(not wanted or getattr(service, name) == wanted for name, wanted in filters.items())
        and (not domain or service.domain == domain)
        and (not username or service.username == username)
    ]
    selected, start = page(rows, params, ALL_ROWS)
    return {
        "clientid": params.get("clientid", ""),
        "serviceid": params.get("serviceid", ""),
        "pid": params.get("pid", ""),
        "domain": domain,
        "totalresults": len(rows),
        "startnumber": start,
        "numreturned": len(selected),
        "products": {"product": [service_view(state, s) for s in selected]} if selected else "",
    }


def invoice_row(state: WhmcsState, invoice: Invoice) -> dict[str, Any]:
    """An invoice as GetInvoices lists it (no balance field)."""
    client = state.clients[invoice.userid]
    currency = state.currencies[client.currency]
    return {
        "id": invoice.id,
        "userid": invoice.userid,
        "firstname": client.firstname,
        "lastname": client.lastname,
        "companyname": client.companyname,
        "invoicenum": "",
        "date": invoice.date,
        "duedate": invoice.duedate,
        "datepaid": invoice.datepaid,
        "last_capture_attempt": "0000-00-00 00:00:00",
        "date_refunded": "0000-00-00 00:00:00",
        "date_cancelled": "0000-00-00 00:00:00",
        "subtotal": money(invoice.total),
        "credit": money(invoice.credit),
        "tax": "0.00",
        "tax2": "0.00",
        "total": money(invoice.total),
        "taxrate": "0.00",
        "taxrate2": "0.00",
        "status": invoice.status,
        "paymentmethod": invoice.paymentmethod,
        "paymethodid": None,
        "notes": invoice.notes,
        "created_at": f"{invoice.date} 00:00:00",
        "updated_at": f"{invoice.date} 00:00:00",
        "currencycode": currency.code,
        "currencyprefix": currency.prefix,
        "currencysuffix": currency.suffix,
    }


@action("getinvoices")
def get_invoices(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetInvoices: paged, with the Overdue pseudo-status."""
    userid = int_param(params, "userid")
    status = params.get("status", "")
    on = today()
    rows = [
        invoice
        for invoice in state.invoices.values()
        if (not userid or invoice.userid == userid)
        and (
            not status
            or (status == "Overdue" and invoice.effective_status(on) == "Overdue")
            or (status != "Overdue" and invoice.status == status)
        )
    ]
    orderby = params.get("orderby") or "id"
    rows.sort(key=lambda invoice: (sort_value(getattr(invoice, orderby, invoice.id)), invoice.id))
    if str(params.get("order", "asc")).lower() == "desc":
        rows.reverse()
    selected, start = page(rows, params)
    return {
        "totalresults": str(len(rows)),
        "startnumber": start,
        "numreturned": len(selected),
        "invoices": {"invoice": [invoice_row(state, invoice) for invoice in selected]} if selected else [],
    }


def find_invoice(state: WhmcsState, params: dict[str, Any]) -> Invoice:
    """The invoice named by `invoiceid`, or `Invoice ID Not Found`."""
    invoice = state.invoices.get(int_param(params, "invoiceid"))
    if invoice is None:
        raise ActionError("Invoice ID Not Found")
    return invoice


@action("getinvoice")
def get_invoice(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetInvoice: one invoice with its balance, items and transactions."""
    invoice = find_invoice(state, params)
    row = invoice_row(state, invoice)
    row.pop("id")
    return {
        "invoiceid": invoice.id,
        **row,
        "balance": money(invoice.balance),
        "ccgateway": False,
        "items": {
            "item": [
                {
                    "id": item.id,
                    "type": item.type,
                    "relid": item.relid,
                    "description": item.description,
                    "amount": money(item.amount),
                    "taxed": int(item.taxed),
                }
                for item in invoice.items
            ]
        },
        "transactions": {
            "transaction": [
                {
                    "id": p.id,
                    "userid": invoice.userid,
                    "gateway": p.gateway,
                    "date": p.date,
                    "amountin": money(p.amount),
                    "transid": p.transid,
                }
                for p in invoice.payments
            ]
        }
        if invoice.payments
        else "",
    }


def add_credit_entry(
    state: WhmcsState, client: Client, description: str, amount: Decimal, date: str, relid: int = 0
) -> CreditEntry:
    """Write a credit-log row and move the client's credit by `amount`."""
    entry = CreditEntry(state.next_id("credit"), client.id, date, description, amount, relid)
    state.credit_log.append(entry)
    client.credit += amount
    return entry


@action("addcredit")
def add_credit(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """AddCredit: add or remove credit, with WHMCS's validation order and messages."""
    client = find_client(state, params)
    kind = params.get("type", "add") or "add"
    if kind not in ("add", "remove"):
        raise ActionError("Type can only be add or remove")
    raw_amount = str(params.get("amount", "")).strip()
    if not raw_amount:
        raise ActionError("No Amount Provided")
    if not AMOUNT_FORMAT.match(raw_amount):
        raise ActionError("Amount must be in decimal format: ### or ###.##")
    date = params.get("date") or today().isoformat()
    if not DATE_FORMAT.match(date):
        raise ActionError("Date Format is not Valid")
    if params.get("adminid") and int_param(params, "adminid") != 1:
        raise ActionError("Admin ID Not Found")
    amount = Decimal(raw_amount)
    if kind == "remove" and amount > client.credit:
        raise ActionError("Insufficient Credit Balance")
    add_credit_entry(state, client, str(params.get("description", "")), amount if kind == "add" else -amount, date)
    return {"newbalance": money(client.credit)}


@action("getcredits")
def get_credits(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """GetCredits: the client's credit log as nested JSON, oldest first."""
    client = find_client(state, params)
    rows = sorted((entry for entry in state.credit_log if entry.clientid == client.id), key=lambda e: (e.date, e.id))
    return {
        "totalresults": len(rows),
        "clientid": client.id,
        "credits": {
            "credit": [
                {"id": e.id, "date": e.date, "description": e.description, "amount": money(e.amount), "relid": e.relid}
                for e in rows
            ]
        },
    }


def numbered_items(params: dict[str, Any], name: str) -> dict[int, str]:
    """Collect `itemdescription1..n` or `itemdescription[1..n]` into {n: value}."""
    found: dict[int, str] = {}
    for key, value in params.items():
        if key == name and isinstance(value, dict):
            found.update({int(k): v for k, v in value.items()})
        elif key.startswith(name) and key[len(name) :].isdigit():
            found[int(key[len(name) :])] = value
    return found


@action("createinvoice")
def create_invoice(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """CreateInvoice: numbered items, optional auto-applied credit; fires InvoiceCreated."""
    client = find_client(state, params, "userid")
    draft = flag(params, "draft")
    if draft and flag(params, "sendinvoice"):
        raise ActionError("Cannot create and send a draft invoice in a single API request")
    descriptions = numbered_items(params, "itemdescription")
    amounts = numbered_items(params, "itemamount")
    taxed = numbered_items(params, "itemtaxed")
    invoice = Invoice(
        id=state.next_id("invoice"),
        userid=client.id,
        date=params.get("date") or today().isoformat(),
        duedate=params.get("duedate") or today().isoformat(),
        status="Draft" if draft else (params.get("status") or UNPAID),
        notes=params.get("notes", ""),
        paymentmethod=params.get("paymentmethod") or "banktransfer",
    )
    for number in sorted(descriptions):
        amount = decimal_param(amounts.get(number, "0")) or Decimal("0")
        invoice.items.append(
            InvoiceItem(
                state.next_id("item"), descriptions[number], amount, str(taxed.get(number, "0")) in {"1", "true"}
            )
        )
    state.invoices[invoice.id] = invoice
    if flag(params, "autoapplycredit") and invoice.status == UNPAID and client.credit > 0:
        apply_credit_to(state, invoice, min(client.credit, invoice.balance))
    if not draft:
        emit_hook(state, "InvoiceCreated", {"source": "api", "invoiceid": invoice.id, "status": invoice.status})
    return {"invoiceid": invoice.id, "status": invoice.status}


def apply_credit_to(state: WhmcsState, invoice: Invoice, amount: Decimal) -> None:
    """Move client credit onto an invoice."""
    client = state.clients[invoice.userid]
    add_credit_entry(
        state, client, f"Credit Applied to Invoice #{invoice.id}", -amount, today().isoformat(), invoice.id
    )
    invoice.credit += amount
    settle_if_paid(state, invoice)


def settle_if_paid(state: WhmcsState, invoice: Invoice) -> bool:
    """Mark an invoice Paid when nothing is owed and fire InvoicePaid."""
    if invoice.status == UNPAID and invoice.balance <= 0:
        invoice.status = PAID
        invoice.datepaid = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        emit_hook(state, "InvoicePaid", {"invoiceid": invoice.id, "userid": invoice.userid})
        return True
    return False


@action("applycredit")
def apply_credit(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """ApplyCredit: an amount or `full`, checked against credit and invoice balance."""
    invoice = find_invoice(state, params)
    if invoice.status != UNPAID:
        raise ActionError("Invoice Not in Unpaid Status")
    client = state.clients[invoice.userid]
    raw = str(params.get("amount", "")).strip()
    amount = invoice.balance if raw.lower() == "full" else decimal_param(raw)
    if amount is None or amount <= 0:
        raise ActionError("Credit Amount to apply must be greater than zero")
    if amount > client.credit:
        raise ActionError("Amount exceeds customer credit balance")
    if amount > invoice.balance:
        raise ActionError("Amount Exceeds Invoice Balance")
    apply_credit_to(state, invoice, amount)
    return {
        "invoiceid": invoice.id,
        "amount": money(amount),
        "invoicepaid": "true" if invoice.status == PAID else "false",
    }


def record_payment(state: WhmcsState, invoice: Invoice, amount: Decimal, transid: str, gateway: str, date: str) -> None:
    """Add a payment, fire AddInvoicePayment, and InvoicePaid when it settles the invoice."""
    invoice.payments.append(Payment(state.next_id("payment"), amount, transid, gateway, date))
    emit_hook(state, "AddInvoicePayment", {"invoiceid": invoice.id, "userid": invoice.userid})
    settle_if_paid(state, invoice)


@action("addinvoicepayment")
def add_invoice_payment(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """AddInvoicePayment: defaults to the full balance; fires the payment hooks."""
    invoice = find_invoice(state, params)
    if invoice.status == "Cancelled":
        raise ActionError("Payments can not be applied to a Cancelled invoice")
    raw = str(params.get("amount", "")).strip()
    amount = decimal_param(raw) if raw else invoice.balance
    if amount is None:
        raise ActionError("Amount must be in decimal format: ### or ###.##")
    date = params.get("date") or dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    record_payment(state, invoice, amount, str(params.get("transid", "")), str(params.get("gateway", "")), date)
    return {}


@action("addbillableitem")
def add_billable_item(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """AddBillableItem: an item for a later invoice, by invoiceaction."""
    client = find_client(state, params)
    invoiceaction = params.get("invoiceaction") or "noinvoice"
    if invoiceaction not in INVOICE_ACTIONS:
        raise ActionError("Invalid Invoice Action")
    amount = decimal_param(params.get("amount", ""))
    if amount is None:
        raise ActionError("Amount must be in decimal format: ### or ###.##")
    duedate = params.get("duedate", "")
    if invoiceaction in ("duedate", "recur") and not DATE_FORMAT.match(duedate):
        raise ActionError("Due Date is required and must be in the format YYYY-MM-DD")
    item = BillableItem(
        id=state.next_id("billable"),
        clientid=client.id,
        description=str(params.get("description", "")),
        amount=amount,
        unit=params.get("unit") or "hours",
        quantity=decimal_param(params.get("quantity", "0")) or Decimal("0"),
        invoiceaction=invoiceaction,
        duedate=duedate or "0000-00-00",
        recur=int_param(params, "recur"),
        recurcycle=params.get("recurcycle", ""),
        recurfor=int_param(params, "recurfor"),
    )
    state.billable_items[item.id] = item
    return {"billableid": item.id}


@action("updateclient")
def update_client(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """UpdateClient: profile fields, base64-serialised custom fields and the undocumented `credit`."""
    if params.get("clientid"):
        client = find_client(state, params)
    else:
        email = str(params.get("clientemail", "")).lower()
        client = next((c for c in state.clients.values() if email and c.email.lower() == email), None)
        if client is None:
            raise ActionError("Client ID Not Found")
    olddata = client_view(state, client)
    for name in ("firstname", "lastname", "companyname", "email", "status"):
        if name in params:
            setattr(client, name, params[name])
    if "currency" in params:
        client.currency = int_param(params, "currency", client.currency)
    if "credit" in params:
        # Undocumented and accepted: sets the balance outright, with no credit-log row.
        client.credit = decimal_param(params["credit"]) or Decimal("0")
    if params.get("customfields"):
        try:
            values = phpserial.decode_base64(params["customfields"])
        except ValueError:
            raise ActionError("Invalid custom fields format") from None
        for field_id, value in dict(values).items():
            client.customfields[int(field_id)] = "" if value is None else str(value)
    emit_hook(state, "ClientEdit", {"userid": client.id, "olddata": olddata})
    return {"clientid": client.id}


def merge_fields(state: WhmcsState, client: Client) -> dict[str, Any]:
    """The client merge fields WHMCS gives every email template that has a client."""
    currency = state.currencies[client.currency]
    name = f"{client.firstname} {client.lastname}" + (f" ({client.companyname})" if client.companyname else "")
    fields: dict[str, Any] = {
        "client_id": client.id,
        "client_name": name,
        "client_first_name": client.firstname,
        "client_last_name": client.lastname,
        "client_company_name": client.companyname,
        "client_email": client.email,
        "client_status": client.status,
        "client_group_id": client.groupid,
        "client_credit": currency.format(client.credit),
        "client_due_invoices_balance": currency.format(state.outstanding(client.id)),
        "client_custom_fields": [client.customfields.get(fid, "") for fid in sorted(state.client_field_names)],
        "client_custom_fields_by_name": [
            {"name": state.client_field_names[fid], "value": client.customfields.get(fid, "")}
            for fid in sorted(state.client_field_names)
        ],
    }
    for field_id, field_name in state.client_field_names.items():
        key = re.sub(r"[^0-9a-z]", "", field_name.lower())
        fields[f"client_custom_field_{key}"] = client.customfields.get(field_id, "")
    return fields


def render(template: str, data: dict[str, Any]) -> str:
    """Substitute `{$name}` merge fields; an unknown field renders empty, as Smarty does."""
    return re.sub(r"\{\$([A-Za-z0-9_]+)\}", lambda m: str(data.get(m.group(1), "")), template)


def custom_vars(params: dict[str, Any]) -> dict[str, Any]:
    """Read SendEmail customvars given as a form array or as base64 of a PHP array."""
    raw = params.get("customvars")
    if raw in (None, ""):
        return {}
    if isinstance(raw, dict):
        return {str(key): value for key, value in raw.items()}
    try:
        values = phpserial.decode_base64(str(raw))
    except ValueError:
        raise ActionError("The custom variables you provided are invalid.") from None
    if not isinstance(values, dict):
        raise ActionError("The custom variables you provided are invalid.")
    return {str(key): value for key, value in values.items()}


@action("sendemail")
def send_email(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """SendEmail: render a template or custom message and record it in the outbox."""
    messagename = params.get("messagename", "")
    customtype = params.get("customtype", "")
    if not messagename and not customtype:
        raise ActionError("You must provide either an existing email template name or a custom message type")
    if not params.get("id"):
        raise ActionError("A related ID is required")
    if messagename:
        template = state.templates.get(messagename)
        if template is None:
            raise ActionError("Email Template not found")
        if template.disabled:
            raise ActionError("Email Template is disabled")
        subject, body, kind = template.subject, template.message, template.type
    else:
        if customtype not in CUSTOM_EMAIL_TYPES:
            raise ActionError("Invalid message type provided")
        if not params.get("customsubject"):
            raise ActionError("A subject is required for a custom message")
        if not params.get("custommessage"):
            raise ActionError("A message body is required for a custom message")
        subject, body, kind = params["customsubject"], params["custommessage"], customtype
    extra = custom_vars(params)
    client: Client | None = None
    if kind == "general":
        client = state.clients.get(int_param(params, "id"))
    elif kind == "product":
        service = state.services.get(int_param(params, "id"))
        client = state.clients.get(service.clientid) if service else None
    if client is None:
        raise ActionError("Sending Failed. Please see documentation.")
    merge = {
        **merge_fields(state, client),
        **extra,
        "company_name": "Tollgate Demo Telecom",
        "date": today().isoformat(),
    }
    rendered = render(body, merge)
    if not rendered.strip():
        raise ActionError("Sending Failed. Please see documentation.")
    state.outbox.append(
        {
            "id": len(state.outbox) + 1,
            "messagename": messagename or None,
            "customtype": customtype or None,
            "relid": int_param(params, "id"),
            "to": client.email,
            "subject": render(subject, merge),
            "body": rendered,
            "merge": merge,
            "customvars": extra,
        }
    )
    return {}


def find_service(state: WhmcsState, params: dict[str, Any]) -> Service:
    """The service named by `serviceid` (or legacy `accountid`), with WHMCS's errors."""
    raw = params.get("serviceid") or params.get("accountid")
    if not raw:
        raise ActionError("Service ID is required")
    service = state.services.get(int_param({"id": raw}, "id"))
    if service is None:
        raise ActionError("Service ID not found")
    if not service.module:
        raise ActionError("Service not assigned to a module")
    return service


def run_module(state: WhmcsState, service: Service, function: str, extra: dict[str, Any]) -> str:
    """Call the server module for `function` with WHMCS's module params."""
    client = state.clients.get(service.clientid)
    module_params = {
        "serviceid": service.id,
        "userid": service.clientid,
        "pid": service.pid,
        "serverid": service.serverid,
        "domain": service.domain,
        "username": service.username,
        "password": service.password,
        "customfields": {entry["name"]: entry["value"] for entry in service.customfields},
        "configoptions": {entry["option"]: entry["value"] for entry in service.configoptions},
        "clientsdetails": client_view(state, client) if client else {},
        **extra,
    }
    if state.server_module is not None:
        return state.server_module(function, module_params)
    return state.module_result


@action("modulesuspend")
def module_suspend(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """ModuleSuspend: suspend through the module; the status flips only on "success"."""
    service = find_service(state, params)
    reason = str(params.get("suspendreason", ""))
    result = run_module(state, service, "SuspendAccount", {"suspendreason": reason})
    if result != "success":
        raise ActionError(result)
    service.status = "Suspended"
    service.suspensionreason = reason
    emit_hook(
        state, "AfterModuleSuspend", {"serviceid": service.id, "userid": service.clientid, "suspendreason": reason}
    )
    return {}


@action("moduleunsuspend")
def module_unsuspend(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """ModuleUnsuspend: unsuspend through the module; the status flips only on "success"."""
    service = find_service(state, params)
    result = run_module(state, service, "UnsuspendAccount", {})
    if result != "success":
        raise ActionError(result)
    service.status = "Active"
    service.suspensionreason = ""
    emit_hook(state, "AfterModuleUnsuspend", {"serviceid": service.id, "userid": service.clientid})
    return {}


SERVICE_TEXT_FIELDS = {
    "pid": "pid",
    "serverid": "serverid",
    "regdate": "regdate",
    "nextduedate": "nextduedate",
    "domain": "domain",
    "billingcycle": "billingcycle",
    "status": "status",
    "serviceusername": "username",
    "servicepassword": "password",
    "suspendreason": "suspensionreason",
}


@action("updateclientproduct")
def update_client_product(state: WhmcsState, params: dict[str, Any]) -> dict[str, Any]:
    """UpdateClientProduct: change stored fields only; the module is not called."""
    raw = params.get("serviceid")
    if not raw:
        raise ActionError("Service ID is required")
    service = state.services.get(int_param(params, "serviceid"))
    if service is None:
        raise ActionError("Service ID Not Found")
    for param, attribute in SERVICE_TEXT_FIELDS.items():
        if param in params:
            value = params[param]
            setattr(service, attribute, int(value) if attribute in ("pid", "serverid") else str(value))
    if "recurringamount" in params:
        service.recurringamount = decimal_param(params["recurringamount"]) or Decimal("0")
    if params.get("customfields"):
        try:
            values = phpserial.decode_base64(params["customfields"])
        except ValueError:
            raise ActionError("Invalid custom fields format") from None
        for entry in service.customfields:
            if entry["id"] in values:
                entry["value"] = str(values[entry["id"]])
    return {"serviceid": service.id}
