"""Fault drills of billing-rules §5 with real workers: Redis restarted mid-run, two triggers at once.

Each drill ends by comparing WHMCS's credit log and our ledger with what a run without the fault
leaves: one credit removal per service, each charge posted once.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from redis import Redis
from sqlalchemy import select

from balance_service.models import Charge, Posting, Run
from tollgate_common.jobs import enqueue
from tollgate_common.testing import TEST_INTERNAL_TOKEN
from tollgate_sim.whmcs.state import Client, Fault

CLIENTS = 24
WORKER = Path(sys.executable).parent / "balance-worker"
REDIS_SERVER = "redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of this test's own on a free port, without persistence: a restart loses everything."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if Redis.from_url(self.url, socket_timeout=1).ping():
                    return
            except OSError:
                pass
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.kill()


def worker_env(database_url: str, redis_url: str, peers_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "BALANCE_DATABASE_URL": database_url,
        "TOLLGATE_REDIS_URL": redis_url,
        "TOLLGATE_INTERNAL_TOKEN": TEST_INTERNAL_TOKEN,
        "TOLLGATE_CDR_URL": peers_url,
        "TOLLGATE_RATING_URL": peers_url,
        "BALANCE_CDR_SYNC_WAIT_SECONDS": "0",
        "TOLLGATE_LOG_LEVEL": "WARNING",
    }


def start_worker(env: dict[str, str], *, burst: bool) -> subprocess.Popen:
    return subprocess.Popen(
        [str(WORKER), *(["--burst"] if burst else [])],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


def seed_run(client, whmcs_sim, peers) -> None:
    """CLIENTS prepaid clients with 10.00 credit and one service each owing 1.00; credit removals slowed."""
    body = {"url": whmcs_sim.url, "identifier": "sim-identifier", "secret": "sim-secret"}
    assert client.put("/v1/settings/whmcs", json=body).status_code == 200
    peers.packages = {3: {"billing_mode": "prepaid", "realtime": False}}
    for client_id in range(1, CLIENTS + 1):
        whmcs_sim.state.clients[client_id] = Client(
            client_id, "F", "L", f"c{client_id}@example.test", credit=Decimal("10.00")
        )
        peers.add_service(client_id, client_id, amount="1.00", calls=1)
    whmcs_sim.state.faults.append(Fault("addcredit", "latency", seconds=0.2))


def trigger(redis: Redis) -> None:
    """What the gateway's cron route does for the daily run of key daily:redis."""
    enqueue(
        redis,
        "balance",
        "balance_service.jobs.autobill",
        "autobill:daily:redis",
        "daily",
        job_id="autobill:daily:redis",
    )


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def assert_as_without_fault(db, whmcs_sim, run_key: str) -> None:
    """WHMCS and the ledger as a clean run leaves them: each service's 1.00 removed once, posted once."""
    references = sorted(entry.description.rsplit("[TG ", 1)[1] for entry in whmcs_sim.state.credit_log)
    assert references == sorted(f"{run_key}:{service_id}]" for service_id in range(1, CLIENTS + 1))
    assert {entry.amount for entry in whmcs_sim.state.credit_log} == {Decimal("-1.00")}
    assert {c.credit for c in whmcs_sim.state.clients.values()} == {Decimal("9.00")}
    with db.session() as session:
        [run] = session.scalars(select(Run)).all()
        assert (run.run_key, run.status) == (run_key, "finished")
        charges = session.scalars(select(Charge).order_by(Charge.service_id)).all()
        assert [(c.service_id, c.posted_amount) for c in charges] == [
            (service_id, Decimal("1.00")) for service_id in range(1, CLIENTS + 1)
        ]
        postings = session.scalars(select(Posting).order_by(Posting.client_id)).all()
        assert [(p.reference, p.kind, p.amount, p.status) for p in postings] == [
            (f"{run_key}:{service_id}", "credit_remove", Decimal("1.00"), "posted")
            for service_id in range(1, CLIENTS + 1)
        ]
        logged = {entry.id for entry in whmcs_sim.state.credit_log}
        assert {p.whmcs_id for p in postings if p.whmcs_id is not None} <= logged


def test_redis_restarted_mid_run_then_the_next_trigger_finishes_it_as_without_the_fault(
    app, client, whmcs_sim, peers, database_url, private_redis
):
    """Redis dies and comes back empty (jobs and run lock lost) while a real worker posts; the next trigger
    resumes the run and WHMCS's credit log and our ledger end as after a run without the fault."""
    seed_run(client, whmcs_sim, peers)
    env = worker_env(database_url, private_redis.url, peers.url)
    redis = Redis.from_url(private_redis.url)
    trigger(redis)
    worker = start_worker(env, burst=False)
    try:
        wait_for(lambda: len(whmcs_sim.state.credit_log) >= CLIENTS // 3, 60, "the run to get going")
        private_redis.kill()
        at_restart = len(whmcs_sim.state.credit_log)
        private_redis.start()
        assert at_restart < CLIENTS, "the run finished before Redis went away; nothing was drilled"
        fresh = Redis.from_url(private_redis.url)
        assert not fresh.exists("balance:autobill:daily:redis")  # the run lock went with the data
        # The job lost its lock: it stops at its next heartbeat instead of racing a resumed run.
        time.sleep(1.0)
        stalled = len(whmcs_sim.state.credit_log)
        assert stalled < CLIENTS
        time.sleep(0.5)
        assert len(whmcs_sim.state.credit_log) == stalled
        # The stopped job writes itself back to the new Redis as a retry in 10 s; the next cron trigger (same
        # key) finds that job or, had it been lost too, queues it again. Either resumes the run once.
        redis = Redis.from_url(private_redis.url)
        trigger(redis)
        with app.app_context():
            db = app.extensions["db"]

            def finished() -> bool:
                with db.session() as session:
                    return session.scalar(select(Run.status).where(Run.run_key == "daily:redis")) == "finished"

            wait_for(finished, 60, "the resumed run to finish")
    finally:
        stop(worker)
    assert_as_without_fault(app.extensions["db"], whmcs_sim, "daily:redis")


def test_two_triggers_at_the_same_moment_through_rq_make_one_run(
    app, client, whmcs_sim, peers, database_url, redis_url, redis_conn
):
    """Two cron triggers in the same instant make one job; a second job for the same run (a retry racing an
    admin's resume) on a second worker backs off: WHMCS holds each charge once."""
    seed_run(client, whmcs_sim, peers)
    barrier = threading.Barrier(2)
    created: list[bool] = []

    def trigger() -> None:
        connection = Redis.from_url(redis_url)
        barrier.wait()
        _job, queued = enqueue(
            connection,
            "balance",
            "balance_service.jobs.autobill",
            "autobill:daily:twin",
            "daily",
            job_id="autobill:daily:twin",
        )
        created.append(queued)

    threads = [threading.Thread(target=trigger) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(created) == [False, True]
    enqueue(redis_conn, "balance", "balance_service.jobs.autobill", "autobill:daily:twin", "daily", retry=None)
    assert len(redis_conn.lrange("rq:queue:balance", 0, -1)) == 2

    env = worker_env(database_url, redis_url, peers.url)
    workers = [start_worker(env, burst=True) for _ in range(2)]
    try:
        for worker in workers:
            worker.wait(timeout=120)
    finally:
        for worker in workers:
            stop(worker)
    assert_as_without_fault(app.extensions["db"], whmcs_sim, "daily:twin")
    assert len([c for c in peers.claim_calls]) == CLIENTS  # each service claimed by one worker only
