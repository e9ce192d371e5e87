"""Benchmark: the daily autobill of 10,000 services holding 1,000,000 rated CDRs, end to end.

Target (issue 6): under 5 minutes. The run claims every service's calls from the real cdr-service
(contract B over HTTP, its PostgreSQL store), records the charges in balance-service's ledger and
posts them to the WHMCS simulator (credit removals, shortfall invoices, billable items). Prints, in
the same run, the baseline: the same run with one claim and one client at a time
(BALANCE_CLAIM_CONCURRENCY=1, BALANCE_WHMCS_CONCURRENCY=1), timed on a sample of services (the only
billable ones in a store of the full size) and extrapolated.

    .venv/bin/python bench/bench_autobill.py --services 10000 --cdrs 1000000

Set-up, not timed: cdr-service's store is seeded in bulk (COPY) with rated, billable calls of the last
day (as its sync and rating leave them: `bench/bench_cdr_sync.py` measures those); cdr-service and the
WHMCS simulator each run in their own process (werkzeug, threaded); rating-service's package lookup
(two products, cached per run) is a small stub process. The CDR sync the run triggers is not waited
for (BALANCE_CDR_SYNC_WAIT_SECONDS=0): every call is already rated. After the run, the script checks
that every CDR was claimed once and the posted total matches the rated total within the carried
sub-cents, fetches a slice of the same CDRs again (store: nothing new), and reruns the key (no charge).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from flask import Flask, jsonify, request
from redis import Redis
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_SECONDS = 300.0
PREPAID_PRODUCT, POSTPAID_PRODUCT = 3, 4
COST_COLUMNS = (
    "server_id",
    "source_id",
    "service_id",
    "tenant",
    "direction",
    "extension",
    "caller_number",
    "destination_number",
    "caller_destination",
    "start_at",
    "duration",
    "billsec",
    "status",
    "hangup_cause",
    "fetched_at",
    "rated_at",
    "billable",
    "visible",
    "cost",
)


def recreate(name: str, migrations: Path) -> str:
    from tollgate_common.db import upgrade_database

    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    upgrade_database(migrations, url)
    return url


def client_of(service_id: int) -> int:
    return (service_id + 1) // 2


def product_of(service_id: int) -> int:
    return POSTPAID_PRODUCT if service_id % 4 == 0 else PREPAID_PRODUCT


def call_cost(index: int) -> Decimal:
    """A rated call's cost, with sub-cent digits as rating leaves them."""
    return Decimal(1000 + (index * 7919) % 9000) / Decimal(100_000)


def seed_cdr_store(url: str, services: int, cdrs: int, now: datetime, billable: int | None = None) -> Decimal:
    """Servers, service assignments and `cdrs` rated calls of the last day; returns the billable calls' cost.

    With `billable`, only the calls of services 1..billable are billable (the baseline's sample, charged
    against a store of the full size); the others are stored as not billable.
    """
    engine = create_engine(url)
    total = Decimal(0)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO servers (id, name, kind, timezone, settings, enabled, created_at, updated_at) "
                "VALUES (1, 'bench-pbx', 'fusionpbx', 'UTC', '{}', true, :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO service_assignments (service_id, client_id, product_id, server_id, kind, status, "
                "suspended, domain_field, username_field, custom_fields, tenant, dids, extensions, billing_cycle, "
                "updated_at) VALUES (:sid, :cid, :pid, 1, 'fusionpbx', 'Active', false, '', '', '{}', :tenant, "
                "'[]', '[]', 'Monthly', :now)"
            ),
            [
                {
                    "sid": sid,
                    "cid": client_of(sid),
                    "pid": product_of(sid),
                    "tenant": f"t{sid}.pbx.example",
                    "now": now,
                }
                for sid in range(1, services + 1)
            ],
        )
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY cdrs ({', '.join(COST_COLUMNS)}) FROM STDIN") as copy:
            for index in range(cdrs):
                service_id = index % services + 1
                cost = call_cost(index)
                charged = billable is None or service_id <= billable
                total += cost if charged else 0
                start = now - timedelta(hours=23, seconds=index % 80_000)
                copy.write_row(
                    (
                        1,
                        f"bench-{index:08d}",
                        service_id,
                        f"t{service_id}.pbx.example",
                        "outbound",
                        "100",
                        "100",
                        "+442071234567",
                        "+442071234567",
                        start,
                        60,
                        55,
                        "answered",
                        "NORMAL_CLEARING",
                        now,
                        now,
                        charged,
                        True,
                        cost,
                    )
                )
        connection.execute(text("ANALYZE cdrs"))
    engine.dispose()
    return total


