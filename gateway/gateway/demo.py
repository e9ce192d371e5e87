"""The seeded demo of `make run`: simulated WHMCS clients and PBX traffic, and the Tollgate objects that bill them.

Everything goes through the public gateway API (admin key) and the simulators' `/_sim/` hooks, as an
operator and the WHMCS module would, so the demo also checks that the API accepts what it is given.
Seeding is idempotent: each object is looked up by name (or id) first, and PUTs repeat harmlessly.

The numbers are chosen so that `tollgate autobill` then `tollgate autosuspend` tell a story:
client 1 (prepaid, healthy credit) is charged and stays active; client 2 (prepaid, credit just
above its low-balance threshold, expensive international calls on FusionPBX) gets a Low Balance
Alert, runs out of credit and is suspended (extensions disabled in the FusionPBX database, commands
on its event socket, a "VoIP Zero Balance" email); client 3 (postpaid, exempt from autosuspend) gets
billable items on its next invoice. `tollgate demo topup 2` adds credit, pays the open invoice and
sends the payment event, which restores client 2.
"""

from __future__ import annotations

import io
import json
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import requests

from .client import ApiError, GatewayClient

HTTP_TIMEOUT_SECONDS = 30
"""Timeout of each call to a simulator hook."""

TRAFFIC_DAYS = 14
"""Demo calls fall in the 14 days before today's midnight (UTC): inside the current billing period."""

NEXT_DUE_IN_DAYS = 10
"""Each demo service is next due 10 days from today, so its current period started about 20 days ago."""

WHMCS_IDENTIFIER, WHMCS_SECRET = "sim-identifier", "sim-secret"
"""The WHMCS simulator's default API credentials."""

VODIA_ADMIN = ("admin", "password")
"""The Vodia simulator's default system admin."""

FIELD_IDS = {"has_voip": 11, "manual_suspend": 12, "voip_suspended": 13, "low_balance_threshold": 14}
"""WHMCS client custom field ids of the demo, by the name balance-service's settings give them."""

FIELD_NAMES = {11: "Has VoIP Service", 12: "Manual VoIP Suspend", 13: "VoIP Suspended", 14: "Low Balance Threshold"}

SERVER_NAMES = {"fusionpbx": "Demo FusionPBX", "vodia": "Demo Vodia", "lesnet": "Demo LesNet"}
TARIFF_NAME = "Demo carrier (USD)"

FUSIONPBX_TENANT = "northwind.fusionpbx.demo"
FUSIONPBX_DID = "15195550200"
FUSIONPBX_EXTENSIONS = ("201", "202", "203")
VODIA_DOMAIN = "maple.vodia.demo"
VODIA_DID = "15195550100"
VODIA_EXTENSIONS = ("101", "102")
LESNET_ACCOUNT = "11330"
LESNET_PEER = "D4E3CD2BFC791"
LESNET_DID = "12045550300"

TARIFF_CSV = """Prefix,Description,RateValue,Increment,ConnectFee
1,USA/Canada,0.0100,6/6,0
1800,USA/Canada toll-free,0,6/6,0
1833,USA/Canada toll-free,0,6/6,0
1844,USA/Canada toll-free,0,6/6,0
1855,USA/Canada toll-free,0,6/6,0
1866,USA/Canada toll-free,0,6/6,0
1877,USA/Canada toll-free,0,6/6,0
1888,USA/Canada toll-free,0,6/6,0
1907,USA Alaska,0.0250,6/6,0
1808,USA Hawaii,0.0200,6/6,0
1242,Bahamas,0.1800,60/60,0
1876,Jamaica,0.2200,60/60,0
1809,Dominican Republic,0.1100,60/60,0
44,United Kingdom,0.0200,60/60,0
4420,United Kingdom London,0.0150,60/60,0
447,United Kingdom mobile,0.1200,60/60,0
33,France,0.0200,60/60,0
336,France mobile,0.0900,60/60,0
337,France mobile,0.0900,60/60,0
49,Germany,0.0200,60/60,0
4915,Germany mobile,0.1100,60/60,0
4916,Germany mobile,0.1100,60/60,0
4917,Germany mobile,0.1100,60/60,0
52,Mexico,0.0300,60/60,0
521,Mexico mobile,0.0450,60/60,0
61,Australia,0.0300,60/60,0
614,Australia mobile,0.0800,60/60,0
91,India,0.0350,60/60,0
"""
TARIFF_MAPPING = {
    "Prefix": "Prefix",
    "Description": "Description",
    "RateValue": "RateValue",
    "Increment": "Increment",
    "ConnectFee": "ConnectFee",
}

