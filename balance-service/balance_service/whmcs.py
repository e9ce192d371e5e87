"""WHMCS External API client: JSON always, errors as exceptions, reads retried, writes never resent blindly."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import requests

from tollgate_common import phpserial
from tollgate_common.money import lenient_decimal, money_str, to_cents

from .exceptions import (
    InsufficientCredit,
    WhmcsActionError,
    WhmcsAuthError,
    WhmcsError,
    WhmcsOutcomeUnknown,
    WhmcsUnavailable,
)

PAGE_SIZE = 250
T = TypeVar("T")
R = TypeVar("R")
READ_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
class Credentials:
    """Where WHMCS is and how to sign in: identifier/secret, plus an access key when the IP is not allow-listed."""

    url: str
    identifier: str
    secret: str
    accesskey: str = ""

    @property
    def endpoint(self) -> str:
        """The api.php URL, whether the settings give the WHMCS root or the full path."""
        base = self.url.rstrip("/")
        return base if base.endswith("/includes/api.php") else base + "/includes/api.php"


class WhmcsClient:
    """One WHMCS installation. Reads retry on failure; a write whose reply is lost raises WhmcsOutcomeUnknown."""

    def __init__(self, credentials: Credentials, *, timeout: float = 30.0, read_retries: int = 3):
        self.credentials = credentials
        self.timeout = timeout
        self.read_retries = read_retries
        self.session = requests.Session()

    def call(self, action: str, *, write: bool, **params: Any) -> dict[str, Any]:
        """Call `action`; retry a read up to `read_retries` times, send a write exactly once."""
        attempts = 1 if write else self.read_retries + 1
        for attempt in range(attempts):
            try:
                return self._call_once(action, write=write, params=params)
            except WhmcsUnavailable:
                if attempt + 1 >= attempts:
                    raise
                time.sleep(READ_BACKOFF_SECONDS * (attempt + 1))
        raise AssertionError("unreachable")

    def _call_once(self, action: str, *, write: bool, params: dict[str, Any]) -> dict[str, Any]:
        form = {
            "action": action,
            "identifier": self.credentials.identifier,
            "secret": self.credentials.secret,
            "responsetype": "json",
            **{key: value for key, value in params.items() if value is not None},
        }
        if self.credentials.accesskey:
            form["accesskey"] = self.credentials.accesskey
        try:
            response = self.session.post(self.credentials.endpoint, data=form, timeout=self.timeout)
        except requests.ConnectionError as exc:
            # Refused or unresolvable before anything was sent is safe; a dropped connection after sending is not.
            if write and not isinstance(exc, requests.ConnectTimeout) and not _refused(exc):
                raise WhmcsOutcomeUnknown(f"WHMCS {action}: connection lost after sending") from exc
            raise WhmcsUnavailable(f"WHMCS unreachable at {self.credentials.endpoint}: {type(exc).__name__}") from exc
        except requests.Timeout as exc:
            if write:
                raise WhmcsOutcomeUnknown(f"WHMCS {action}: no reply within {self.timeout:g} s") from exc
            raise WhmcsUnavailable(f"WHMCS {action}: no reply within {self.timeout:g} s") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 403 and isinstance(body, dict):
            raise WhmcsAuthError(f"WHMCS refused access: {body.get('message', 'HTTP 403')}")
        if not isinstance(body, dict) or "result" not in body:
            summary = f"WHMCS {action}: HTTP {response.status_code} with a non-JSON reply"
            if write:
                raise WhmcsOutcomeUnknown(summary)
            raise WhmcsUnavailable(summary)
        if body["result"] != "success":
            message = str(body.get("message", "unknown error"))
            if message == "Insufficient Credit Balance":
                raise InsufficientCredit(action, message)
            raise WhmcsActionError(action, message)
        return body

    def get_client(self, client_id: int) -> dict[str, Any]:
        """GetClientsDetails: the `client` object (credit as a string, custom fields as {id, value})."""
        return self.call("GetClientsDetails", write=False, clientid=client_id)["client"]

    def iter_client_ids(self) -> Iterator[int]:
        """Yield every client id, page by page (GetClients omits `clients` on an empty page)."""
        start = 0
        while True:
            reply = self.call("GetClients", write=False, limitstart=start, limitnum=PAGE_SIZE, orderby="id")
            rows = (reply.get("clients") or {}).get("client") or []
            for row in rows:
                yield int(row["id"])
            start += len(rows)
            if not rows or start >= int(lenient_decimal(reply.get("totalresults"))):
                return

    def get_services(self, client_id: int) -> list[dict[str, Any]]:
        """GetClientsProducts for a client: service id, product name, product id and status."""
        reply = self.call("GetClientsProducts", write=False, clientid=client_id)
        products = reply.get("products") or {}
        rows = products.get("product") or [] if isinstance(products, dict) else []
        return [
            {
                "service_id": int(row["id"]),
                "product": row.get("name", ""),
                "pid": int(row.get("pid") or 0),
                "status": row.get("status", ""),
            }
            for row in rows
        ]

    def get_currencies(self) -> dict[int, dict[str, str]]:
        """GetCurrencies keyed by id: code, prefix, suffix."""
        reply = self.call("GetCurrencies", write=False)
        rows = (reply.get("currencies") or {}).get("currency") or []
        return {int(row["id"]): {"code": row["code"], "prefix": row["prefix"], "suffix": row["suffix"]} for row in rows}

    def list_invoices(self, client_id: int, status: str | None = None) -> list[dict[str, Any]]:
        """GetInvoices for a client, every page, newest first."""
        invoices: list[dict[str, Any]] = []
        while True:
            reply = self.call(
                "GetInvoices",
                write=False,
                userid=client_id,
                status=status,
                limitstart=len(invoices),
                limitnum=PAGE_SIZE,
                orderby="id",
                order="desc",
            )
            container = reply.get("invoices") or {}
            rows = container.get("invoice") or [] if isinstance(container, dict) else []
            invoices.extend(rows)
            if not rows or len(invoices) >= int(lenient_decimal(reply.get("totalresults"))):
                return invoices

    def invoice_balance(self, invoice_id: int) -> Decimal:
        """GetInvoice's `balance` (GetInvoices has no balance field)."""
        return lenient_decimal(self.call("GetInvoice", write=False, invoiceid=invoice_id).get("balance"))

    def outstanding(self, client_id: int) -> Decimal:
        """What the client owes on unpaid invoices: the sum of their balances, partial payments deducted."""
        unpaid = self.list_invoices(client_id, "Unpaid")
        return sum((self.invoice_balance(int(row["id"])) for row in unpaid), Decimal(0))

    def outstanding_by_client(self) -> dict[int, Decimal]:
        """What every client owes: unpaid invoices listed once for all clients, each balance from GetInvoice."""
        totals: dict[int, Decimal] = {}
        start = 0
        while True:
            reply = self.call(
                "GetInvoices", write=False, status="Unpaid", limitstart=start, limitnum=PAGE_SIZE, orderby="id"
            )
            container = reply.get("invoices") or {}
            rows = (container.get("invoice") or []) if isinstance(container, dict) else []
            for row in rows:
                client_id = int(row["userid"])
                totals[client_id] = totals.get(client_id, Decimal(0)) + self.invoice_balance(int(row["id"]))
            start += len(rows)
            if not rows or start >= int(lenient_decimal(reply.get("totalresults"))):
                return totals

    def get_credits(self, client_id: int) -> list[dict[str, Any]]:
        """GetCredits: the client's credit log, oldest first."""
        reply = self.call("GetCredits", write=False, clientid=client_id)
        credits = reply.get("credits") or {}
        return list(credits.get("credit") or []) if isinstance(credits, dict) else []

    def add_credit(self, client_id: int, amount: Decimal, description: str, *, remove: bool) -> Decimal:
        """AddCredit add or remove `amount` (2 decimals, positive); return the new balance."""
        reply = self.call(
            "AddCredit",
            write=True,
            clientid=client_id,
            amount=whmcs_amount(amount),
            description=description,
            type="remove" if remove else "add",
        )
        return lenient_decimal(reply.get("newbalance"))

    def create_invoice(self, client_id: int, lines: list[tuple[str, Decimal]], *, duedate: str, notes: str) -> int:
        """CreateInvoice, unpaid, one item per line, due `duedate`; return the invoice id."""
        items: dict[str, Any] = {}
        for number, (description, amount) in enumerate(lines, start=1):
            items[f"itemdescription{number}"] = description
            items[f"itemamount{number}"] = whmcs_amount(amount)
        reply = self.call(
            "CreateInvoice",
            write=True,
            userid=client_id,
            status="Unpaid",
            sendinvoice="1",
            date=duedate,
            duedate=duedate,
            notes=notes,
            **items,
        )
        return int(reply["invoiceid"])

    def add_billable_item(self, client_id: int, amount: Decimal, description: str) -> int:
        """AddBillableItem for the client's next invoice; return the billable item id."""
        reply = self.call(
            "AddBillableItem",
            write=True,
            clientid=client_id,
            description=description,
            amount=whmcs_amount(amount),
            unit="quantity",
            quantity="1",
            invoiceaction="nextinvoice",
        )
        return int(reply["billableid"])

    def set_client_fields(self, client_id: int, values: dict[int, str]) -> None:
        """UpdateClient custom fields (base64 of a PHP-serialised id => value array)."""
        self.call("UpdateClient", write=True, clientid=client_id, customfields=phpserial.encode_base64(values))


