"""Benchmark: autosuspend of 10,000 VoIP clients against the WHMCS simulator over real HTTP.

Target (issue 6): under 60 s for 10,000 clients. Prints, in the same run, the baseline: the naive
one-client-at-a-time path (the `evaluate_client` job: GetClientsDetails, unpaid invoices, services,
one commit per client) timed on a sample and extrapolated to all clients.

    .venv/bin/python bench/bench_autosuspend.py --clients 10000

The WHMCS simulator runs in its own process (werkzeug, threaded), as does a cdr-service stub that
answers `/internal/services` (contract B) for the clients whose state changes. balance-service runs
in this process on a fresh PostgreSQL database and a spare Redis database index (9-15); side-effect
jobs (PBX actions, emails) are really queued in RQ. The client mix: 1 in 10 has no credit, 1 in 9
owes more than their credit, 1 in 25 is manually suspended, 1 in 6 is below a low-balance threshold,
the rest are in good standing. Run 1 starts from a fresh mirror (about 24 % of clients change
state, each written back to WHMCS); run 2 is the steady state (nothing changes). Last, the daily full
client sync (queued by the day's first autosuspend) of every client, beside the serial refresh it replaced.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from decimal import Decimal
from pathlib import Path

from flask import Flask, jsonify, request
from redis import Redis
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "balance-service" / "migrations"
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DATABASE = "tg_bench_balance_autosuspend"
TARGET_SECONDS = 60.0
FIELDS = {"has_voip": 1, "manual_suspend": 2, "voip_suspended": 3, "low_balance_threshold": 4}
FIELD_NAMES = {1: "Has VoIP Service", 2: "Manual VoIP Suspend", 3: "VoIP Suspended", 4: "Low Balance Threshold"}


def client_facts(client_id: int) -> tuple[Decimal, Decimal, dict[int, str]]:
    """(credit, owed on one unpaid invoice, custom fields) of a benchmark client, deterministic."""
    fields = {1: "Yes", 2: "No", 3: "None", 4: ""}
    credit, owed = Decimal("50.00"), Decimal(0)
    if client_id % 10 == 0:
        credit = Decimal("0.00")
    elif client_id % 9 == 0:
        credit, owed = Decimal("4.00"), Decimal("12.50")
    elif client_id % 25 == 1:
        fields[2] = "Yes"
    elif client_id % 6 == 0:
        credit, fields[4] = Decimal("3.00"), "5"
    return credit, owed, fields


def serve_whmcs(clients: int, port_queue: multiprocessing.Queue) -> None:
    """Child process: a WHMCS simulator holding the benchmark clients, served until terminated."""
    from tollgate_sim.whmcs import WhmcsState, create_app
    from tollgate_sim.whmcs.server import serving
    from tollgate_sim.whmcs.state import Client, Invoice, InvoiceItem

    state = WhmcsState()
    state.client_field_names.update(FIELD_NAMES)
    for client_id in range(1, clients + 1):
        credit, owed, fields = client_facts(client_id)
        state.clients[client_id] = Client(
            client_id, "Client", f"No{client_id}", f"c{client_id}@example.test", credit=credit, customfields=fields
        )
        if owed:
            invoice = Invoice(client_id, client_id, "2026-11-01", "2026-11-15")
            invoice.items.append(InvoiceItem(client_id, "earlier usage", owed))
            state.invoices[invoice.id] = invoice
    state.reserve_id("invoice", clients)
    with serving(create_app(state)) as url:
        port_queue.put(url)
        while True:
            time.sleep(3600)


def serve_cdr_stub(port_queue: multiprocessing.Queue) -> None:
    """Child process: cdr-service's `/internal/services` (contract B), one active VoIP service per client."""
    from tollgate_sim.whmcs.server import serving

    app = Flask("cdr-stub")

    @app.get("/internal/services")
    def services():
        client_id = request.args.get("client_id", type=int)
        return jsonify(
            [
                {
                    "service_id": client_id * 10,
                    "client_id": client_id,
                    "product_id": 3,
                    "server_id": 1,
                    "kind": "fusionpbx",
                    "status": "Active",
                    "suspended": False,
                }
            ]
        )

    with serving(app) as url:
        port_queue.put(url)
        while True:
            time.sleep(3600)


def start(target, *args) -> tuple[multiprocessing.Process, str]:
    ports: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, ports), daemon=True)
    process.start()
    return process, ports.get(timeout=300)


def recreate_database() -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    from tollgate_common.db import upgrade_database

    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DATABASE
    upgrade_database(MIGRATIONS, url)
    return url


def seed_mirror(db, clients: int) -> None:
    """The client mirror as the daily sync leaves it: every client with its fields, services, no decision yet."""
    from balance_service.models import Client

    rows = []
    for client_id in range(1, clients + 1):
        credit, owed, fields = client_facts(client_id)
        rows.append(
            {
                "client_id": client_id,
                "first_name": "Client",
                "last_name": f"No{client_id}",
                "email": f"c{client_id}@example.test",
                "credit": credit,
                "outstanding": owed,
                "custom_fields": {str(k): v for k, v in fields.items()},
                "services": [{"service_id": client_id * 10, "product": "VoIP", "pid": 3, "status": "Active"}],
            }
        )
    with db.session() as session:
        session.execute(text("TRUNCATE clients, client_events"))
        for start in range(0, len(rows), 2000):
            session.execute(insert(Client), rows[start : start + 2000])


