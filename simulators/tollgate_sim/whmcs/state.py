"""In-memory WHMCS: clients, services, invoices, credit log, billable items, outbox, hooks and faults."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")
UNPAID = "Unpaid"
PAID = "Paid"

ServerModule = Callable[[str, dict[str, Any]], str]
"""A server module callback: (`SuspendAccount` | `UnsuspendAccount`, params) -> "success" or an error text."""


def money(amount: Decimal) -> str:
    """Format money the way the WHMCS API does: a string with two decimals."""
    return format(amount.quantize(CENT, rounding=ROUND_HALF_UP), "f")


def today() -> dt.date:
    """Today's date in UTC."""
    return dt.datetime.now(dt.UTC).date()


@dataclass
class Currency:
    id: int
    code: str
    prefix: str
    suffix: str

    def format(self, amount: Decimal) -> str:
        """Format like WHMCS formatCurrency: "$12.50 USD"."""
        return f"{self.prefix}{money(amount)}{self.suffix}"


@dataclass
class Client:
    id: int
    firstname: str
    lastname: str
    email: str
    companyname: str = ""
    status: str = "Active"
    currency: int = 1
    credit: Decimal = Decimal("0")
    groupid: int = 0
    datecreated: str = "2024-01-01"
    customfields: dict[int, str] = field(default_factory=dict)


@dataclass
class Service:
    id: int
    clientid: int
    pid: int
    name: str = "VoIP"
    groupname: str = "VoIP"
    domain: str = ""
    username: str = ""
    password: str = ""
    serverid: int = 0
    module: str = "tollgate"
    status: str = "Active"
    billingcycle: str = "Monthly"
    regdate: str = "2024-01-01"
    nextduedate: str = "2026-12-01"
    recurringamount: Decimal = Decimal("0")
    suspensionreason: str = ""
    customfields: list[dict[str, Any]] = field(default_factory=list)
    configoptions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class InvoiceItem:
    id: int
    description: str
    amount: Decimal
    taxed: bool = False
    type: str = ""
    relid: int = 0


@dataclass
class Payment:
    id: int
    amount: Decimal
    transid: str
    gateway: str
    date: str


@dataclass
class Invoice:
    id: int
    userid: int
    date: str
    duedate: str
    status: str = UNPAID
    notes: str = ""
    paymentmethod: str = "banktransfer"
    items: list[InvoiceItem] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    credit: Decimal = Decimal("0")
    datepaid: str = "0000-00-00 00:00:00"

    @property
    def total(self) -> Decimal:
        return sum((item.amount for item in self.items), Decimal("0"))

    @property
    def balance(self) -> Decimal:
        """What is still owed: total less applied credit and payments."""
        paid = sum((payment.amount for payment in self.payments), Decimal("0"))
        return self.total - self.credit - paid

    def effective_status(self, on: dt.date) -> str:
        """The stored status, or `Overdue` for an unpaid invoice past its due date (a WHMCS pseudo-status)."""
        if self.status == UNPAID and self.duedate < on.isoformat():
            return "Overdue"
        return self.status


@dataclass
class CreditEntry:
    id: int
    clientid: int
    date: str
    description: str
    amount: Decimal
    relid: int = 0


@dataclass
class BillableItem:
    id: int
    clientid: int
    description: str
    amount: Decimal
    unit: str
    quantity: Decimal
    invoiceaction: str
    duedate: str
    recur: int = 0
    recurcycle: str = ""
    recurfor: int = 0
    invoicecount: int = 0


@dataclass
class EmailTemplate:
    name: str
    subject: str
    message: str
    type: str = "general"
    disabled: bool = False


@dataclass
class ApiCredential:
    identifier: str
    secret: str
    allowed_actions: set[str] | None = None
    disabled: bool = False


@dataclass
class Fault:
    """An injected fault for one action (or `*`): latency, timeout, error500 or lost_reply."""

    action: str
    kind: str
    remaining: int | None = None
    seconds: float = 0.0


@dataclass
class WhmcsState:
    """Everything the simulated WHMCS knows; every API call and test hook goes through it under `lock`."""

    credentials: list[ApiCredential] = field(default_factory=lambda: [ApiCredential("sim-identifier", "sim-secret")])
    admin_username: str = "admin"
    admin_password: str = "admin-password"
    admin_disabled: bool = False
    accesskey: str | None = None
    allowed_ips: set[str] = field(default_factory=lambda: {"127.0.0.1", "::1"})
    banned_ips: set[str] = field(default_factory=set)
    webhook_url: str | None = None
    webhook_headers: dict[str, str] = field(default_factory=dict)
    """Extra headers on every hook POST, e.g. `Authorization: Bearer <whmcs-scoped key>` for the gateway."""
    webhook_timeout_seconds: float = 5.0
    server_module: ServerModule | None = None
    module_result: str = "success"
    currencies: dict[int, Currency] = field(default_factory=lambda: {1: Currency(1, "USD", "$", " USD")})
    client_field_names: dict[int, str] = field(default_factory=dict)
    clients: dict[int, Client] = field(default_factory=dict)
    services: dict[int, Service] = field(default_factory=dict)
    invoices: dict[int, Invoice] = field(default_factory=dict)
    credit_log: list[CreditEntry] = field(default_factory=list)
    billable_items: dict[int, BillableItem] = field(default_factory=dict)
    templates: dict[str, EmailTemplate] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    hook_log: list[dict[str, Any]] = field(default_factory=list)
    api_log: list[dict[str, Any]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: dict[str, int] = field(default_factory=dict)

    def next_id(self, kind: str) -> int:
        """Allocate the next id of `kind`, above any id seeded by a test."""
        self._ids[kind] = self._ids.get(kind, 0) + 1
        return self._ids[kind]

    def reserve_id(self, kind: str, used: int) -> None:
        """Make later ids of `kind` start above a seeded id."""
        self._ids[kind] = max(self._ids.get(kind, 0), used)

    def legacy_password_ok(self, username: str, password_md5: str) -> bool:
        """Check the legacy admin login: username plus md5 of the password."""
        expected = hashlib.md5(self.admin_password.encode()).hexdigest()
        return username == self.admin_username and password_md5.lower() == expected

    def take_fault(self, action: str) -> Fault | None:
        """Return the first fault armed for `action`, counting down its remaining uses."""
        for fault in self.faults:
            if fault.action not in (action, "*"):
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
            return fault
        return None

    def outstanding(self, clientid: int) -> Decimal:
        """Sum of the balances of the client's unpaid invoices (what `client_due_invoices_balance` shows)."""
        return sum(
            (
                invoice.balance
                for invoice in self.invoices.values()
                if invoice.userid == clientid and invoice.status == UNPAID
            ),
            Decimal("0"),
        )
