"""A stateful WHMCS External API simulator (integrations.md §4.7) with `/_sim/` hooks for tests and demos.

`create_app(state)` returns a Flask app serving `POST /includes/api.php`; run it on a real port
(werkzeug `make_server(..., threaded=True)`) so clients exercise real HTTP, timeouts included.
"""

from __future__ import annotations

import json
import time
import urllib.request
from decimal import Decimal
from typing import Any

from flask import Flask, Response, jsonify, request

from .actions import ACTIONS, ActionError, emit_hook, record_payment
from .formats import LIST_ACTIONS, LOST_REPLY_PAGE, PHP_FATAL_PAGE, action_name, php_params, to_nvp, to_xml
from .state import (
    ApiCredential,
    Client,
    Currency,
    EmailTemplate,
    Fault,
    Invoice,
    InvoiceItem,
    Service,
    WhmcsState,
    money,
    today,
)

__all__ = ["ApiCredential", "WhmcsState", "create_app"]

SECRET_PARAMS = frozenset({"secret", "password", "accesskey"})
FAULT_KINDS = ("latency", "timeout", "error500", "lost_reply")


class AuthError(Exception):
    """Authentication or access failure: WHMCS answers HTTP 403."""


def create_app(state: WhmcsState | None = None) -> Flask:
    """Build the simulator app around `state` (a fresh WhmcsState when omitted)."""
    app = Flask(__name__)
    app.extensions["whmcs"] = state or WhmcsState()
    register_api(app)
    register_sim_hooks(app)
    return app


def sim_state(app: Flask) -> WhmcsState:
    """The WhmcsState behind a simulator app."""
    return app.extensions["whmcs"]


def reply(payload: dict[str, Any], response_type: str, status: int = 200) -> Response:
    """Render an API reply as JSON, XML or NVP."""
    if response_type == "xml":
        return Response(to_xml(payload), status=status, mimetype="text/xml")
    if response_type == "nvp":
        return Response(to_nvp(payload), status=status, mimetype="text/plain")
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def authenticate(state: WhmcsState, params: dict[str, Any], ip: str) -> ApiCredential | None:
    """Check, in WHMCS's order, the banned list, access key or IP allow-list, then the credentials."""
    if ip in state.banned_ips:
        raise AuthError("IP Banned")
    supplied_key = params.get("accesskey")
    if state.accesskey and supplied_key:
        if supplied_key != state.accesskey:
            raise AuthError("Invalid Access Key")
    elif ip not in state.allowed_ips:
        raise AuthError(f"Invalid IP {ip}")
    identifier = params.get("identifier") or params.get("username") or ""
    secret = params.get("secret") or params.get("password") or ""
    if not identifier or not secret:
        raise AuthError("Invalid or missing credentials")
    for credential in state.credentials:
        if credential.identifier == identifier:
            if credential.disabled:
                raise AuthError("Administrator Account Disabled")
            if credential.secret != secret:
                raise AuthError("Authentication Failed")
            return credential
    if identifier == state.admin_username:
        if state.admin_disabled:
            raise AuthError("Administrator Account Disabled")
        if state.legacy_password_ok(identifier, secret):
            return None
        raise AuthError("Authentication Failed")
    raise AuthError("Invalid or missing credentials")


