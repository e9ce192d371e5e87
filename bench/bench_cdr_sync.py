"""Benchmark: sync FusionPBX CDRs (database mode) into the CDR store and rate them, end to end.

Target (issue 4): at least 20,000 CDRs/s for 1,000,000 CDRs. Prints the measured figures and, as the
comparison baseline, the same store fed row by row through the ORM (the obvious implementation).

    .venv/bin/python bench/bench_cdr_sync.py --rows 1000000

The FusionPBX database is generated once (kept as tg_bench_fusionpbx_<rows>, reused by later runs);
rating goes over HTTP to a rating-service stub in its own process (contract A, fixed rules), or to
a real rating-service with --rating-url.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TARGET_PER_SECOND = 20_000
TOKEN = "bench-internal-token-0123456789"


def database_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def database_exists(name: str) -> bool:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        found = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
    admin.dispose()
    return found is not None


def recreate_database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return database_url(name)


def tenants(count: int) -> list[str]:
    return [f"tenant{index:03d}.pbx.example" for index in range(count)]


def build_pbx(rows: int, tenant_count: int) -> str:
    """Create (once) a FusionPBX 5.5 database holding `rows` A-leg CDRs over the last 30 days."""
    from tollgate_sim.fusionpbx import TrafficGenerator, create_schema, seed_tenant

    name = f"tg_bench_fusionpbx_{rows}"
    url = database_url(name)
    if database_exists(name):
        engine = create_engine(url)
        with engine.connect() as connection:
            present = connection.execute(text("SELECT count(*) FROM v_xml_cdr")).scalar_one()
        engine.dispose()
        if present == rows:
            print(f"reusing {name} ({rows:,} CDRs)")
            return url
    recreate_database(name)
    create_schema(url, version="5.5")
    for tenant in tenants(tenant_count):
        seed_tenant(url, tenant, extensions=[str(2100 + index) for index in range(10)], gateways=["carrier"])
    traffic = TrafficGenerator(url, seed=42)
    now = datetime.now(UTC)
    per_tenant = rows // tenant_count
    started = time.perf_counter()
    for index, tenant in enumerate(tenants(tenant_count)):
        count = per_tenant + (rows - per_tenant * tenant_count if index == 0 else 0)
        traffic.insert(
            traffic.iter_rows(tenant, count, now - timedelta(days=30), now - timedelta(hours=1), b_leg_ratio=0)
        )
    print(f"generated {rows:,} FusionPBX CDRs in {time.perf_counter() - started:.0f} s (not timed below)")
    return url


def run_rating_stub(port: int) -> None:
    """Serve contract A with fixed rules: outbound answered calls at 0.01/min in 6/6 steps."""
    from flask import Flask, jsonify, request
    from werkzeug.serving import make_server

    app = Flask("rating_stub")
    rate = Decimal("0.01")

    @app.post("/internal/rate-batch")
    def rate_batch():
        results = []
        for cdr in request.get_json()["cdrs"]:
            billable = cdr["direction"] == "outbound" and cdr["answered"]
            billed = -(-cdr["billsec"] // 6) * 6 if billable else 0
            exact = rate * billed / 60
            results.append(
                {
                    "id": cdr["id"],
                    "billable": billable,
                    "reason": "billable" if billable else ("unanswered" if not cdr["answered"] else "local"),
                    "visible": True,
                    "number_e164": cdr["number"],
                    "number_class": "e164",
                    "prefix": "1",
                    "description": "North America",
                    "source": "tariff" if billable else None,
                    "rate_per_minute": str(rate) if billable else None,
                    "billed_seconds": billed,
                    "free_seconds": 0,
                    "cost": str(exact.quantize(Decimal("0.0001"))),
                    "cost_exact": str(exact),
                    "tariff_version": 1,
                    "package_id": 1,
                }
            )
        return jsonify(results=results)

    make_server("127.0.0.1", port, app, threaded=True).serve_forever()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def baseline_orm_rows_per_second(app, sample: int) -> float:
    """The obvious implementation: one ORM object per CDR, committed in batches of 1,000."""
    from cdr_service.models import Cdr

    db = app.extensions["db"]
    now = datetime.now(UTC)
    started = time.perf_counter()
    for offset in range(0, sample, 1000):
        with db.session() as session:
            for index in range(offset, min(offset + 1000, sample)):
                session.add(
                    Cdr(
                        server_id=1,
                        source_id=f"baseline-{index}",
                        tenant="baseline.example",
                        direction="outbound",
                        extension="2100",
                        caller_number="2100",
                        destination_number="15145550000",
                        caller_destination="15145550000",
                        start_at=now,
                        duration=60,
                        billsec=60,
                        status="answered",
                        hangup_cause="NORMAL_CLEARING",
                        fetched_at=now,
                        visible=True,
                    )
                )
    return sample / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--rating-url", default="")
    parser.add_argument("--rate-batch", type=int, default=5000)
    parser.add_argument("--fetch-batch", type=int, default=20000)
    args = parser.parse_args()

    from cdr_service import create_app
    from cdr_service.jobs import sync_one
    from cdr_service.rating import RatingAlongside, rate_pending
    from cdr_service.runtime import rating_client
    from cdr_service.servers import create_server
    from cdr_service.services import upsert_service
    from tollgate_common.db import upgrade_database

    pbx_url = build_pbx(args.rows, args.tenants)
    store_name = f"tg_bench_cdr_{uuid.uuid4().hex[:6]}"
    store_url = recreate_database(store_name)
    upgrade_database(ROOT / "cdr-service" / "migrations", store_url)
    stub = None
    rating_url = args.rating_url
    if not rating_url:
        port = free_port()
        stub = multiprocessing.Process(target=run_rating_stub, args=(port,), daemon=True)
        stub.start()
        rating_url = f"http://127.0.0.1:{port}"
        time.sleep(1.0)
    app = create_app(
        {
            "database_url": store_url,
            "redis_url": "redis://127.0.0.1:6379/8",
            "internal_token": TOKEN,
            "log_json": False,
            "log_level": "WARNING",
            "secret_key": Fernet.generate_key().decode(),
            "rating_url": rating_url,
            "fetch_batch_size": args.fetch_batch,
            "rate_batch_size": args.rate_batch,
            "initial_sync_days": 35,
        }
    )
    try:
        with app.app_context():
            db = app.extensions["db"]
            with db.session() as session:
                server = create_server(
                    session,
                    app.extensions["cdr_secret_box"],
                    {
                        "name": "bench",
                        "kind": "fusionpbx",
                        "timezone": "America/Toronto",
                        "settings": {"db_dsn": pbx_url},
                    },
                )
            service_ids = [1000 + index for index in range(args.tenants)]
            for service_id, tenant in zip(service_ids, tenants(args.tenants), strict=True):
                upsert_service(
                    db, service_id, {"client_id": service_id, "product_id": 1, "server_id": server.id, "domain": tenant}
                )
            # what cdr_service.jobs.sync_server does: rate alongside the sync, then rate what is left
            started = time.perf_counter()
            rating = RatingAlongside(db, rating_client(), batch_size=args.rate_batch, service_ids=service_ids)
            with rating:
                synced = sync_one(server.id)
                stored_at = time.perf_counter()
            finished = time.perf_counter()
            rated = rating.counts()
            leftover = rate_pending(db, rating_client(), batch_size=args.rate_batch)["rated"]
            assert leftover == 0, f"{leftover} CDRs were left unrated"
            baseline = baseline_orm_rows_per_second(app, 20_000)
    finally:
        app.extensions["db"].dispose()
        if stub is not None:
            stub.terminate()
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{store_name}" WITH (FORCE)'))
        admin.dispose()
    total = finished - started
    stored = synced["stored"]
    print(f"CDRs read from FusionPBX (A legs): {synced['fetched']:,}; stored: {stored:,}; rated: {rated['rated']:,}")
    print(
        f"fetch + store, rating running alongside: {stored_at - started:.1f} s; rating done "
        f"{finished - stored_at:.1f} s later (HTTP batches of {args.rate_batch:,})"
    )
    print(
        f"end to end: {total:.1f} s -> {stored / total:,.0f} CDRs/s (target {TARGET_PER_SECOND:,} CDRs/s: "
        f"{'met' if stored / total >= TARGET_PER_SECOND else 'NOT met'})"
    )
    print(f"baseline, ORM row-by-row insert only (20,000 rows, no fetch, no rating): {baseline:,.0f} CDRs/s")


if __name__ == "__main__":
    main()