def build_app(database_url: str, redis_url: str, cdr_url: str, concurrency: int):
    from balance_service import create_app
    from tollgate_common.testing import service_config

    return create_app(
        service_config(database_url, redis_url, cdr_url=cdr_url, rating_url=cdr_url, whmcs_concurrency=concurrency)
    )


def configure_whmcs(app, whmcs_url: str) -> None:
    from tollgate_common.testing import internal_client

    body = {"url": whmcs_url, "identifier": "sim-identifier", "secret": "sim-secret", "client_fields": FIELDS}
    response = internal_client(app).put("/v1/settings/whmcs", json=body)
    assert response.status_code == 200, response.json


def time_daily_sync(app, sample: list[int]) -> str:
    """The daily full client sync (queued by the day's first autosuspend), beside its serial baseline."""
    from balance_service import jobs
    from balance_service.mirror import refresh_client

    with app.app_context():
        whmcs = jobs.whmcs_client()
        currencies = whmcs.get_currencies()
        began = time.perf_counter()
        for client_id in sample:
            with app.extensions["db"].session() as session:
                refresh_client(session, whmcs, client_id, currencies)
        serial = time.perf_counter() - began
        began = time.perf_counter()
        report = jobs.sync_clients("bench")
        elapsed = time.perf_counter() - began
    total = report["synced"] + len(report["errors"])
    return (
        f"daily client sync: {report['synced']:,} clients in {elapsed:.1f} s, {len(report['errors'])} errors "
        f"(baseline, one client at a time: {len(sample)} in {serial:.2f} s -> "
        f"{serial / len(sample) * total:.1f} s extrapolated)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=300, help="clients timed on the naive path")
    parser.add_argument("--concurrency", type=int, default=8, help="BALANCE_WHMCS_CONCURRENCY")
    args = parser.parse_args()

    from balance_service import jobs
    from tollgate_common.testing import REDIS_BASE_URL, claim_redis_database

    index, claim = claim_redis_database()
    redis_url = f"{REDIS_BASE_URL}/{index}"
    Redis.from_url(redis_url).flushdb()
    database_url = recreate_database()
    cdr_process, cdr_url = start(serve_cdr_stub)
    app = build_app(database_url, redis_url, cdr_url, args.concurrency)
    db = app.extensions["db"]
    print(f"autosuspend benchmark: {args.clients:,} VoIP clients, concurrency {args.concurrency}, PostgreSQL")

    # Baseline: the naive path, one client at a time, on a sample of a fresh mirror.
    whmcs_process, whmcs_url = start(serve_whmcs, args.clients)
    configure_whmcs(app, whmcs_url)
    seed_mirror(db, args.clients)
    sample = list(range(1, min(args.sample, args.clients) + 1))
    with app.app_context():
        began = time.perf_counter()
        naive_changed = sum(1 for client_id in sample if jobs.evaluate_client(client_id, "bench naive")["changed"])
        naive = time.perf_counter() - began
    whmcs_process.terminate()
    whmcs_process.join()
    naive_total = naive / len(sample) * args.clients
    print(
        f"baseline (naive, one client at a time): {len(sample)} clients in {naive:.2f} s "
        f"({naive_changed} changed) -> {naive_total:.1f} s extrapolated to {args.clients:,}"
    )

    # The batched job on the same clients, from the same fresh state.
    whmcs_process, whmcs_url = start(serve_whmcs, args.clients)
    configure_whmcs(app, whmcs_url)
    seed_mirror(db, args.clients)
    Redis.from_url(redis_url).flushdb()
    figures = []
    with app.app_context():
        for run in (1, 2):
            began = time.perf_counter()
            report = jobs.autosuspend(f"bench:{run}")
            elapsed = time.perf_counter() - began
            figures.append(elapsed)
            print(
                f"autosuspend run {run}: {report['evaluated']:,} clients in {elapsed:.2f} s "
                f"({report['evaluated'] / elapsed:,.0f} clients/s), {len(report['changed']):,} changed, "
                f"{len(report['errors'])} errors"
            )
    redis = Redis.from_url(redis_url)
    queued = {name: redis.llen(f"rq:queue:{name}") for name in ("cdr", "notify")}
    sync_figures = time_daily_sync(app, sample)
    print(f"side effects queued: {queued['cdr']:,} PBX actions, {queued['notify']:,} emails")
    worst = max(figures)
    verdict = "met" if worst < TARGET_SECONDS else "NOT met"
    print(
        f"target < {TARGET_SECONDS:.0f} s for {args.clients:,} clients: {verdict} (slowest run {worst:.1f} s, "
        f"{naive_total / worst:.1f}x faster than the naive baseline)"
    )
    print(sync_figures)
    whmcs_process.terminate()
    cdr_process.terminate()
    db.dispose()
    redis.flushdb()
    claim.close()


if __name__ == "__main__":
    main()