def register_api(app: Flask) -> None:
    """Add the `POST /includes/api.php` route."""

    @app.route("/includes/api.php", methods=["POST", "GET"])
    def api() -> Response:
        """Answer one WHMCS API call: auth, action dispatch, faults, response type."""
        state = sim_state(app)
        params = php_params(request.values)
        name = action_name(str(params.get("action", "")))
        asked = str(params.get("responsetype", "")).lower()
        response_type = asked or ("xml" if name in LIST_ACTIONS else "nvp")
        if response_type not in ("json", "xml", "nvp") or (response_type == "nvp" and name in LIST_ACTIONS):
            supported = "json, xml" if name in LIST_ACTIONS else "json, xml, nvp"
            message = f'Unsupported API response type format "{asked}". Supported formats include: {supported}'
            return reply({"result": "error", "message": message}, "json")
        with state.lock:
            try:
                credential = authenticate(state, params, request.remote_addr or "")
                if not name:
                    raise AuthError("Command Not Found")
                if name not in ACTIONS:
                    raise AuthError(f'Invalid API Action: "{name}" is not a valid API action')
                if (
                    credential is not None
                    and credential.allowed_actions is not None
                    and name not in credential.allowed_actions
                ):
                    raise AuthError(f'Invalid Permissions: API action "{name}" is not allowed')
            except AuthError as exc:
                return reply({"result": "error", "message": str(exc)}, response_type, 403)
            fault = state.take_fault(name)
        if fault is not None and fault.kind in ("latency", "timeout"):
            # A timeout is a long latency: the caller gives up, yet WHMCS still completes the call.
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "error500":
            return Response(PHP_FATAL_PAGE, status=500, mimetype="text/html")
        with state.lock:
            try:
                payload = {"result": "success", **ACTIONS[name](state, params)}
            except ActionError as exc:
                payload = {"result": "error", "message": str(exc)}
            logged = {key: value for key, value in params.items() if key not in SECRET_PARAMS}
            state.api_log.append({"action": name, "params": logged, "result": payload["result"]})
        if fault is not None and fault.kind == "lost_reply":
            return Response(LOST_REPLY_PAGE, status=504, mimetype="text/html")
        return reply(payload, response_type)


def module_over_http(url: str, timeout: float) -> Any:
    """A server-module callback that POSTs {function, params} to `url` and returns its text reply."""

    def call(function: str, params: dict[str, Any]) -> str:
        body = json.dumps({"function": function, "params": params}, default=str).encode()
        request_ = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request_, timeout=timeout) as response:
                return response.read().decode().strip()
        except OSError as exc:
            return f"Module call failed: {exc}"

    return call


