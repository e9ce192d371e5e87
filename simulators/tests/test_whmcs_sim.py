"""The WHMCS simulator over real HTTP: auth order, response types, actions, hooks, outbox and faults."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests

from tollgate_sim.whmcs import WhmcsState, create_app, phpserial
from tollgate_sim.whmcs.server import serving

CREDENTIALS = {"identifier": "sim-identifier", "secret": "sim-secret"}


class Sim:
    """A running simulator: `api(action, **params)` calls api.php, `hook(path)` the /_sim/ routes."""

    def __init__(self, base_url: str, state: WhmcsState):
        self.base_url = base_url
        self.state = state

    def raw(self, data: dict, **kwargs) -> requests.Response:
        return requests.post(f"{self.base_url}/includes/api.php", data=data, timeout=10, **kwargs)

    def api(self, action: str, **params) -> dict:
        response = self.raw({"action": action, "responsetype": "json", **CREDENTIALS, **params})
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path: str):
        return requests.get(f"{self.base_url}/_sim/{path}", timeout=10).json()

    def post(self, path: str, body: dict):
        response = requests.post(f"{self.base_url}/_sim/{path}", json=body, timeout=10)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def put(self, path: str, body: dict):
        return requests.put(f"{self.base_url}/_sim/{path}", json=body, timeout=10).json()


@pytest.fixture
def sim():
    state = WhmcsState()
    with serving(create_app(state)) as base_url:
        yield Sim(base_url, state)


@pytest.fixture
def client_42(sim):
    sim.post("client-fields", {"1": "Has VoIP Service", "4": "Low Balance Threshold"})
    sim.post(
        "clients",
        {
            "id": 42,
            "firstname": "Ada",
            "lastname": "Lovelace",
            "credit": "7.50",
            "customfields": {"1": "Yes", "4": "5"},
        },
    )
    return 42


class WebhookSink:
    """A real HTTP server collecting the JSON bodies posted to it."""

    def __init__(self):
        self.events: list[dict] = []
        self.headers: list[dict] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                sink.events.append(json.loads(self.rfile.read(length)))
                sink.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook():
    sink = WebhookSink()
    yield sink
    sink.close()


@pytest.mark.smoke
def test_add_credit_remove_returns_string_balance_and_logs_negative_row(sim, client_42):
    """AddCredit type=remove answers newbalance as a string and writes a negative credit-log row."""
    reply = sim.api("AddCredit", clientid=42, amount="5.00", type="remove", description="VoIP usage [TG:x]")
    assert reply == {"result": "success", "newbalance": "2.50"}
    credits = sim.api("GetCredits", clientid=42)
    assert credits["credits"]["credit"][0]["amount"] == "-5.00"
    assert credits["credits"]["credit"][0]["description"] == "VoIP usage [TG:x]"
    assert credits["totalresults"] == 1


def test_add_credit_remove_beyond_balance_is_refused(sim, client_42):
    """Removing more credit than the client has fails with the undocumented message, leaving the balance."""
    reply = sim.api("AddCredit", clientid=42, amount="99.00", type="remove", description="x")
    assert reply == {"result": "error", "message": "Insufficient Credit Balance"}
    assert sim.get("clients/42")["credit"] == "7.50"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"clientid": 999, "amount": "1.00"}, "Client ID Not Found"),
        ({"clientid": 42, "amount": "1.00", "type": "subtract"}, "Type can only be add or remove"),
        ({"clientid": 42}, "No Amount Provided"),
        ({"clientid": 42, "amount": "1.005"}, "Amount must be in decimal format: ### or ###.##"),
        ({"clientid": 42, "amount": "-1"}, "Amount must be in decimal format: ### or ###.##"),
        ({"clientid": 42, "amount": "1.00", "date": "25/11/2026"}, "Date Format is not Valid"),
        ({"clientid": 42, "amount": "1.00", "adminid": 77}, "Admin ID Not Found"),
    ],
)
def test_add_credit_validation_messages(sim, client_42, params, message):
    """AddCredit rejects bad input with WHMCS's exact messages and HTTP 200."""
    assert sim.api("AddCredit", description="d", **params) == {"result": "error", "message": message}


