"""docker-compose.yml runs the same services, workers and settings as the Procfile `make run` uses.

There is no Docker engine on our machines, so the file is parsed and compared instead of run.
"""

import re

import yaml
from stack import ROOT, SERVICES, procfile_commands

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def app_target(command: str) -> str | None:
    match = re.search(r"'(\w+):create_app\(\)'", command)
    return match.group(1) if match else None


def test_same_processes_as_procfile():
    """Every Procfile process has a compose service of the same name, and nothing else runs."""
    assert set(procfile_commands()) == set(COMPOSE) - {"postgres", "redis"}


def test_web_services_run_the_same_app_under_gunicorn():
    """Each web process serves the same `package:create_app()` in both files."""
    for name, command in procfile_commands().items():
        if "gunicorn" in command:
            assert app_target(COMPOSE[name]["command"]) == app_target(command), name


def test_simulators_run_the_same_subcommand_in_the_demo_profile():
    """Each simulator runs the same `tollgate-sim` subcommand, only under the demo profile."""
    for name, command in procfile_commands().items():
        if name.startswith("sim-"):
            assert COMPOSE[name]["profiles"] == ["demo"]
            assert command.split()[1] == COMPOSE[name]["command"].split()[0], name


def test_workers_run_the_same_queue_command():
    """Each worker runs the same console script (one queue per service)."""
    for name, command in procfile_commands().items():
        if name.endswith("-worker"):
            assert COMPOSE[name]["command"] == command


def test_each_service_gets_its_database_and_the_shared_settings():
    """Every service and worker is given its own database URL, Redis, the internal token and peer URLs."""
    for name in procfile_commands():
        service = name.removesuffix("-worker")
        if service not in SERVICES:
            continue
        env = COMPOSE[name]["environment"]
        assert f"{SERVICES[service]}_DATABASE_URL" in env, name
        assert env["TOLLGATE_REDIS_URL"].startswith("redis://redis:6379")
        assert "TOLLGATE_INTERNAL_TOKEN" in env
        for peer in ("CDR", "RATING", "BALANCE", "NOTIFY"):
            assert f"TOLLGATE_{peer}_URL" in env


def test_infrastructure_has_healthchecks_that_services_wait_on():
    """Redis and PostgreSQL have healthchecks, and web services start only once both are healthy."""
    assert COMPOSE["redis"]["healthcheck"] and COMPOSE["postgres"]["healthcheck"]
    for name in SERVICES:
        assert COMPOSE[name]["depends_on"]["redis"]["condition"] == "service_healthy"
        assert COMPOSE[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
