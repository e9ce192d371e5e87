"""Fault drill: SIGKILL a real balance worker mid-run; the next run finishes it and WHMCS holds each charge once."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from tollgate_common.jobs import enqueue
from tollgate_common.testing import TEST_INTERNAL_TOKEN, run_jobs
from tollgate_sim.whmcs.state import Client, Fault

CLIENTS = 30
WORKER = Path(sys.executable).parent / "balance-worker"


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid`, from /proc (RQ's work horse runs in its own session)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL a worker and its work horse at once, as an OOM kill or a lost machine would."""
    victims = [pid, *children_of(pid)]
    for victim in victims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)


def test_worker_killed_mid_run_then_next_run_posts_every_charge_exactly_once(
    app, client, whmcs_sim, peers, redis_conn, database_url, redis_url
):
    """Kill -9 the worker while it posts; after its lock expires the next run resumes: one credit row per charge."""
    body = {"url": whmcs_sim.url, "identifier": "sim-identifier", "secret": "sim-secret"}
    assert client.put("/v1/settings/whmcs", json=body).status_code == 200
    peers.packages = {3: {"billing_mode": "prepaid", "realtime": False}}
    for client_id in range(1, CLIENTS + 1):
        whmcs_sim.state.clients[client_id] = Client(
            client_id, "F", "L", f"c{client_id}@example.test", credit=Decimal("10.00")
        )
        peers.add_service(client_id, client_id, amount="1.00", calls=1)
    # Slow credit removals so the kill lands mid-run, possibly while a removal is in flight.
    whmcs_sim.state.faults.append(Fault("addcredit", "latency", seconds=0.25))
    enqueue(redis_conn, "balance", "balance_service.jobs.autobill", "autobill:daily:killed", "daily")
    env = {
        **os.environ,
        "BALANCE_DATABASE_URL": database_url,
        "TOLLGATE_REDIS_URL": redis_url,
        "TOLLGATE_INTERNAL_TOKEN": TEST_INTERNAL_TOKEN,
        "TOLLGATE_CDR_URL": peers.url,
        "TOLLGATE_RATING_URL": peers.url,
        "BALANCE_CDR_SYNC_WAIT_SECONDS": "0",
        "TOLLGATE_LOG_LEVEL": "WARNING",
    }
    worker = subprocess.Popen(
        [str(WORKER), "--burst"], env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while len(whmcs_sim.state.credit_log) < CLIENTS // 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(whmcs_sim.state.credit_log) >= CLIENTS // 3, "the worker never got going"
    finally:
        kill_tree(worker.pid)
        worker.wait(timeout=10)
    at_kill = len(whmcs_sim.state.credit_log)
    assert at_kill < CLIENTS, "the run finished before the kill; nothing was drilled"
    time.sleep(0.3)  # a removal in flight when the worker died still completes in WHMCS
    whmcs_sim.state.faults.clear()
    redis_conn.delete("balance:autobill:daily:killed")  # the dead worker's lock expiring
    enqueue(redis_conn, "balance", "balance_service.jobs.autobill", "autobill:daily:next", "daily")
    run_jobs(app, "balance")

    references = sorted(entry.description.rsplit("[TG ", 1)[1] for entry in whmcs_sim.state.credit_log)
    assert references == sorted(f"daily:killed:{service_id}]" for service_id in range(1, CLIENTS + 1))
    assert {c.credit for c in whmcs_sim.state.clients.values()} == {Decimal("9.00")}
    runs = {run["run_key"]: run["status"] for run in client.get("/v1/runs").json["items"]}
    assert runs == {"daily:killed": "finished", "daily:next": "finished"}