def test_auth_failures_answer_403_in_documented_order(sim, client_42):
    """Banned IP beats everything; a wrong access key or a foreign IP beats credentials; then credentials."""
    base = {"action": "GetClients", "responsetype": "json"}
    assert sim.raw({**base}).json()["message"] == "Invalid or missing credentials"
    wrong = sim.raw({**base, "identifier": "sim-identifier", "secret": "nope"})
    assert (wrong.status_code, wrong.json()["message"]) == (403, "Authentication Failed")
    sim.put("config", {"allowed_ips": [], "accesskey": "k3y"})
    foreign = sim.raw({**base, **CREDENTIALS})
    assert (foreign.status_code, foreign.json()["message"]) == (403, "Invalid IP 127.0.0.1")
    assert sim.raw({**base, **CREDENTIALS, "accesskey": "bad"}).json()["message"] == "Invalid Access Key"
    assert sim.raw({**base, **CREDENTIALS, "accesskey": "k3y"}).json()["result"] == "success"
    sim.put("config", {"banned_ips": ["127.0.0.1"]})
    banned = sim.raw({**base, **CREDENTIALS, "accesskey": "k3y"})
    assert (banned.status_code, banned.json()["message"]) == (403, "IP Banned")


def test_legacy_username_with_md5_password_is_accepted(sim, client_42):
    """The legacy admin login works with md5(password) and fails with the plain password."""
    digest = hashlib.md5(b"admin-password").hexdigest()
    ok = sim.raw({"action": "GetClients", "responsetype": "json", "username": "admin", "password": digest})
    assert ok.json()["result"] == "success"
    plain = sim.raw({"action": "GetClients", "responsetype": "json", "username": "admin", "password": "admin-password"})
    assert (plain.status_code, plain.json()["message"]) == (403, "Authentication Failed")


def test_action_permissions_and_unknown_actions_answer_403(sim):
    """A credential limited to some actions is refused others; an unknown action is named in the error."""
    sim.put("config", {"credentials": [{**CREDENTIALS, "allowed_actions": ["getclients"]}]})
    denied = sim.raw({"action": "AddCredit", "responsetype": "json", **CREDENTIALS})
    assert (denied.status_code, denied.json()["message"]) == (
        403,
        'Invalid Permissions: API action "addcredit" is not allowed',
    )
    unknown = sim.raw({"action": "Frobnicate", "responsetype": "json", **CREDENTIALS})
    assert unknown.json()["message"] == 'Invalid API Action: "frobnicate" is not a valid API action'


def test_action_is_normalised_and_query_parameters_are_read(sim, client_42):
    """`Get-Clients_Details` in the query string reaches GetClientsDetails."""
    response = requests.post(
        f"{sim.base_url}/includes/api.php?action=Get-Clients_Details&clientid=42",
        data={"responsetype": "json", **CREDENTIALS},
        timeout=10,
    )
    assert response.json()["client"]["id"] == 42


def test_default_response_types_are_not_json(sim, client_42):
    """Without responsetype, list actions answer XML and others NVP, so a client that forgets it fails loudly."""
    listing = sim.raw({"action": "GetClients", **CREDENTIALS})
    assert listing.text.startswith("<?xml") and "<whmcsapi" in listing.text
    single = sim.raw({"action": "AddCredit", "clientid": 42, "amount": "1.00", "description": "d", **CREDENTIALS})
    assert single.text == "result=success;newbalance=8.50;"
    bad = sim.raw({"action": "GetClients", "responsetype": "nvp", **CREDENTIALS}).json()
    assert bad["message"] == 'Unsupported API response type format "nvp". Supported formats include: json, xml'


def test_get_clients_pages_and_omits_clients_when_empty(sim):
    """GetClients pages with the trio and has no `clients` key when nothing matches."""
    for number in range(1, 31):
        sim.post("clients", {"id": number, "lastname": f"L{number:02d}"})
    first = sim.api("GetClients", orderby="id")
    assert (first["totalresults"], first["startnumber"], first["numreturned"]) == (30, 0, 25)
    rest = sim.api("GetClients", limitstart=25, limitnum=25, orderby="id")
    assert [c["id"] for c in rest["clients"]["client"]] == [26, 27, 28, 29, 30]
    empty = sim.api("GetClients", search="nobody")
    assert "clients" not in empty and empty["numreturned"] == 0
    assert sim.api("GetClients", status="Gone")["result"] == "error"


