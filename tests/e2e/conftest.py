"""A billing day with known calls: the demo's cast (WHMCS clients, servers, tariff, services) and a small,
hand-written set of CDRs per client instead of the demo's random traffic, on a stack of its own.

Seeding goes through the gateway API and the simulators' `/_sim/` hooks, as `tollgate demo seed` does
(it reuses `gateway.demo`), so every figure the tests expect can be worked out by hand from the calls below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from conftest import ADMIN_KEY, INTERNAL_TOKEN, MIGRATED
from cryptography.fernet import Fernet
from stack import Stack, free_port, stack_environment
from test_demo import SIMULATORS, WORKERS, private_redis, wait_for_port

from gateway.demo import (
    FILTERS,
    FUSIONPBX_DID,
    FUSIONPBX_EXTENSIONS,
    FUSIONPBX_TENANT,
    LESNET_ACCOUNT,
    LESNET_DID,
    LESNET_PEER,
    VODIA_DID,
    VODIA_DOMAIN,
    VODIA_EXTENSIONS,
    Demo,
    DemoEnvironment,
    SeedReport,
)


def day_packages(tariff_id: int) -> list[dict]:
    """The demo's three packages, except that the postpaid one bills inbound calls at a flat 0.0080/min."""
    dial = {"country_code": "1", "nanp_10digit": True}
    return [
        {
            "name": "Day Prepaid 100",
            "whmcs_product_ids": [201],
            "tariff_id": tariff_id,
            "markup_percent": "25",
            "free_minutes": 100,
            "billing_mode": "prepaid",
            **dial,
        },
        {
            "name": "Day Prepaid",
            "whmcs_product_ids": [202],
            "tariff_id": tariff_id,
            "markup_percent": "20",
            "billing_mode": "prepaid",
            **dial,
        },
        {
            "name": "Day Postpaid",
            "whmcs_product_ids": [203],
            "tariff_id": tariff_id,
            "markup_percent": "15",
            "billing_mode": "postpaid",
            "bill_inbound": True,
            "inbound_rate": "0.0080",
            **dial,
        },
    ]


def calls_start() -> datetime:
    """The hour the day's calls start from: 21 h ago, so they all fall in the 24 h a run reports on."""
    return (datetime.now(UTC) - timedelta(hours=21)).replace(minute=0, second=0, microsecond=0)


def at(start: datetime, hour: int) -> datetime:
    """A call start `hour` hours after `start`."""
    return start + timedelta(hours=hour)