def register_sim_hooks(app: Flask) -> None:
    """Test and demo hooks under `/_sim/`: seed, inspect, pay, configure and inject faults."""

    @app.put("/_sim/config")
    def configure() -> Response:
        """Set webhook_url, webhook_headers, accesskey, allowed_ips, banned_ips, module_result or _url, credentials."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            if "webhook_url" in body:
                state.webhook_url = body["webhook_url"]
            if "webhook_headers" in body:
                headers = body["webhook_headers"] or {}
                if not isinstance(headers, dict) or not all(
                    isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
                ):
                    return jsonify(error="webhook_headers must be an object of header name to string value"), 400
                state.webhook_headers = dict(headers)
            if "accesskey" in body:
                state.accesskey = body["accesskey"]
            if "allowed_ips" in body:
                state.allowed_ips = set(body["allowed_ips"])
            if "banned_ips" in body:
                state.banned_ips = set(body["banned_ips"])
            if "module_result" in body:
                state.module_result = body["module_result"]
            if "module_url" in body:
                state.server_module = module_over_http(body["module_url"], 10.0) if body["module_url"] else None
            if "credentials" in body:
                state.credentials = [
                    ApiCredential(
                        c["identifier"], c["secret"], set(c["allowed_actions"]) if c.get("allowed_actions") else None
                    )
                    for c in body["credentials"]
                ]
        return jsonify(ok=True)

    @app.post("/_sim/client-fields")
    def define_client_fields() -> Response:
        """Define client custom fields: {"<id>": "<name>"}."""
        state = sim_state(app)
        with state.lock:
            state.client_field_names.update({int(key): value for key, value in request.get_json(force=True).items()})
        return jsonify(state.client_field_names)

    @app.post("/_sim/currencies")
    def add_currency() -> Response:
        """Add a currency: {id, code, prefix, suffix}."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            state.currencies[int(body["id"])] = Currency(int(body["id"]), body["code"], body["prefix"], body["suffix"])
        return jsonify(ok=True)

    @app.post("/_sim/clients")
    def seed_client() -> Response:
        """Seed a client: {id?, firstname, lastname, email, credit, currency, status, customfields{id: value}}."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            client_id = int(body.get("id") or state.next_id("client"))
            state.reserve_id("client", client_id)
            state.clients[client_id] = Client(
                id=client_id,
                firstname=body.get("firstname", f"First{client_id}"),
                lastname=body.get("lastname", f"Last{client_id}"),
                email=body.get("email", f"client{client_id}@example.test"),
                companyname=body.get("companyname", ""),
                status=body.get("status", "Active"),
                currency=int(body.get("currency", 1)),
                credit=Decimal(str(body.get("credit", "0"))),
                customfields={int(k): str(v) for k, v in body.get("customfields", {}).items()},
            )
        return jsonify(id=client_id), 201

    @app.get("/_sim/clients/<int:client_id>")
    def read_client(client_id: int) -> Response:
        """Read a client's credit, outstanding balance and custom fields as WHMCS holds them."""
        state = sim_state(app)
        with state.lock:
            client = state.clients[client_id]
            return jsonify(
                id=client.id,
                credit=money(client.credit),
                outstanding=money(state.outstanding(client.id)),
                customfields={str(k): v for k, v in client.customfields.items()},
                status=client.status,
            )

    @app.post("/_sim/services")
    def seed_service() -> Response:
        """Seed a service: {id?, clientid, pid, domain, username, serverid, status, customfields[], configoptions[]}."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            service_id = int(body.get("id") or state.next_id("service"))
            state.reserve_id("service", service_id)
            known = {key: body[key] for key in Service.__dataclass_fields__ if key in body and key != "recurringamount"}
            known.update(id=service_id, clientid=int(body["clientid"]), pid=int(body.get("pid", 1)))
            state.services[service_id] = Service(
                **known, recurringamount=Decimal(str(body.get("recurringamount", "0")))
            )
        return jsonify(id=service_id), 201

    @app.get("/_sim/services/<int:service_id>")
    def read_service(service_id: int) -> Response:
        """Read a service's status and suspension reason."""
        state = sim_state(app)
        with state.lock:
            service = state.services[service_id]
            return jsonify(
                id=service.id,
                status=service.status,
                suspensionreason=service.suspensionreason,
                nextduedate=service.nextduedate,
            )

    @app.post("/_sim/invoices")
    def seed_invoice() -> Response:
        """Seed an invoice: {userid, date?, duedate?, status?, notes?, items: [{description, amount}]}."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            invoice = Invoice(
                id=state.next_id("invoice"),
                userid=int(body["userid"]),
                date=body.get("date", today().isoformat()),
                duedate=body.get("duedate", today().isoformat()),
                status=body.get("status", "Unpaid"),
                notes=body.get("notes", ""),
            )
            invoice.items = [
                InvoiceItem(state.next_id("item"), item["description"], Decimal(str(item["amount"])))
                for item in body.get("items", [])
            ]
            state.invoices[invoice.id] = invoice
        return jsonify(id=invoice.id), 201

    @app.get("/_sim/invoices")
    def list_invoices() -> Response:
        """List invoices (optionally `?userid=`) with items, status and balance."""
        state = sim_state(app)
        userid = request.args.get("userid", type=int)
        with state.lock:
            return jsonify(
                [
                    {
                        "id": invoice.id,
                        "userid": invoice.userid,
                        "date": invoice.date,
                        "duedate": invoice.duedate,
                        "status": invoice.status,
                        "notes": invoice.notes,
                        "total": money(invoice.total),
                        "balance": money(invoice.balance),
                        "items": [
                            {"description": item.description, "amount": money(item.amount)} for item in invoice.items
                        ],
                    }
                    for invoice in state.invoices.values()
                    if userid is None or invoice.userid == userid
                ]
            )

    @app.get("/_sim/credits")
    def list_credits() -> Response:
        """Read the credit log (optionally `?clientid=`), one row per AddCredit or credit application."""
        state = sim_state(app)
        clientid = request.args.get("clientid", type=int)
        with state.lock:
            return jsonify(
                [
                    {
                        "id": e.id,
                        "clientid": e.clientid,
                        "date": e.date,
                        "description": e.description,
                        "amount": money(e.amount),
                        "relid": e.relid,
                    }
                    for e in state.credit_log
                    if clientid is None or e.clientid == clientid
                ]
            )

    @app.get("/_sim/billable-items")
    def list_billable_items() -> Response:
        """Read the billable items waiting for the WHMCS cron."""
        state = sim_state(app)
        with state.lock:
            return jsonify(
                [
                    {
                        "id": item.id,
                        "clientid": item.clientid,
                        "description": item.description,
                        "amount": money(item.amount),
                        "invoiceaction": item.invoiceaction,
                        "duedate": item.duedate,
                        "unit": item.unit,
                    }
                    for item in state.billable_items.values()
                ]
            )

    @app.post("/_sim/templates")
    def add_template() -> Response:
        """Add an email template: {name, subject, message, type?, disabled?}."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            state.templates[body["name"]] = EmailTemplate(
                body["name"], body["subject"], body["message"], body.get("type", "general"), bool(body.get("disabled"))
            )
        return jsonify(ok=True), 201

    @app.get("/_sim/outbox")
    def read_outbox() -> Response:
        """Read every email SendEmail accepted, with its rendered subject, body and merge data."""
        state = sim_state(app)
        with state.lock:
            return jsonify(state.outbox)

    @app.get("/_sim/hooks")
    def read_hooks() -> Response:
        """Read the hook events fired so far (and delivery errors, if the webhook failed)."""
        state = sim_state(app)
        with state.lock:
            return jsonify(state.hook_log)

    @app.get("/_sim/api-log")
    def read_api_log() -> Response:
        """Read the API calls received (secrets removed)."""
        state = sim_state(app)
        with state.lock:
            return jsonify(state.api_log)

    @app.post("/_sim/payments")
    def make_payment() -> Response:
        """Pay an invoice as a client would: {invoiceid, amount?}; fires AddInvoicePayment and InvoicePaid."""
        state = sim_state(app)
        body = request.get_json(force=True)
        with state.lock:
            invoice = state.invoices[int(body["invoiceid"])]
            amount = Decimal(str(body["amount"])) if body.get("amount") is not None else invoice.balance
            record_payment(
                state,
                invoice,
                amount,
                body.get("transid", f"sim-{len(state.hook_log)}"),
                body.get("gateway", "paypal"),
                today().isoformat(),
            )
            return jsonify(invoiceid=invoice.id, status=invoice.status, balance=money(invoice.balance))

    @app.post("/_sim/cron")
    def run_cron() -> Response:
        """Fire the DailyCronJob and AfterCronJob hooks, as the WHMCS daily cron would."""
        state = sim_state(app)
        with state.lock:
            emit_hook(state, "DailyCronJob", {})
            emit_hook(state, "AfterCronJob", {})
        return jsonify(ok=True)

    @app.post("/_sim/faults")
    def add_fault() -> Response:
        """Arm a fault: {action or "*", kind: latency|timeout|error500|lost_reply, count?, seconds?}."""
        state = sim_state(app)
        body = request.get_json(force=True)
        if body.get("kind") not in FAULT_KINDS:
            return jsonify(error=f"kind must be one of {FAULT_KINDS}"), 400
        with state.lock:
            state.faults.append(
                Fault(
                    action_name(body.get("action", "*")) or "*",
                    body["kind"],
                    body.get("count"),
                    float(body.get("seconds", 0)),
                )
            )
        return jsonify(ok=True), 201

    @app.delete("/_sim/faults")
    def clear_faults() -> Response:
        """Disarm every fault."""
        state = sim_state(app)
        with state.lock:
            state.faults.clear()
        return jsonify(ok=True)