FILTERS = {"suppress": "*xx,*xxx,#xx", "exclude_from_billing": "911,933"}
"""FusionPBX filters: feature codes are hidden, emergency calls shown but never billed."""

# Long international calls of client 2, on top of its generated traffic: enough to exhaust its credit.
# (dialled number, billed seconds, days before today's midnight)
FUSIONPBX_EXPENSIVE_CALLS = (
    ("011447700900123", 1500, 2),  # UK mobile, 25 min
    ("011491512345678", 1200, 3),  # Germany mobile, 20 min
    ("01133612345678", 1080, 4),  # France mobile, 18 min
    ("0115215512345678", 900, 5),  # Mexico mobile, 15 min
    ("18765550100", 600, 6),  # Jamaica, 10 min
)


@dataclass(frozen=True)
class DemoClient:
    """A WHMCS client of the demo, with its one VoIP service."""

    client_id: int
    firstname: str
    lastname: str
    companyname: str
    credit: str
    threshold: str
    voip_suspended: str
    service_id: int
    product_id: int
    server: str
    story: str


CLIENTS = (
    DemoClient(
        1,
        "Maya",
        "Patel",
        "Maple Dental",
        "50.00",
        "10.00",
        "None",
        101,
        201,
        "vodia",
        "prepaid with healthy credit and 100 free minutes: charged, stays active",
    ),
    DemoClient(
        2,
        "Noah",
        "Wright",
        "Northwind Cafe",
        "6.00",
        "5.00",
        "None",
        102,
        202,
        "fusionpbx",
        "prepaid near zero: low-balance alert, then suspended until a top-up",
    ),
    DemoClient(
        3,
        "Hana",
        "Okafor",
        "Harbor Logistics",
        "0.00",
        "",
        "No",
        103,
        203,
        "lesnet",
        "postpaid (exempt from autosuspend): usage added to the next invoice",
    ),
)


def demo_packages(tariff_id: int) -> list[dict[str, Any]]:
    """The three packages, linked to the demo's WHMCS product ids."""
    dial = {"country_code": "1", "nanp_10digit": True}
    return [
        {
            "name": "Demo Prepaid 100",
            "whmcs_product_ids": [201],
            "tariff_id": tariff_id,
            "markup_percent": "25",
            "free_minutes": 100,
            "billing_mode": "prepaid",
            **dial,
        },
        {
            "name": "Demo Prepaid",
            "whmcs_product_ids": [202],
            "tariff_id": tariff_id,
            "markup_percent": "20",
            "billing_mode": "prepaid",
            **dial,
        },
        {
            "name": "Demo Postpaid",
            "whmcs_product_ids": [203],
            "tariff_id": tariff_id,
            "markup_percent": "15",
            "billing_mode": "postpaid",
            **dial,
        },
    ]


@dataclass(frozen=True)
class DemoEnvironment:
    """Where the gateway and the simulators listen, from the TOLLGATE_SIM_* variables of scripts/env.sh."""

    gateway_url: str
    admin_key: str
    whmcs_url: str
    vodia_url: str
    lesnet_url: str
    smtp_url: str
    fusionpbx_db: str
    esl_host: str
    esl_port: int
    esl_password: str

    @classmethod
    def from_env(cls, gateway_url: str, admin_key: str, env: Mapping[str, str] | None = None) -> DemoEnvironment:
        """Read the simulator ports (or `TOLLGATE_SIM_<NAME>_URL` overrides) from `env` (default os.environ)."""
        env = os.environ if env is None else env

        def url(name: str, default_port: int) -> str:
            explicit = env.get(f"TOLLGATE_SIM_{name}_URL")
            return (explicit or f"http://127.0.0.1:{env.get(f'TOLLGATE_SIM_{name}_PORT', default_port)}").rstrip("/")

        return cls(
            gateway_url=gateway_url.rstrip("/"),
            admin_key=admin_key,
            whmcs_url=url("WHMCS", 8090),
            vodia_url=url("VODIA", 8092),
            lesnet_url=url("LESNET", 8093),
            smtp_url=url("SMTP_HTTP", 8094),
            fusionpbx_db=env.get(
                "TOLLGATE_SIM_FUSIONPBX_DB", "postgresql://postgres@127.0.0.1:5432/tollgate_demo_fusionpbx"
            ),
            esl_host=env.get("TOLLGATE_SIM_ESL_HOST", "127.0.0.1"),
            esl_port=int(env.get("TOLLGATE_SIM_ESL_PORT", 8021)),
            esl_password=env.get("TOLLGATE_SIM_ESL_PASSWORD", "ClueCon"),
        )