@dataclass
class Day:
    """The running stack, where its simulators listen, and the day the calls were made."""

    stack: Stack
    admin: requests.Session
    calls_start: datetime
    seeded_on: date
    whmcs: str
    vodia: str
    lesnet: str
    sink: str
    fusionpbx_db: str
    packages: dict[str, int]

    def get(self, path: str, **params) -> dict | list:
        response = self.admin.get(self.stack.gateway_url + path, params=params, timeout=60)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, **kwargs) -> dict:
        response = self.admin.post(self.stack.gateway_url + path, timeout=180, **kwargs)
        assert response.status_code in (200, 201, 202), response.text
        return response.json()

    def sim(self, url: str, **params) -> dict | list:
        response = requests.get(url, params=params, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def messages(self) -> list[dict]:
        return self.sim(f"{self.sink}/messages")

    def esl_commands(self) -> list[str]:
        """The commands the FusionPBX event socket received, in order, as the sim-esl process printed them.

        `api <command>` lines are the command itself; a `sendevent CUSTOM` with `API-Command` and
        `API-Command-Argument` headers (FusionPBX's cache delete) is written as `<command> <argument>`.
        """
        commands, pending = [], None
        for line in (self.stack.logs / "sim-esl.log").read_text().splitlines():
            if line.startswith("api "):
                commands.append(line.removeprefix("api ").strip())
            elif line.startswith("API-Command: "):
                pending = line.removeprefix("API-Command: ").strip()
            elif line.startswith("API-Command-Argument: ") and pending:
                commands.append(f"{pending} {line.removeprefix('API-Command-Argument: ').strip()}")
                pending = None
        return commands

    def extensions_enabled(self) -> dict[str, str]:
        """FusionPBX v_extensions of the tenant: extension -> enabled flag."""
        from tollgate_sim.fusionpbx import connect

        with connect(self.fusionpbx_db) as connection:
            rows = connection.execute(
                "SELECT e.extension, e.enabled FROM v_extensions e JOIN v_domains d USING (domain_uuid)"
                " WHERE d.domain_name = %s ORDER BY e.extension",
                [FUSIONPBX_TENANT],
            ).fetchall()
        return {extension: str(enabled).lower() for extension, enabled in rows}


@pytest.fixture(scope="module")
def day_stack(database_url_for, tmp_path_factory):
    """Every service, worker and simulator on fresh databases and a Redis database of their own."""
    from tollgate_sim.fusionpbx import create_schema

    with private_redis() as redis_url:
        urls = {name: database_url_for(f"day_{name}", migrations) for name, migrations in MIGRATED.items()}
        fusionpbx_db = database_url_for("day_fusionpbx")
        create_schema(fusionpbx_db)
        env = stack_environment(urls, redis_url, ADMIN_KEY, INTERNAL_TOKEN)
        env.update({variable: str(free_port()) for variable in SIMULATORS.values()})
        env.update(
            TOLLGATE_VAR_DIR=str(tmp_path_factory.mktemp("day-var")),
            TOLLGATE_SIM_ESL_PASSWORD="ClueCon",
            TOLLGATE_SIM_FUSIONPBX_DB=fusionpbx_db,
            CDR_SECRET_KEY=Fernet.generate_key().decode(),
            CDR_ALLOW_HTTP_LOOPBACK="true",
            NOTIFY_SMTP_PORT=str(free_port()),
        )
        env["TOLLGATE_SIM_SMTP_PORT"] = env["NOTIFY_SMTP_PORT"]
        running = Stack(env, logs=Path(tmp_path_factory.mktemp("day-logs")))
        try:
            running.start(["gateway", "cdr", "rating", "balance", "notify", *WORKERS, *SIMULATORS])
            for variable in SIMULATORS.values():
                wait_for_port(int(env[variable]))
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def day(day_stack) -> Day:
    """The demo's clients, servers, tariff and services, with the hand-written calls below (all 13-22 h old)."""
    from tollgate_sim.fusionpbx import seed_tenant

    env = DemoEnvironment.from_env(day_stack.gateway_url, ADMIN_KEY, day_stack.env)
    demo = Demo(env)
    today = datetime.now(UTC).date()
    report = SeedReport()
    demo.seed_whmcs(report, today)
    seed_tenant(
        env.fusionpbx_db,
        FUSIONPBX_TENANT,
        extensions=[
            {"extension": number, "outbound_caller_id_number": FUSIONPBX_DID} for number in FUSIONPBX_EXTENSIONS
        ],
        gateways=["carrier"],
    )
    accounts = [{"account": number, "displayname": f"Maple Dental {number}"} for number in VODIA_EXTENSIONS]
    demo.sim(
        "POST",
        f"{env.vodia_url}/_sim/domains",
        json={"name": VODIA_DOMAIN, "accounts": accounts, "trunks": [{"id": 1, "name": "carrier"}]},
    )
    demo.sim(
        "POST",
        f"{env.lesnet_url}/_sim/accounts",
        json={"account": LESNET_ACCOUNT, "peers": {LESNET_PEER: [LESNET_DID]}},
    )

    start = calls_start()
    insert_fusionpbx_calls(env.fusionpbx_db, start)
    demo.sim("POST", f"{env.vodia_url}/_sim/domains/{VODIA_DOMAIN}/calls", json=vodia_calls(start))
    demo.sim("POST", f"{env.vodia_url}/_sim/domains/{VODIA_DOMAIN}/cdrs", json=[vodia_broken_cdr(start)])
    demo.sim("POST", f"{env.lesnet_url}/_sim/accounts/{LESNET_ACCOUNT}/calls", json=lesnet_calls(start))
    demo.sim("POST", f"{env.lesnet_url}/_sim/regenerate", json={})

    servers = demo.seed_servers(report)
    tariff_id = demo.seed_tariff(report)
    packages = {
        body["name"]: demo.api.call("POST", "/v1/packages", json=body)["id"] for body in day_packages(tariff_id)
    }
    # The demo's FusionPBX filters: suppress *xx,*xxx,#xx (hidden); exclude 911,933 (shown, never billed)
    demo.api.call("PUT", f"/v1/servers/{servers['fusionpbx']}/filters", json=FILTERS)
    demo.seed_whmcs_settings()
    demo.seed_services(report, servers, today)

    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    return Day(
        stack=day_stack,
        admin=admin,
        calls_start=start,
        seeded_on=today,
        whmcs=env.whmcs_url,
        vodia=env.vodia_url,
        lesnet=env.lesnet_url,
        sink=env.smtp_url,
        fusionpbx_db=env.fusionpbx_db,
        packages=packages,
    )


# -- the calls ---------------------------------------------------------------------------------------
# Client 2, Northwind Cafe, FusionPBX, "Day Prepaid" (+20 %), credit 6.00, threshold 5.00.
# (direction, remote number, billsec, extension, hours after the start)
FUSIONPBX_CALLS = (
    ("outbound", "16135550123", 61, "201", 9),  # Canada, 1 at 0.01 x 1.20, 6/6
    ("outbound", "011447700900123", 1500, "201", 10),  # UK mobile 447 at 0.12 x 1.20, 60/60
    ("outbound", "011491512345678", 1230, "202", 11),  # Germany mobile 4915 at 0.11 x 1.20, 60/60
    ("outbound", "16135550124", 0, "202", 12),  # unanswered
    ("local", "202", 30, "201", 13),  # extension to extension: never billed
    ("local", "*97", 20, "203", 14),  # voicemail feature code: suppressed (*xx)
    ("outbound", "911", 45, "203", 15),  # emergency: excluded from billing, shown
    ("inbound", "16135550999", 300, "201", 16),  # inbound, the package does not bill inbound
    ("outbound", "0118131234567", 120, "201", 17),  # Japan: no rate in the tariff, unrated
)


def insert_fusionpbx_calls(db_url: str, start: datetime) -> None:
    from tollgate_sim.fusionpbx import TrafficGenerator

    generator = TrafficGenerator(db_url, seed=1)
    rows = [
        generator.make_call(FUSIONPBX_TENANT, direction, number, billsec, at(start, hour), extension=extension)
        for direction, number, billsec, extension, hour in FUSIONPBX_CALLS
    ]
    generator.insert(rows)


# Client 1, Maple Dental, Vodia, "Day Prepaid 100" (+25 %, 100 free minutes), credit 50.00, threshold 10.00.
def vodia_calls(start: datetime) -> list[dict]:
    def call(direction, number, billsec, hour, **extra):
        epoch = at(start, hour).timestamp()
        return {
            "direction": direction,
            "extension": "101",
            "number": number,
            "start": epoch,
            "billsec": billsec,
            **extra,
        }

    return [
        call("outbound", "16135550101", 5940, 8, trunk=1),  # 99 min, all inside the 100 free minutes
        call("outbound", "16135550102", 150, 10, trunk=1),  # 60 s free, 90 s paid
        call("outbound", "6135550103", 61, 11, trunk=1),  # 10-digit NANP, 6/6: 66 s paid
        call("outbound", "011442079460000", 90, 12, trunk=1),  # London 4420 at 0.015 x 1.25, 60/60
        call("outbound", "16135550104", 0, 13, trunk=1),  # unanswered
        call("inbound", "16135550105", 200, 14, trunk=1, did=VODIA_DID),  # inbound, not billed by this package
        call("local", "102", 40, 15),  # extension to extension
    ]


def vodia_broken_cdr(start: datetime) -> dict:
    """A record that ends a minute before it starts: quarantined, reported, never billed."""
    epoch = at(start, 9).timestamp()
    return {
        "call_id": "broken@10.0.0.9",
        "from": '"Maple Dental 101" <sip:101@maple.vodia.demo>',
        "to": "<sip:16135550109@maple.vodia.demo>",
        "start": f"{epoch:.3f}",
        "connect": f"{epoch + 4:.3f}",
        "end": f"{epoch - 60:.3f}",
        "extensions": ["101"],
        "trunks": [1],
    }


# Client 3, Harbor Logistics, LesNet, "Day Postpaid" (+15 %, inbound at a flat 0.0080/min), exempt from autosuspend.
def lesnet_calls(start: datetime) -> list[dict]:
    def call(direction, other, duration, hour):
        source, destination = (other, LESNET_DID) if direction == "IN" else (LESNET_DID, other)
        return {
            "start": at(start, hour).isoformat(),
            "peer": LESNET_PEER,
            "source": source,
            "destination": destination,
            "direction": direction,
            "duration": duration,
        }

    return [
        call("OUT", "12045551234", 125, 9),  # Canada 1 at 0.01 x 1.15, 6/6
        call("IN", "12045559876", 125, 10),  # inbound, flat 0.0080/min, whole minutes
        call("OUT", "18005551234", 300, 11),  # toll-free 1800 at 0
        call("OUT", "12045551235", 0, 12),  # unanswered
        call("OUT", "18765550100", 61, 13),  # Jamaica 1876 at 0.22 x 1.15, 60/60
    ]