def fetch_clients(
    make_client: Callable[[], WhmcsClient], client_ids: list[int], concurrency: int
) -> dict[int, dict[str, Any] | WhmcsError]:
    """GetClientsDetails for many clients over `concurrency` connections; a failure is kept per client."""

    def fetch(client_id: int, whmcs: WhmcsClient) -> dict[str, Any] | WhmcsError:
        try:
            return whmcs.get_client(client_id)
        except WhmcsError as exc:
            return exc

    return dict(zip(client_ids, map_concurrently(fetch, client_ids, make_client, concurrency), strict=True))


def map_concurrently(
    func: Callable[[T, WhmcsClient], R], items: list[T], make_client: Callable[[], WhmcsClient], concurrency: int
) -> list[R]:
    """`func(item, client)` for every item, in order, over at most `concurrency` threads with a client each."""
    local = threading.local()

    def run(item: T) -> R:
        if not hasattr(local, "client"):
            local.client = make_client()
        return func(item, local.client)

    with ThreadPoolExecutor(max_workers=max(concurrency, 1), thread_name_prefix="whmcs") as pool:
        return list(pool.map(run, items))


def whmcs_amount(amount: Decimal) -> str:
    """Format an amount for WHMCS (`###.##`); refuse sub-cent digits rather than round money silently."""
    cents = to_cents(amount)
    if cents != amount:
        raise ValueError(f"{amount} has sub-cent digits; only whole cents are posted to WHMCS")
    return money_str(cents)


def _refused(exc: requests.ConnectionError) -> bool:
    text = repr(exc)
    return "Connection refused" in text or "NewConnectionError" in text or "NameResolutionError" in text