def test_get_clients_details_custom_fields_by_id_and_stats(sim, client_42):
    """GetClientsDetails lists custom fields as {id, value} only and stats as formatted strings."""
    sim.post("invoices", {"userid": 42, "items": [{"description": "x", "amount": "12.00"}]})
    reply = sim.api("GetClientsDetails", clientid=42, stats="true")
    assert reply["client"]["customfields"] == [{"id": 1, "value": "Yes"}, {"id": 4, "value": "5"}]
    assert reply["client"]["credit"] == "7.50" and reply["credit"] == "7.50"
    assert reply["stats"]["dueinvoicesbalance"] == "$12.00 USD"
    assert sim.api("GetClientsDetails")["message"] == "Either clientid Or email Is Required"
    assert sim.api("GetClientsDetails", clientid=5)["message"] == "Client Not Found"


def test_get_clients_products_shapes(sim, client_42):
    """Services carry named custom fields and config options; no match gives `products: ""`."""
    sim.post(
        "services",
        {
            "id": 7,
            "clientid": 42,
            "pid": 3,
            "domain": "acme.pbx.test | 5192229000",
            "customfields": [{"id": 11, "name": "Extensions", "value": "2112|2113"}],
            "configoptions": [{"id": 2, "option": "Lines", "type": "quantity", "value": "4"}],
        },
    )
    reply = sim.api("GetClientsProducts", clientid=42)
    product = reply["products"]["product"][0]
    assert product["customfields"]["customfield"][0] == {
        "id": 11,
        "name": "Extensions",
        "translated_name": "Extensions",
        "value": "2112|2113",
    }
    assert product["configoptions"]["configoption"][0]["option"] == "Lines"
    assert (product["domain"], product["status"]) == ("acme.pbx.test | 5192229000", "Active")
    assert sim.api("GetClientsProducts", clientid=43)["products"] == ""


def test_invoice_lifecycle_with_credit_and_payment_fires_hooks(sim, client_42, webhook):
    """CreateInvoice, ApplyCredit and AddInvoicePayment move the balance; paying in full fires InvoicePaid."""
    sim.put("config", {"webhook_url": webhook.url})
    created = sim.api(
        "CreateInvoice",
        userid=42,
        itemdescription1="Usage svc 7",
        itemamount1="6.00",
        itemdescription2="Usage svc 8",
        itemamount2="4.00",
        notes="[TG:daily:2026-11-25:client:42]",
    )
    invoice_id = created["invoiceid"]
    assert created["status"] == "Unpaid"
    applied = sim.api("ApplyCredit", invoiceid=invoice_id, amount="7.50")
    assert (applied["amount"], applied["invoicepaid"]) == ("7.50", "false")
    assert (
        sim.api("ApplyCredit", invoiceid=invoice_id, amount="1")["message"] == "Amount exceeds customer credit balance"
    )
    assert sim.api("GetInvoice", invoiceid=invoice_id)["balance"] == "2.50"
    listed = sim.api("GetInvoices", userid=42)["invoices"]["invoice"][0]
    assert "balance" not in listed and listed["notes"] == "[TG:daily:2026-11-25:client:42]"
    sim.api("AddInvoicePayment", invoiceid=invoice_id, transid="t1", gateway="paypal", date="2026-11-25 10:00:00")
    assert sim.api("GetInvoice", invoiceid=invoice_id)["status"] == "Paid"
    assert [e["event"] for e in webhook.events] == ["InvoiceCreated", "AddInvoicePayment", "InvoicePaid"]
    assert sim.api("ApplyCredit", invoiceid=invoice_id, amount="1")["message"] == "Invoice Not in Unpaid Status"


def test_overdue_is_a_pseudo_status_of_unpaid_past_due(sim, client_42):
    """GetInvoices status=Overdue lists unpaid invoices past their due date only."""
    sim.post("invoices", {"userid": 42, "duedate": "2020-01-01", "items": [{"description": "old", "amount": "1.00"}]})
    sim.post("invoices", {"userid": 42, "duedate": "2999-01-01", "items": [{"description": "new", "amount": "1.00"}]})
    overdue = sim.api("GetInvoices", userid=42, status="Overdue")
    assert [i["duedate"] for i in overdue["invoices"]["invoice"]] == ["2020-01-01"]
    assert sim.api("GetInvoices", userid=99)["invoices"] == []


def test_sim_payment_hook_reaches_the_webhook(sim, client_42, webhook):
    """A payment made through /_sim/payments is pushed to the webhook as AddInvoicePayment and InvoicePaid."""
    sim.put("config", {"webhook_url": webhook.url})
    invoice = sim.post("invoices", {"userid": 42, "items": [{"description": "x", "amount": "3.00"}]})
    assert sim.post("payments", {"invoiceid": invoice["id"]})["status"] == "Paid"
    assert [(e["event"], e["invoiceid"]) for e in webhook.events] == [
        ("AddInvoicePayment", invoice["id"]),
        ("InvoicePaid", invoice["id"]),
    ]


