"""The seeded demo of `make run`: `tollgate demo seed` against a fresh stack with its simulators, and `make run`."""

import json
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from conftest import ADMIN_KEY, INTERNAL_TOKEN, MIGRATED
from cryptography.fernet import Fernet
from redis import Redis
from stack import ROOT, Stack, free_port, stack_environment

from gateway.demo import CLIENTS, FIELD_IDS, SERVER_NAMES, TARIFF_NAME, demo_packages
from tollgate_common.testing import REDIS_BASE_URL, claim_redis_database

SIMULATORS = {
    "sim-whmcs": "TOLLGATE_SIM_WHMCS_PORT",
    "sim-vodia": "TOLLGATE_SIM_VODIA_PORT",
    "sim-lesnet": "TOLLGATE_SIM_LESNET_PORT",
    "sim-esl": "TOLLGATE_SIM_ESL_PORT",
    "sim-smtp": "TOLLGATE_SIM_SMTP_HTTP_PORT",
}

WORKERS = ("cdr-worker", "balance-worker", "notify-worker")


@contextmanager
def private_redis():
    """A Redis database of its own: the session stack's workers share the session one and would take our jobs."""
    index, claim = claim_redis_database()
    url = f"{REDIS_BASE_URL}/{index}"
    Redis.from_url(url).flushdb()
    try:
        yield url
    finally:
        Redis.from_url(url).flushdb()
        claim.close()


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port):
            return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


@pytest.fixture(scope="module")
def demo_redis_url():
    with private_redis() as url:
        yield url


@pytest.fixture
def run_redis_url():
    with private_redis() as url:
        yield url


@pytest.fixture(scope="module")
def demo_stack(database_url_for, demo_redis_url, tmp_path_factory):
    """A stack of its own (fresh databases) plus the simulators the demo talks to."""
    from tollgate_sim.fusionpbx import create_schema

    urls = {name: database_url_for(f"demo_{name}", migrations) for name, migrations in MIGRATED.items()}
    fusionpbx_db = database_url_for("demo_fusionpbx")
    create_schema(fusionpbx_db)
    env = stack_environment(urls, demo_redis_url, ADMIN_KEY, INTERNAL_TOKEN)
    var_dir = tmp_path_factory.mktemp("var")
    env.update({variable: str(free_port()) for variable in SIMULATORS.values()})
    env.update(
        TOLLGATE_VAR_DIR=str(var_dir),
        TOLLGATE_SIM_ESL_PASSWORD="ClueCon",
        TOLLGATE_SIM_FUSIONPBX_DB=fusionpbx_db,
        CDR_SECRET_KEY=Fernet.generate_key().decode(),
        CDR_ALLOW_HTTP_LOOPBACK="true",
        NOTIFY_SMTP_PORT=str(free_port()),
    )
    env["TOLLGATE_SIM_SMTP_PORT"] = env["NOTIFY_SMTP_PORT"]
    running = Stack(env, logs=Path(tmp_path_factory.mktemp("demo-logs")))
    try:
        running.start(["gateway", "cdr", "rating", "balance", "notify", *WORKERS, *SIMULATORS])
        for variable in SIMULATORS.values():
            wait_for_port(int(env[variable]))
        yield running
    finally:
        running.stop()


