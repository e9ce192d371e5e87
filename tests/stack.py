"""Start Tollgate's processes from the Procfile on free ports, as `make run` would, for end-to-end tests."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
SERVICES = {"gateway": "GATEWAY", "cdr": "CDR", "rating": "RATING", "balance": "BALANCE", "notify": "NOTIFY"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def procfile_commands(path: Path = ROOT / "Procfile") -> dict[str, str]:
    """Read `name: command` lines of a Procfile."""
    commands = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            commands[name.strip()] = command.strip()
    return commands


@dataclass
class Stack:
    """Running processes and the environment they were started with."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: Path | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.env['TOLLGATE_GATEWAY_PORT']}"

    def start(self, names: list[str]) -> None:
        commands = procfile_commands()
        for name in names:
            log = open(self.logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            self.processes[name] = subprocess.Popen(
                ["bash", "-c", "exec " + commands[name]],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        for name in names:
            if name in SERVICES:
                self.wait_healthy(name)

    def service_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.env[f'TOLLGATE_{SERVICES[name]}_PORT']}"

    def wait_healthy(self, name: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited: {(self.logs / f'{name}.log').read_text()[-2000:]}")
            try:
                if requests.get(self.service_url(name) + "/healthz", timeout=1).ok:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError(f"{name} not healthy after {timeout} s")

    def run(self, command: str) -> subprocess.CompletedProcess:
        """Run a console command (e.g. `tollgate keys create`) with the stack's environment."""
        return subprocess.run(shlex.split(command), cwd=ROOT, env=self.env, capture_output=True, text=True, check=True)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def stack_environment(database_urls: dict[str, str], redis_url: str, admin_key: str, token: str) -> dict[str, str]:
    """Environment for a stack on free ports, like scripts/env.sh but isolated for a test run."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TOLLGATE_", "GATEWAY_"))}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    for name, prefix in SERVICES.items():
        port = free_port()
        env[f"TOLLGATE_{prefix}_PORT"] = str(port)
        env[f"TOLLGATE_{prefix}_URL"] = f"http://127.0.0.1:{port}"
        env[f"{prefix}_DATABASE_URL"] = database_urls[name]
    env.update(
        TOLLGATE_REDIS_URL=redis_url,
        TOLLGATE_INTERNAL_TOKEN=token,
        TOLLGATE_ADMIN_KEY=admin_key,
        TOLLGATE_LOG_JSON="true",
        GUNICORN_WORKERS="1",
    )
    return env