def test_webhook_headers_go_with_every_hook_and_the_payload_names_invoice_and_client(sim, client_42, webhook):
    """With webhook_headers set (a whmcs-scoped gateway key), each hook POST carries them and the ids Tollgate reads."""
    key = "Bearer tg_whmcs-scoped-demo-key"
    assert sim.put("config", {"webhook_url": webhook.url, "webhook_headers": {"Authorization": key}}) == {"ok": True}
    invoice = sim.post("invoices", {"userid": 42, "items": [{"description": "x", "amount": "3.00"}]})
    sim.post("payments", {"invoiceid": invoice["id"]})
    assert [h["Authorization"] for h in webhook.headers] == [key, key]
    assert all(h["Content-Type"] == "application/json" for h in webhook.headers)
    assert [(e["event"], e["invoice_id"], e["client_id"]) for e in webhook.events] == [
        ("AddInvoicePayment", invoice["id"], 42),
        ("InvoicePaid", invoice["id"], 42),
    ]
    bad = requests.put(f"{sim.base_url}/_sim/config", json={"webhook_headers": {"X-N": 5}}, timeout=10)
    assert bad.status_code == 400 and sim.state.webhook_headers == {"Authorization": key}


def test_add_billable_item_next_invoice(sim, client_42):
    """AddBillableItem records the item for the next invoice and returns its id."""
    reply = sim.api(
        "AddBillableItem",
        clientid=42,
        description="VoIP usage [TG:r:7]",
        amount="3.21",
        unit="quantity",
        invoiceaction="nextinvoice",
    )
    assert reply["result"] == "success"
    item = sim.get("billable-items")[0]
    assert (item["id"], item["amount"], item["invoiceaction"]) == (reply["billableid"], "3.21", "nextinvoice")
    bad = sim.api("AddBillableItem", clientid=42, description="x", amount="1", invoiceaction="someday")
    assert bad["message"] == "Invalid Invoice Action"


def test_update_client_custom_fields_and_undocumented_credit(sim, client_42):
    """UpdateClient takes base64 PHP-serialised custom fields, and `credit` sets the balance with no log row."""
    fields = phpserial.encode_base64({3: "Yes"})
    sim.api("UpdateClient", clientid=42, customfields=fields, credit="20.00")
    client = sim.get("clients/42")
    assert client["customfields"]["3"] == "Yes" and client["credit"] == "20.00"
    assert sim.get("credits?clientid=42") == []


def test_send_email_renders_merge_fields_with_form_and_serialised_customvars(sim, client_42):
    """SendEmail records rendered merge data, custom-field merge names and customvars in either encoding."""
    sim.post(
        "templates",
        {
            "name": "Low Balance Alert",
            "subject": "Low balance for {$client_first_name}",
            "message": "Credit {$client_credit}, due {$client_due_invoices_balance}, "
            "threshold {$client_custom_field_lowbalancethreshold}, usage {$usage_today}",
        },
    )
    sim.post("invoices", {"userid": 42, "items": [{"description": "x", "amount": "2.25"}]})
    sim.api("SendEmail", messagename="Low Balance Alert", id=42, **{"customvars[usage_today]": "3.21"})
    serialised = phpserial.encode_base64({"usage_today": "4.00"})
    sim.api("SendEmail", messagename="Low Balance Alert", id=42, customvars=serialised)
    first, second = sim.get("outbox")
    assert first["subject"] == "Low balance for Ada"
    assert first["body"] == "Credit $7.50 USD, due $2.25 USD, threshold 5, usage 3.21"
    assert first["merge"]["client_custom_field_hasvoipservice"] == "Yes"
    assert second["body"].endswith("usage 4.00")
    assert sim.api("SendEmail", messagename="Nope", id=42)["message"] == "Email Template not found"
    bad = sim.api("SendEmail", messagename="Low Balance Alert", id=42, customvars="!!")
    assert bad["message"] == "The custom variables you provided are invalid."
    assert sim.api("SendEmail", id=42)["message"] == (
        "You must provide either an existing email template name or a custom message type"
    )