def refetch_slice(url: str, rows: int, now: datetime) -> int:
    """Fetch the first `rows` CDRs again, as an overlapping sync window would: returns how many were new."""
    from cdr_service.store import CDR_INSERT_COLUMNS, copy_insert_cdrs

    engine = create_engine(url)
    with engine.begin() as connection:
        existing = connection.execute(
            text(f"SELECT {', '.join(CDR_INSERT_COLUMNS)} FROM cdrs ORDER BY id LIMIT :n"), {"n": rows}
        ).all()
        inserted = copy_insert_cdrs(connection, [tuple(row) for row in existing])
    engine.dispose()
    return inserted


def serve_cdr_service(url: str, redis_url: str, port_queue: multiprocessing.Queue) -> None:
    """Child process: the real cdr-service on its bench database."""
    from cdr_service import create_app
    from tollgate_common.testing import service_config
    from tollgate_sim.whmcs.server import serving

    app = create_app(service_config(url, redis_url))
    with serving(app) as base:
        port_queue.put(base)
        while True:
            time.sleep(3600)


def serve_rating_stub(port_queue: multiprocessing.Queue) -> None:
    """Child process: rating-service's package lookup for the three bench products."""
    from tollgate_sim.whmcs.server import serving

    app = Flask("rating-stub")
    packages = {
        PREPAID_PRODUCT: {"id": 1, "billing_mode": "prepaid", "realtime": False},
        POSTPAID_PRODUCT: {"id": 2, "billing_mode": "postpaid", "realtime": False},
    }

    @app.get("/v1/packages")
    def lookup():
        package = packages.get(request.args.get("product_id", type=int))
        return jsonify([package] if package else [])

    with serving(app) as base:
        port_queue.put(base)
        while True:
            time.sleep(3600)


def serve_whmcs(clients: int, port_queue: multiprocessing.Queue) -> None:
    """Child process: WHMCS with the bench clients; 1 in 10 has too little credit (shortfall invoices)."""
    from tollgate_sim.whmcs import WhmcsState, create_app
    from tollgate_sim.whmcs.server import serving
    from tollgate_sim.whmcs.state import Client

    state = WhmcsState()
    for client_id in range(1, clients + 1):
        credit = Decimal("1.00") if client_id % 10 == 0 else Decimal("500.00")
        state.clients[client_id] = Client(client_id, "C", f"No{client_id}", f"c{client_id}@example.test", credit=credit)
    with serving(create_app(state)) as base:
        port_queue.put(base)
        while True:
            time.sleep(3600)


def start(target, *args) -> tuple[multiprocessing.Process, str]:
    ports: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=target, args=(*args, ports), daemon=True)
    process.start()
    return process, ports.get(timeout=300)


def balance_app(database_url: str, redis_url: str, cdr_url: str, rating_url: str, concurrency: tuple[int, int]):
    from balance_service import create_app
    from tollgate_common.testing import service_config

    return create_app(
        service_config(
            database_url,
            redis_url,
            cdr_url=cdr_url,
            rating_url=rating_url,
            cdr_sync_wait_seconds=0,
            claim_concurrency=concurrency[0],
            whmcs_concurrency=concurrency[1],
        )
    )


def configure_whmcs(app, whmcs_url: str) -> None:
    from tollgate_common.testing import internal_client

    body = {"url": whmcs_url, "identifier": "sim-identifier", "secret": "sim-secret"}
    response = internal_client(app).put("/v1/settings/whmcs", json=body)
    assert response.status_code == 200, response.json