@dataclass
class SeedReport:
    """What a seeding run created and what it found already there, by kind of object."""

    created: dict[str, list[str]] = field(default_factory=dict)
    kept: dict[str, list[str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    def add(self, kind: str, label: str, created: bool) -> None:
        (self.created if created else self.kept).setdefault(kind, []).append(label)

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "kept": self.kept, "ids": self.ids}


class SimulatorError(RuntimeError):
    """A simulator hook answered with an error."""


class Demo:
    """Seeds and describes the demo against one gateway and its simulators."""

    def __init__(self, env: DemoEnvironment):
        self.env = env
        self.api = GatewayClient(env.gateway_url, env.admin_key, timeout=120)
        self.http = requests.Session()

    # -- the whole seed ---------------------------------------------------------------------------

    def seed(self, today: date | None = None) -> SeedReport:
        """Seed simulators and Tollgate; safe to run again (nothing is duplicated)."""
        today = today or datetime.now(UTC).date()
        report = SeedReport()
        self.seed_whmcs(report, today)
        self.seed_fusionpbx(report, today)
        self.seed_vodia(report, today)
        self.seed_lesnet(report, today)
        servers = self.seed_servers(report)
        tariff_id = self.seed_tariff(report)
        packages = self.seed_packages(report, tariff_id)
        self.api.call("PUT", f"/v1/servers/{servers['fusionpbx']}/filters", json=FILTERS)
        self.seed_whmcs_settings()
        self.seed_services(report, servers, today)
        report.ids.update(servers=servers, tariff=tariff_id, packages=packages)
        report.ids["clients"] = {c.client_id: {"service": c.service_id, "product": c.product_id} for c in CLIENTS}
        return report

    # -- simulators -------------------------------------------------------------------------------

    def sim(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = self.http.request(method, url, timeout=HTTP_TIMEOUT_SECONDS, **kwargs)
        if response.status_code >= 400:
            raise SimulatorError(f"{method} {url} answered {response.status_code}: {response.text[:200]}")
        return response

    def seed_whmcs(self, report: SeedReport, today: date) -> None:
        """Client custom fields, the three clients and their VoIP services in the WHMCS simulator."""
        base = self.env.whmcs_url
        self.sim("POST", f"{base}/_sim/client-fields", json={str(k): v for k, v in FIELD_NAMES.items()})
        for client in CLIENTS:
            if self.whmcs_api("GetClientsDetails", check=False, clientid=client.client_id)["result"] == "success":
                report.add("whmcs clients", client.companyname, created=False)
            else:
                fields = {
                    FIELD_IDS["has_voip"]: "Yes",
                    FIELD_IDS["manual_suspend"]: "No",
                    FIELD_IDS["voip_suspended"]: client.voip_suspended,
                    FIELD_IDS["low_balance_threshold"]: client.threshold,
                }
                self.sim(
                    "POST",
                    f"{base}/_sim/clients",
                    json={
                        "id": client.client_id,
                        "firstname": client.firstname,
                        "lastname": client.lastname,
                        "companyname": client.companyname,
                        "email": f"{client.firstname.lower()}@{client.companyname.split()[0].lower()}.example",
                        "credit": client.credit,
                        "customfields": {str(k): v for k, v in fields.items()},
                    },
                )
                report.add("whmcs clients", client.companyname, created=True)
            if int(self.whmcs_api("GetClientsProducts", serviceid=client.service_id).get("totalresults", 0)):
                report.add("whmcs services", str(client.service_id), created=False)
            else:
                fields = service_fields(self.env, client)
                self.sim(
                    "POST",
                    f"{base}/_sim/services",
                    json={
                        "id": client.service_id,
                        "clientid": client.client_id,
                        "pid": client.product_id,
                        "name": f"VoIP {client.server}",
                        "domain": fields["domain"],
                        "username": fields["username"],
                        "nextduedate": next_due(today).isoformat(),
                        "customfields": [{"name": k, "value": v} for k, v in fields["custom_fields"].items()],
                    },
                )
                report.add("whmcs services", str(client.service_id), created=True)

    def seed_fusionpbx(self, report: SeedReport, today: date) -> None:
        """The tenant of client 2 in the simulated FusionPBX database, and its calls (once: the database persists)."""
        from tollgate_sim.fusionpbx import TrafficGenerator, connect, create_schema, seed_tenant

        db = self.env.fusionpbx_db
        create_schema(db)
        with connect(db) as connection:
            found = connection.execute("SELECT 1 FROM v_domains WHERE domain_name = %s", [FUSIONPBX_TENANT]).fetchone()
        if found:
            report.add("fusionpbx tenants", FUSIONPBX_TENANT, created=False)
            return
        extensions = [
            {"extension": number, "outbound_caller_id_number": FUSIONPBX_DID} for number in FUSIONPBX_EXTENSIONS
        ]
        seed_tenant(db, FUSIONPBX_TENANT, extensions=extensions, gateways=["carrier"])
        generator = TrafficGenerator(db, seed=7)
        end = midnight(today)
        rows = list(generator.iter_rows(FUSIONPBX_TENANT, 120, end - timedelta(days=TRAFFIC_DAYS), end))
        for number, billsec, days_ago in FUSIONPBX_EXPENSIVE_CALLS:
            start = end - timedelta(days=days_ago, hours=-10)
            rows.append(generator.make_call(FUSIONPBX_TENANT, "outbound", number, billsec, start, extension="201"))
        inserted = generator.insert(rows)
        report.add("fusionpbx tenants", f"{FUSIONPBX_TENANT} ({inserted} CDR rows)", created=True)

    def add_fusionpbx_calls(self, count: int, seed: int | None = None) -> int:
        """Add `count` calls of the last hour to the FusionPBX tenant (more traffic to bill), return rows inserted."""
        from tollgate_sim.fusionpbx import TrafficGenerator

        generator = TrafficGenerator(
            self.env.fusionpbx_db, seed=seed if seed is not None else random.randrange(1 << 30)
        )
        end = datetime.now(UTC)
        return generator.insert(
            generator.iter_rows(FUSIONPBX_TENANT, count, end - timedelta(hours=1), end, unanswered_ratio=0.1)
        )

    def seed_vodia(self, report: SeedReport, today: date) -> None:
        """Client 1's domain, accounts and generated CDRs in the Vodia simulator."""
        base = self.env.vodia_url
        state = self.sim("GET", f"{base}/_sim/state").json()
        if VODIA_DOMAIN in state.get("domains", {}):
            report.add("vodia domains", VODIA_DOMAIN, created=False)
            return
        accounts = [{"account": number, "displayname": f"Maple Dental {number}"} for number in VODIA_EXTENSIONS]
        self.sim(
            "POST",
            f"{base}/_sim/domains",
            json={"name": VODIA_DOMAIN, "accounts": accounts, "trunks": [{"id": 1, "name": "carrier"}]},
        )
        end = midnight(today)
        start = end - timedelta(days=TRAFFIC_DAYS)
        generated = self.sim(
            "POST",
            f"{base}/_sim/domains/{VODIA_DOMAIN}/generate",
            json={"count": 40, "start": start.timestamp(), "end": end.timestamp(), "seed": 11, "trunk": 1},
        ).json()
        report.add("vodia domains", f"{VODIA_DOMAIN} ({generated['generated']} CDRs)", created=True)

    def seed_lesnet(self, report: SeedReport, today: date) -> None:
        """Client 3's account, peer, DID and calls in the LesNet simulator, then a file rewrite."""
        base = self.env.lesnet_url
        state = self.sim("GET", f"{base}/_sim/state").json()
        if LESNET_ACCOUNT in state.get("accounts", {}):
            report.add("lesnet accounts", LESNET_ACCOUNT, created=False)
            return
        self.sim(
            "POST", f"{base}/_sim/accounts", json={"account": LESNET_ACCOUNT, "peers": {LESNET_PEER: [LESNET_DID]}}
        )
        calls = lesnet_calls(midnight(today), count=40, seed=13)
        self.sim("POST", f"{base}/_sim/accounts/{LESNET_ACCOUNT}/calls", json=calls)
        self.sim("POST", f"{base}/_sim/regenerate", json={})
        report.add("lesnet accounts", f"{LESNET_ACCOUNT} ({len(calls)} calls)", created=True)

    # -- Tollgate, over the gateway ---------------------------------------------------------------

    def seed_servers(self, report: SeedReport) -> dict[str, int]:
        """The three servers, found by name (their settings refreshed) or created."""
        existing = {server["name"]: server for server in self.api.call("GET", "/v1/servers")}
        ids = {}
        for kind, body in server_bodies(self.env).items():
            found = existing.get(body["name"])
            if found:
                self.api.call("PATCH", f"/v1/servers/{found['id']}", json={"settings": body["settings"]})
                ids[kind] = found["id"]
            else:
                ids[kind] = self.api.call("POST", "/v1/servers", json=body)["id"]
            report.add("servers", f"{body['name']} (id {ids[kind]})", created=not found)
        return ids

    def seed_tariff(self, report: SeedReport) -> int:
        """The demo tariff, found by name or created, and its rate deck (a re-import of the same deck adds nothing)."""
        found = [tariff for tariff in self.api.call("GET", "/v1/tariffs") if tariff["name"] == TARIFF_NAME]
        tariff_id = found[0]["id"] if found else self.api.call("POST", "/v1/tariffs", json={"name": TARIFF_NAME})["id"]
        report.add("tariffs", f"{TARIFF_NAME} (id {tariff_id})", created=not found)
        result = self.api.call(
            "POST",
            f"/v1/tariffs/{tariff_id}/import",
            files={"file": ("demo-carrier.csv", io.BytesIO(TARIFF_CSV.encode()), "text/csv")},
            data={"mapping": json.dumps(TARIFF_MAPPING)},
        )
        if result.get("rejected"):
            raise SimulatorError(f"the demo rate deck was rejected in part: {result['rejected']}")
        label = f"version {result['version']}" + (f" ({result['imported']} rates)" if result["created"] else "")
        report.add("tariff versions", label, result["created"])
        return tariff_id

    def seed_packages(self, report: SeedReport, tariff_id: int) -> dict[str, int]:
        """The three packages, found by name (kept as they are) or created."""
        existing = {package["name"]: package for package in self.api.call("GET", "/v1/packages")}
        ids = {}
        for body in demo_packages(tariff_id):
            found = existing.get(body["name"])
            ids[body["name"]] = found["id"] if found else self.api.call("POST", "/v1/packages", json=body)["id"]
            report.add("packages", f"{body['name']} (id {ids[body['name']]})", created=not found)
        return ids

    def seed_whmcs_settings(self) -> None:
        """Point balance-service at the WHMCS simulator, with the demo's client field ids."""
        self.api.call(
            "PUT",
            "/v1/settings/whmcs",
            json={
                "url": self.env.whmcs_url,
                "identifier": WHMCS_IDENTIFIER,
                "secret": WHMCS_SECRET,
                "client_fields": FIELD_IDS,
            },
        )

    def seed_services(self, report: SeedReport, servers: dict[str, int], today: date) -> None:
        """Assign each client's service as the WHMCS module's CreateAccount would (PUT is an upsert)."""
        for client in CLIENTS:
            try:
                self.api.call("GET", f"/v1/services/{client.service_id}")
                known = True
            except ApiError as error:
                if error.status != 404:
                    raise
                known = False
            fields = service_fields(self.env, client)
            self.api.call(
                "PUT",
                f"/v1/services/{client.service_id}",
                json={
                    "client_id": client.client_id,
                    "product_id": client.product_id,
                    "server_id": servers[client.server],
                    "domain": fields["domain"],
                    "username": fields["username"],
                    "custom_fields": fields["custom_fields"],
                    "status": "Active",
                    "billing_cycle": "Monthly",
                    "next_due_date": next_due(today).isoformat(),
                },
            )
            report.add("services", f"{client.service_id} ({client.companyname}, {client.server})", created=not known)

    # -- after the seed: top-ups and a description --------------------------------------------------

    def whmcs_api(self, action: str, check: bool = True, **params: Any) -> dict[str, Any]:
        """Call the WHMCS simulator's External API as an admin script would; `check` raises on an error reply."""
        body = {"action": action, "identifier": WHMCS_IDENTIFIER, "secret": WHMCS_SECRET, "responsetype": "json"}
        response = self.http.post(
            f"{self.env.whmcs_url}/includes/api.php", data={**body, **params}, timeout=HTTP_TIMEOUT_SECONDS
        )
        reply = response.json()
        if check and reply.get("result") != "success":
            raise SimulatorError(f"WHMCS {action}: {reply.get('message')}")
        return reply

    def topup(self, client_id: int, amount: Decimal) -> dict[str, Any]:
        """Add credit in WHMCS, pay the client's unpaid invoices, and send the payment event as the WHMCS hook would."""
        credit = self.whmcs_api(
            "AddCredit", clientid=client_id, amount=f"{amount:.2f}", description="Demo top-up (Add Funds)"
        )
        invoices = self.sim("GET", f"{self.env.whmcs_url}/_sim/invoices", params={"userid": client_id}).json()
        paid = []
        for invoice in invoices:
            if invoice["status"] == "Unpaid":
                self.sim("POST", f"{self.env.whmcs_url}/_sim/payments", json={"invoiceid": invoice["id"]})
                paid.append(invoice["id"])
        event = {"event": "InvoicePaid" if paid else "AddInvoicePayment", "client_id": client_id}
        if paid:
            event["invoice_id"] = paid[-1]
        accepted = self.api.call("POST", "/v1/events/whmcs", json=event)
        return {"credit": credit.get("newbalance"), "paid_invoices": paid, "event": event, "accepted": accepted}

    def describe(self) -> dict[str, Any]:
        """The demo's ids as Tollgate knows them now (servers, tariff, packages, services)."""
        servers = {
            s["name"]: s["id"] for s in self.api.call("GET", "/v1/servers") if s["name"] in SERVER_NAMES.values()
        }
        tariffs = {t["name"]: t["id"] for t in self.api.call("GET", "/v1/tariffs") if t["name"] == TARIFF_NAME}
        names = {p["name"] for p in demo_packages(0)}
        packages = {p["name"]: p["id"] for p in self.api.call("GET", "/v1/packages") if p["name"] in names}
        return {
            "gateway": self.env.gateway_url,
            "servers": servers,
            "tariffs": tariffs,
            "packages": packages,
            "clients": [
                {
                    "client_id": c.client_id,
                    "company": c.companyname,
                    "service_id": c.service_id,
                    "product_id": c.product_id,
                    "server": SERVER_NAMES[c.server],
                    "credit_at_seed": c.credit,
                    "low_balance_threshold": c.threshold or None,
                    "story": c.story,
                }
                for c in CLIENTS
            ],
            "simulators": {
                "whmcs": self.env.whmcs_url,
                "vodia": self.env.vodia_url,
                "lesnet": self.env.lesnet_url,
                "smtp_sink": f"{self.env.smtp_url}/messages",
                "fusionpbx_db": self.env.fusionpbx_db,
                "event_socket": f"{self.env.esl_host}:{self.env.esl_port}",
            },
        }


def try_next(env: DemoEnvironment) -> str:
    """The commands to try once the demo is seeded, for `tollgate demo show` and the `make run` banner."""
    sink = f"{env.smtp_url}/messages"
    whmcs = env.whmcs_url
    return f"""\
  export PATH=$PWD/.venv/bin:$PATH TG={env.gateway_url} KEY=$(cat var/admin.key)
  tollgate demo show                  # the demo's clients, services and ids
  tollgate autobill --wait            # sync, rate, charge; client 2 runs dry and is suspended at once
  tollgate autosuspend --wait         # the 5-minute cron: every VoIP client evaluated, nothing else changes
  curl -s {sink} | python3 -m json.tool | grep subject   # low balance, zero balance
  curl -s {whmcs}/_sim/clients/2      # WHMCS: credit, outstanding, VoIP Suspended (field 13)
  curl -s -H "Authorization: Bearer $KEY" $TG/v1/clients/2 | python3 -m json.tool
  psql {env.fusionpbx_db} -c "select extension, enabled from v_extensions"
  tollgate demo topup 2 --amount 20   # add credit, pay the invoice, send the payment event: restored
  tollgate demo calls --count 30      # more calls; then: tollgate autobill --run-key again --wait"""


def service_fields(env: DemoEnvironment, client: DemoClient) -> dict[str, Any]:
    """The WHMCS service fields of a demo client, as the Tollgate module would send them."""
    if client.server == "fusionpbx":
        return {
            "domain": f"{FUSIONPBX_TENANT} | {FUSIONPBX_DID}",
            "username": " | ".join(FUSIONPBX_EXTENSIONS),
            "custom_fields": {},
        }
    if client.server == "vodia":
        return {
            "domain": " | ".join((VODIA_DOMAIN, VODIA_DID, *VODIA_EXTENSIONS)),
            "username": "",
            "custom_fields": {},
        }
    return {
        "domain": f"{LESNET_PEER} | {LESNET_DID}",
        "username": LESNET_DID,
        "custom_fields": {
            "Peer ID": LESNET_PEER,
            "DID(s) Attached to Peer": LESNET_DID,
            "CDR Link": f"{env.lesnet_url}/cdr/{LESNET_ACCOUNT}_0000.txt",
        },
    }


def server_bodies(env: DemoEnvironment) -> dict[str, dict[str, Any]]:
    """`POST /v1/servers` bodies of the three demo servers, pointing at the simulators."""
    return {
        "fusionpbx": {
            "name": SERVER_NAMES["fusionpbx"],
            "kind": "fusionpbx",
            "timezone": "America/Toronto",
            "settings": {
                "db_dsn": env.fusionpbx_db,
                "event_socket": {"host": env.esl_host, "port": env.esl_port, "password": env.esl_password},
                "suspend_strategy": "extensions",
            },
        },
        "vodia": {
            "name": SERVER_NAMES["vodia"],
            "kind": "vodia",
            "timezone": "UTC",
            "settings": {
                "base_url": env.vodia_url,
                "username": VODIA_ADMIN[0],
                "password": VODIA_ADMIN[1],
                "auth": "session",
            },
        },
        "lesnet": {
            "name": SERVER_NAMES["lesnet"],
            "kind": "lesnet",
            "timezone": "America/Winnipeg",
            "settings": {"suspend_strategy": "manual"},
        },
    }


def lesnet_calls(end: datetime, count: int, seed: int) -> list[dict[str, Any]]:
    """Deterministic LesNet calls of the demo peer in the 6 days before `end` (the CDR file keeps 7)."""
    rng = random.Random(seed)
    span = int(timedelta(days=6).total_seconds())
    calls = []
    for _ in range(count):
        other = f"1{rng.randint(200, 999)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        direction = rng.choice(("IN", "OUT"))
        source, destination = (other, LESNET_DID) if direction == "IN" else (LESNET_DID, other)
        start = end - timedelta(seconds=span) + timedelta(seconds=rng.randrange(span - 3600))
        duration = 0 if rng.random() < 0.15 else rng.randint(20, 1800)
        calls.append(
            {
                "start": start.isoformat(),
                "peer": LESNET_PEER,
                "source": source,
                "destination": destination,
                "direction": direction,
                "duration": duration,
            }
        )
    return calls


def midnight(day: date) -> datetime:
    """The start of `day` in UTC: demo traffic ends there, so re-seeding the same day gives the same calls."""
    return datetime.combine(day, time.min, UTC)


def next_due(today: date) -> date:
    return today + timedelta(days=NEXT_DUE_IN_DAYS)
