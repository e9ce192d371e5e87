"""The WHMCS API client against the simulator: error mapping, safe retries, lenient parsing, paging."""

from __future__ import annotations

import socket
from decimal import Decimal

import pytest

from balance_service.exceptions import (
    InsufficientCredit,
    WhmcsActionError,
    WhmcsAuthError,
    WhmcsOutcomeUnknown,
    WhmcsUnavailable,
)
from balance_service.whmcs import Credentials, WhmcsClient, whmcs_amount
from tollgate_common import phpserial
from tollgate_sim.whmcs.state import Client, Fault


@pytest.fixture
def ada(whmcs_sim):
    whmcs_sim.state.clients[42] = Client(42, "Ada", "Lovelace", "ada@example.test", credit=Decimal("7.50"))
    return whmcs_sim


def test_every_call_asks_for_json(ada):
    """The client always sends responsetype=json, so list actions never come back as XML."""
    assert ada.client().get_client(42)["credit"] == "7.50"
    assert all(entry["params"]["responsetype"] == "json" for entry in ada.state.api_log)


def test_wrong_secret_is_an_auth_error(ada):
    """HTTP 403 from WHMCS becomes WhmcsAuthError carrying WHMCS's message."""
    bad = WhmcsClient(Credentials(ada.url, "sim-identifier", "wrong"), read_retries=0)
    with pytest.raises(WhmcsAuthError, match="Authentication Failed"):
        bad.get_client(42)


def test_access_key_lets_a_foreign_ip_in(ada):
    """With the IP not allow-listed, the configured access key is what gets the client in."""
    ada.state.allowed_ips = set()
    ada.state.accesskey = "k3y"
    with pytest.raises(WhmcsAuthError, match="Invalid IP"):
        ada.client().get_client(42)
    keyed = WhmcsClient(Credentials(ada.url, "sim-identifier", "sim-secret", "k3y"))
    assert keyed.get_client(42)["id"] == 42


def test_action_errors_keep_the_exact_whmcs_message(ada):
    """result=error maps to WhmcsActionError; Insufficient Credit Balance to its own class."""
    client = ada.client()
    with pytest.raises(InsufficientCredit):
        client.add_credit(42, Decimal("99.00"), "x", remove=True)
    with pytest.raises(WhmcsActionError) as caught:
        client.get_client(5)
    assert caught.value.whmcs_message == "Client Not Found"


def test_reads_are_retried_after_a_php_error_page(ada):
    """A read that hits an HTML 500 page is retried and succeeds."""
    ada.state.faults.append(Fault("getclientsdetails", "error500", remaining=1))
    assert ada.client().get_client(42)["id"] == 42
    assert len(ada.calls("getclientsdetails")) == 1


def test_writes_are_never_resent_after_a_lost_reply(ada):
    """A write whose reply is lost raises WhmcsOutcomeUnknown after exactly one attempt."""
    ada.state.faults.append(Fault("addcredit", "lost_reply", remaining=1))
    with pytest.raises(WhmcsOutcomeUnknown):
        ada.client().add_credit(42, Decimal("1.00"), "x", remove=True)
    assert len(ada.calls("addcredit")) == 1 and ada.state.clients[42].credit == Decimal("6.50")


def test_write_timeout_is_outcome_unknown(ada):
    """A write that times out is 'unknown', not 'failed': WHMCS may still apply it."""
    ada.state.faults.append(Fault("addcredit", "timeout", remaining=1, seconds=0.5))
    with pytest.raises(WhmcsOutcomeUnknown):
        ada.client(timeout=0.2).add_credit(42, Decimal("1.00"), "x", remove=True)


def test_unreachable_whmcs_is_unavailable_for_reads_and_writes():
    """Connection refused means nothing was sent: reads and writes both raise WhmcsUnavailable."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = WhmcsClient(Credentials(f"http://127.0.0.1:{port}", "i", "s"), timeout=1, read_retries=0)
    with pytest.raises(WhmcsUnavailable):
        client.get_client(42)
    with pytest.raises(WhmcsUnavailable):
        client.add_credit(42, Decimal("1.00"), "x", remove=False)


def test_outstanding_sums_invoice_balances_after_partial_payments(ada):
    """Outstanding is the sum of unpaid invoices' balances, so a partial payment lowers it."""
    client = ada.client()
    first = client.create_invoice(42, [("a", Decimal("10.00"))], duedate="2026-11-25", notes="n")
    client.create_invoice(42, [("b", Decimal("2.50"))], duedate="2026-11-25", notes="n")
    client.call("AddInvoicePayment", write=True, invoiceid=first, amount="4.00", transid="t", gateway="g", date="x")
    assert client.outstanding(42) == Decimal("8.50")


def test_client_ids_are_paged_through(whmcs_sim):
    """Every client id comes back across GetClients pages."""
    for client_id in range(1, 601):
        whmcs_sim.state.clients[client_id] = Client(client_id, "F", f"L{client_id}", f"c{client_id}@example.test")
    assert sorted(whmcs_sim.client().iter_client_ids()) == list(range(1, 601))


def test_custom_fields_are_written_php_serialised(ada):
    """UpdateClient receives base64 PHP-serialised custom fields the simulator decodes."""
    ada.client().set_client_fields(42, {3: "Yes"})
    assert ada.state.clients[42].customfields[3] == "Yes"
    sent = ada.calls("updateclient")[0]["params"]["customfields"]
    assert phpserial.decode_base64(sent) == {3: "Yes"}


@pytest.mark.smoke
def test_amounts_with_sub_cent_digits_are_refused():
    """Only whole cents reach WHMCS; a sub-cent amount is a bug upstream, not something to round silently."""
    assert whmcs_amount(Decimal("3.210000")) == "3.21"
    with pytest.raises(ValueError):
        whmcs_amount(Decimal("3.215"))


def test_outstanding_by_client_reads_every_unpaid_invoice_once(ada):
    """The bulk read groups unpaid balances by client, partial payments deducted, paid invoices ignored."""
    ada.state.clients[43] = Client(43, "Bo", "B", "bo@example.test")
    client = ada.client()
    first = client.create_invoice(42, [("a", Decimal("10.00"))], duedate="2026-11-25", notes="n")
    client.create_invoice(43, [("b", Decimal("2.50"))], duedate="2026-11-25", notes="n")
    paid = client.create_invoice(43, [("c", Decimal("1.00"))], duedate="2026-11-25", notes="n")
    client.call("AddInvoicePayment", write=True, invoiceid=first, amount="4.00", transid="t", gateway="g", date="x")
    client.call("AddInvoicePayment", write=True, invoiceid=paid, transid="t", gateway="g", date="x")
    assert client.outstanding_by_client() == {42: Decimal("6.00"), 43: Decimal("2.50")}