def timed_run(app, run_key: str) -> tuple[float, dict]:
    from balance_service import jobs

    with app.app_context():
        began = time.perf_counter()
        report = jobs.autobill(f"autobill:{run_key}", "daily")
        return time.perf_counter() - began, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=500, help="services in the one-claim-at-a-time baseline")
    parser.add_argument("--claims", type=int, default=4, help="BALANCE_CLAIM_CONCURRENCY of the measured run")
    parser.add_argument("--clients", type=int, default=8, help="BALANCE_WHMCS_CONCURRENCY of the measured run")
    args = parser.parse_args()

    from tollgate_common.testing import REDIS_BASE_URL, claim_redis_database

    index, claim = claim_redis_database()
    redis_url = f"{REDIS_BASE_URL}/{index}"
    Redis.from_url(redis_url).flushdb()
    now = datetime.now(UTC).replace(microsecond=0)
    clients = client_of(args.services)
    rating_process, rating_url = start(serve_rating_stub)
    processes = [rating_process]
    print(f"autobill benchmark: {args.services:,} services, {clients:,} clients, {args.cdrs:,} rated CDRs")

    def prepare(services: int, cdrs: int, concurrency: tuple[int, int], billable: int | None = None):
        cdr_url_db = recreate("tg_bench_autobill_cdr", ROOT / "cdr-service" / "migrations")
        began = time.perf_counter()
        total = seed_cdr_store(cdr_url_db, services, cdrs, now, billable)
        seeded = time.perf_counter() - began
        balance_db = recreate("tg_bench_autobill_balance", ROOT / "balance-service" / "migrations")
        cdr_process, cdr_url = start(serve_cdr_service, cdr_url_db, redis_url)
        whmcs_process, whmcs_url = start(serve_whmcs, client_of(services))
        processes.extend([cdr_process, whmcs_process])
        app = balance_app(balance_db, redis_url, cdr_url, rating_url, concurrency)
        configure_whmcs(app, whmcs_url)
        return app, cdr_url_db, total, seeded, (cdr_process, whmcs_process)

    try:
        # Baseline: one claim and one client at a time, on a sample of the services of a full-size store.
        sample_cdrs = args.cdrs * args.sample // args.services
        app, _url, _total, _seeded, children = prepare(args.services, args.cdrs, (1, 1), billable=args.sample)
        naive, report = timed_run(app, "daily:baseline")
        app.extensions["db"].dispose()
        for child in children:
            child.terminate()
        naive_total = naive / args.sample * args.services
        print(
            f"baseline (one claim, one client at a time): {args.sample} services, {sample_cdrs:,} CDRs "
            f"in {naive:.1f} s "
            f"-> {naive_total:.0f} s extrapolated to {args.services:,} services"
        )

        app, cdr_db, rated_total, seeded, _children = prepare(args.services, args.cdrs, (args.claims, args.clients))
        print(f"seeded {args.cdrs:,} CDRs in {seeded:.1f} s (not timed)")
        elapsed, report = timed_run(app, "daily:bench")
        posted = {kind: Decimal(amount) for kind, amount in report["posted"].items()}
        print(
            f"autobill ({args.claims} claims, {args.clients} clients at a time): {report['charges']:,} charges, "
            f"{report['calls']:,} calls in {elapsed:.1f} s ({report['calls'] / elapsed:,.0f} CDRs/s); posted "
            + ", ".join(f"{kind} {amount}" for kind, amount in sorted(posted.items()))
        )

        engine = create_engine(cdr_db)
        with engine.connect() as connection:
            unclaimed = connection.execute(text("SELECT count(*) FROM cdrs WHERE claim_id IS NULL")).scalar_one()
        engine.dispose()
        carried = Decimal(report["rated"]) - Decimal(report["charged"])
        assert unclaimed == 0, f"{unclaimed} CDRs left unclaimed"
        assert report["unresolved"] == [] and report["failures"] == [], report["failures"][:5]
        assert Decimal(report["rated"]) == rated_total, (report["rated"], rated_total)
        assert abs(carried) <= Decimal("0.005") * report["charges"], carried
        print(
            f"checks: every CDR claimed once; rated {report['rated']} = seeded {rated_total}; "
            f"charged {report['charged']} (carried {carried} in sub-cents)"
        )
        new_rows = refetch_slice(cdr_db, 100_000, now)
        again, rerun = timed_run(app, "daily:bench-next")
        print(
            f"same CDRs fetched again (100,000 rows): {new_rows} new; next run charged {rerun['charges']} "
            f"services in {again:.1f} s"
        )
        assert new_rows == 0 and rerun["charges"] == 0
        verdict = "met" if elapsed < TARGET_SECONDS else "NOT met"
        print(
            f"target < {TARGET_SECONDS:.0f} s: {verdict} ({elapsed:.1f} s, {naive_total / elapsed:.1f}x the "
            "serial baseline)"
        )
    finally:
        for process in processes:
            process.terminate()
        Redis.from_url(redis_url).flushdb()
        claim.close()


if __name__ == "__main__":
    main()