def test_module_suspend_passes_module_error_and_flips_status_only_on_success(sim, client_42, webhook):
    """ModuleSuspend returns the module's error text unchanged; on success the status flips and hooks fire."""
    sim.put("config", {"webhook_url": webhook.url, "module_result": "PBX unreachable"})
    sim.post("services", {"id": 7, "clientid": 42, "pid": 3})
    assert sim.api("ModuleSuspend", serviceid=7, suspendreason="zero balance")["message"] == "PBX unreachable"
    assert sim.get("services/7")["status"] == "Active"
    calls = []
    sim.state.server_module = lambda function, params: calls.append((function, params["serviceid"])) or "success"
    assert sim.api("ModuleSuspend", serviceid=7, suspendreason="zero balance")["result"] == "success"
    assert sim.get("services/7")["status"] == "Suspended"
    assert sim.api("ModuleUnsuspend", accountid=7)["result"] == "success"
    assert calls == [("SuspendAccount", 7), ("UnsuspendAccount", 7)]
    assert [e["event"] for e in webhook.events] == ["AfterModuleSuspend", "AfterModuleUnsuspend"]
    assert sim.api("ModuleSuspend", serviceid=99)["message"] == "Service ID not found"


def test_update_client_product_changes_fields_without_calling_the_module(sim, client_42):
    """UpdateClientProduct sets status and next due date directly; no module call, no hook."""
    sim.post("services", {"id": 7, "clientid": 42, "pid": 3})
    sim.state.module_result = "must not be called"
    assert sim.api("UpdateClientProduct", serviceid=7, status="Suspended", nextduedate="2027-01-01")["serviceid"] == 7
    assert sim.get("services/7") == {
        "id": 7,
        "status": "Suspended",
        "suspensionreason": "",
        "nextduedate": "2027-01-01",
    }
    assert sim.get("hooks") == []


def test_error500_fault_returns_php_page_without_applying(sim, client_42):
    """An injected PHP fatal error answers HTTP 500 HTML and changes nothing."""
    sim.post("faults", {"action": "AddCredit", "kind": "error500", "count": 1})
    response = sim.raw(
        {
            "action": "AddCredit",
            "responsetype": "json",
            "clientid": 42,
            "amount": "1.00",
            "type": "remove",
            **CREDENTIALS,
        }
    )
    assert response.status_code == 500 and "Fatal error" in response.text
    assert sim.get("clients/42")["credit"] == "7.50"
    assert sim.api("AddCredit", clientid=42, amount="1.00", type="remove", description="d")["newbalance"] == "6.50"


def test_lost_reply_fault_applies_the_call_but_loses_the_answer(sim, client_42):
    """A lost reply applies AddCredit yet answers a non-JSON 504 for the next N calls of that action."""
    sim.post("faults", {"action": "addcredit", "kind": "lost_reply", "count": 1})
    response = sim.raw(
        {
            "action": "AddCredit",
            "responsetype": "json",
            "clientid": 42,
            "amount": "2.00",
            "type": "remove",
            **CREDENTIALS,
        }
    )
    assert response.status_code == 504
    assert sim.get("clients/42")["credit"] == "5.50"
    assert sim.api("GetClients")["result"] == "success"


def test_timeout_fault_makes_the_client_give_up_while_whmcs_completes(sim, client_42):
    """A timeout fault delays the reply past the caller's timeout; the call still takes effect."""
    sim.post("faults", {"action": "addcredit", "kind": "timeout", "seconds": 1.0, "count": 1})
    with pytest.raises(requests.Timeout):
        requests.post(
            f"{sim.base_url}/includes/api.php",
            data={"action": "AddCredit", "responsetype": "json", "clientid": 42, "amount": "1.00", **CREDENTIALS},
            timeout=0.3,
        )
    deadline = time.monotonic() + 3
    while sim.get("clients/42")["credit"] != "8.50" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sim.get("clients/42")["credit"] == "8.50"


@pytest.mark.smoke
@pytest.mark.parametrize("value", [{1: "Yes", "name": "Ünïcode", 3: None}, [1, "2", True], "plain"])
def test_php_serialise_round_trip(value):
    """PHP serialise and unserialise give back the value, keys as PHP would store them."""
    restored = phpserial.loads(phpserial.dumps(value))
    expected = dict(enumerate(value)) if isinstance(value, list) else value
    assert restored == expected
    assert phpserial.dumps({"a": "é"}) == b'a:1:{s:1:"a";s:2:"\xc3\xa9";}'
    assert phpserial.decode_base64(base64.b64encode(b'a:1:{i:4;s:2:"10";}').decode()) == {4: "10"}