def tollgate(stack, *args):
    command = ["tollgate", "--url", stack.gateway_url, "--key", ADMIN_KEY, *args]
    result = subprocess.run(command, cwd=ROOT, env=stack.env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def listing(session, stack, path):
    response = session.get(stack.gateway_url + path, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_seed_creates_the_demo_and_seeding_again_creates_nothing(demo_stack):
    """A first seed creates servers, tariff, packages and services; a second one finds them all and adds nothing."""
    first = json.loads(tollgate(demo_stack, "demo", "seed", "--json").stdout)
    assert set(first["created"]) >= {"servers", "tariffs", "packages", "services", "whmcs clients"}
    assert not first["kept"]

    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    servers = listing(admin, demo_stack, "/v1/servers")
    assert sorted(server["name"] for server in servers) == sorted(SERVER_NAMES.values())
    tariffs = listing(admin, demo_stack, "/v1/tariffs")
    assert [tariff["name"] for tariff in tariffs] == [TARIFF_NAME]
    assert len(tariffs[0]["versions"]) == 1
    packages = listing(admin, demo_stack, "/v1/packages")
    assert sorted(p["name"] for p in packages) == sorted(p["name"] for p in demo_packages(0))
    for client in CLIENTS:
        service = listing(admin, demo_stack, f"/v1/services/{client.service_id}")
        assert service["client_id"] == client.client_id
        assert service["server_id"] == first["ids"]["servers"][client.server]
    settings = listing(admin, demo_stack, "/v1/settings/whmcs")
    assert settings["client_fields"] == FIELD_IDS

    second = json.loads(tollgate(demo_stack, "demo", "seed", "--json").stdout)
    assert second["created"] == {}
    assert second["ids"] == first["ids"]
    assert len(listing(admin, demo_stack, "/v1/servers")) == 3
    assert len(listing(admin, demo_stack, "/v1/tariffs")[0]["versions"]) == 1
    assert len(listing(admin, demo_stack, "/v1/packages")) == 3
    whmcs = f"http://127.0.0.1:{demo_stack.env['TOLLGATE_SIM_WHMCS_PORT']}"
    assert requests.get(f"{whmcs}/_sim/clients/2", timeout=10).json()["credit"] == "6.00"
    vodia = f"http://127.0.0.1:{demo_stack.env['TOLLGATE_SIM_VODIA_PORT']}"
    domains = requests.get(f"{vodia}/_sim/state", timeout=10).json()["domains"]
    assert [len(domain["cdrs"]) for domain in domains.values()] == [40]


def test_show_lists_the_demo_and_what_to_try(demo_stack):
    """`tollgate demo show` prints the demo's ids and the autobill, autosuspend and top-up commands."""
    tollgate(demo_stack, "demo", "seed")
    output = tollgate(demo_stack, "demo", "show").stdout
    assert "Northwind Cafe" in output and "Demo FusionPBX" in output
    for command in ("tollgate autobill", "tollgate autosuspend", "tollgate demo topup"):
        assert command in output


def wait_for(check, timeout: float = 60, message: str = ""):
    """Poll `check()` until it returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout} s: {message}")


def test_autobill_then_autosuspend_then_topup_tells_the_demo_story(demo_stack):
    """Autobill charges all three; client 2 gets a low-balance and a zero-balance email and is suspended on
    the PBX (FusionPBX rows, event socket); a top-up with its payment event restores it; the others stay active."""
    from tollgate_sim.fusionpbx import connect

    tollgate(demo_stack, "demo", "seed")
    env = demo_stack.env
    whmcs = f"http://127.0.0.1:{env['TOLLGATE_SIM_WHMCS_PORT']}"
    sink = f"http://127.0.0.1:{env['TOLLGATE_SIM_SMTP_HTTP_PORT']}/messages"
    admin = requests.Session()
    admin.headers["Authorization"] = f"Bearer {ADMIN_KEY}"

    def extensions_enabled():
        with connect(env["TOLLGATE_SIM_FUSIONPBX_DB"]) as connection:
            return {str(enabled).lower() for (enabled,) in connection.execute("SELECT enabled FROM v_extensions")}

    def state(client_id):
        return listing(admin, demo_stack, f"/v1/clients/{client_id}")["voip_state"]

    report = json.loads(tollgate(demo_stack, "autobill", "--run-key", "demo-flow", "--wait").stdout)
    assert report["status"] == "finished", report
    assert report["result"]["charges"] == 3 and set(report["result"]["posted"]) == {
        "credit_remove",
        "invoice",
        "billable_item",
    }
    tollgate(demo_stack, "autosuspend", "--run-key", "demo-flow", "--wait")
    wait_for(lambda: state(2) == "suspended", message="client 2 suspended")
    assert state(1) == state(3) == "active"
    wait_for(lambda: extensions_enabled() == {"false"}, message="FusionPBX extensions disabled")
    esl_log = (demo_stack.logs / "sim-esl.log").read_text()
    assert "api reloadxml" in esl_log and "flush_inbound_reg 201@northwind.fusionpbx.demo" in esl_log
    messages = wait_for(lambda: m if len(m := requests.get(sink, timeout=10).json()) >= 2 else None, message="emails")
    assert len(messages) == 2, [message["subject"] for message in messages]  # low balance, zero balance
    assert all(message["to"] == ["noah@northwind.example"] for message in messages)
    assert requests.get(f"{whmcs}/_sim/clients/2", timeout=10).json()["customfields"]["13"] == "Yes"

    tollgate(demo_stack, "demo", "topup", "2", "--amount", "20")
    wait_for(lambda: state(2) == "active", message="client 2 restored after the top-up")
    wait_for(lambda: extensions_enabled() == {"true"}, message="FusionPBX extensions enabled again")
    assert requests.get(f"{whmcs}/_sim/clients/2", timeout=10).json()["customfields"]["13"] == "None"


def test_make_run_starts_seeds_and_stops_on_sigterm(tmp_path, run_redis_url):
    """`make run` on free ports serves the gateway with the demo seeded, and stops every process on SIGTERM."""
    ports = {
        name: str(free_port())
        for name in (
            "GATEWAY",
            "CDR",
            "RATING",
            "BALANCE",
            "NOTIFY",
            "SIM_WHMCS",
            "SIM_FUSIONPBX",
            "SIM_VODIA",
            "SIM_LESNET",
            "SIM_SMTP_HTTP",
            "SIM_SMTP",
            "SIM_ESL",
        )
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TOLLGATE_", "CDR_", "GATEWAY_"))}
    env.update({f"TOLLGATE_{name}_PORT": port for name, port in ports.items()})
    env.update(
        TOLLGATE_VAR_DIR=str(tmp_path),
        GUNICORN_WORKERS="1",
        TOLLGATE_SIM_FUSIONPBX_DB=f"postgresql://postgres@127.0.0.1:5432/tg_test_demo_run_{os.getpid()}",
    )
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
    env["TOLLGATE_REDIS_URL"] = run_redis_url
    log = (tmp_path / "make-run.log").open("wb")
    process = subprocess.Popen(
        ["timeout", "300", "make", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    gateway = f"http://127.0.0.1:{ports['GATEWAY']}"
    try:
        deadline = time.monotonic() + 240
        output = ""
        while "Admin key" not in output and time.monotonic() < deadline and process.poll() is None:
            time.sleep(1)
            output = (tmp_path / "make-run.log").read_text(errors="replace")
        assert "Admin key" in output, output[-3000:]
        key = (tmp_path / "admin.key").read_text().strip()
        assert key in output and gateway in output
        servers = requests.get(f"{gateway}/v1/servers", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert sorted(server["name"] for server in servers.json()) == sorted(SERVER_NAMES.values())
        assert requests.get(f"{gateway}/readyz", timeout=10).status_code == 200
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
            subprocess.run(
                ["psql", "postgresql://postgres@127.0.0.1:5432/postgres", "-qc", drop_database(env)], check=False
            )
    deadline = time.monotonic() + 30
    while port_open(int(ports["GATEWAY"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not port_open(int(ports["GATEWAY"])), "the gateway still listens after make run stopped"


def drop_database(env):
    name = env["TOLLGATE_SIM_FUSIONPBX_DB"].rsplit("/", 1)[1]
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
