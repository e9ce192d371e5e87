"""Benchmark: one page of a client's CDRs (with its totals) from a 1,000,000-row store; target p95 < 50 ms.

    .venv/bin/python bench/bench_cdr_views.py --rows 1000000

Requests go through the real Flask app (routing, schemas, JSON) on PostgreSQL. The comparison
baseline is the same requests after dropping the (service_id, start_at) index.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TOKEN = "bench-internal-token-0123456789"
TARGET_P95_MS = 50.0
COLUMNS = (
    "server_id, source_id, service_id, tenant, direction, extension, caller_number, destination_number, "
    "caller_destination, start_at, answer_at, end_at, duration, billsec, status, hangup_cause, fetched_at, "
    "rated_at, billable, reason, visible, billed_seconds, free_seconds, rate_per_minute, cost, cost_exact"
)


def recreate_database(name: str) -> str:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def fill_store(url: str, rows: int, services: int, server_id: int) -> None:
    """COPY `rows` rated CDRs spread over `services` services and the last 60 days."""
    rng = random.Random(7)
    now = datetime.now(UTC)
    rate = Decimal("0.012")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        with connection.cursor() as cursor, cursor.copy(f"COPY cdrs ({COLUMNS}) FROM STDIN") as copy:
            for index in range(rows):
                service_id = 1 + index % services
                start = now - timedelta(seconds=rng.randrange(60 * 86400))
                direction = rng.choice(("outbound", "outbound", "inbound", "local"))
                billsec = rng.choice((0, rng.randrange(1, 900)))
                billable = direction == "outbound" and billsec > 0
                billed = -(-billsec // 6) * 6 if billable else 0
                exact = rate * billed / 60
                number = f"1{rng.randrange(2000000000, 9999999999)}"
                copy.write_row(
                    (
                        server_id,
                        f"bench-{index}",
                        service_id,
                        f"tenant{service_id}.example",
                        direction,
                        "2100",
                        "2100" if direction != "inbound" else number,
                        number if direction != "inbound" else "2100",
                        number if direction != "inbound" else "15195550000",
                        start,
                        start if billsec else None,
                        start + timedelta(seconds=billsec),
                        billsec,
                        billsec,
                        "answered" if billsec else "no_answer",
                        "NORMAL_CLEARING",
                        now,
                        now,
                        billable,
                        "billable" if billable else "local",
                        True,
                        billed,
                        0,
                        rate if billable else None,
                        exact.quantize(Decimal("0.0001")),
                        exact,
                    )
                )
        connection.execute("ANALYZE cdrs")


def measure(client, services: int, count: int, seed: int) -> list[float]:
    """Time `count` page requests (random service, page and sort) in milliseconds."""
    rng = random.Random(seed)
    timings = []
    for _ in range(count):
        query = {
            "period": "current",
            "page": rng.randint(1, 5),
            "per_page": 50,
            "sort": rng.choice(("-start", "start", "-cost")),
        }
        started = time.perf_counter()
        response = client.get(f"/v1/services/{rng.randint(1, services)}/cdrs", query_string=query)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    return timings


def p95(timings: list[float]) -> float:
    return statistics.quantiles(timings, n=20)[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()

    from cdr_service import create_app
    from cdr_service.servers import create_server
    from cdr_service.services import upsert_service
    from tollgate_common.db import upgrade_database

    name = f"tg_bench_views_{uuid.uuid4().hex[:6]}"
    url = recreate_database(name)
    upgrade_database(ROOT / "cdr-service" / "migrations", url)
    app = create_app(
        {
            "database_url": url,
            "redis_url": "redis://127.0.0.1:6379/8",
            "internal_token": TOKEN,
            "log_json": False,
            "log_level": "WARNING",
            "secret_key": Fernet.generate_key().decode(),
        }
    )
    try:
        with app.app_context():
            db = app.extensions["db"]
            with db.session() as session:
                server = create_server(
                    session,
                    app.extensions["cdr_secret_box"],
                    {"name": "bench", "kind": "fusionpbx", "settings": {"db_dsn": "postgresql://h/fusionpbx"}},
                )
            next_due = (datetime.now(UTC).date() + timedelta(days=12)).isoformat()
            for service_id in range(1, args.services + 1):
                upsert_service(
                    db,
                    service_id,
                    {
                        "client_id": service_id,
                        "product_id": 1,
                        "server_id": server.id,
                        "domain": f"tenant{service_id}.example",
                        "next_due_date": datetime.fromisoformat(next_due).date(),
                    },
                )
        started = time.perf_counter()
        fill_store(url, args.rows, args.services, server.id)
        print(f"stored {args.rows:,} CDRs for {args.services} services in {time.perf_counter() - started:.0f} s")
        client = app.test_client()
        client.environ_base["HTTP_X_INTERNAL_TOKEN"] = TOKEN
        measure(client, args.services, 20, seed=1)
        timings = measure(client, args.services, args.requests, seed=2)
        page = client.get("/v1/services/1/cdrs", query_string={"period": "current"}).json
        with create_engine(url).begin() as connection:
            connection.execute(text("DROP INDEX ix_cdrs_service_start"))
        baseline = measure(client, args.services, 20, seed=3)
    finally:
        app.extensions["db"].dispose()
        drop_database(name)
    print(f"one service's current period: {page['totals']['calls']:,} calls; page of 50 with totals")
    print(
        f"with indexes: {args.requests} requests, p50 {statistics.median(timings):.1f} ms, "
        f"p95 {p95(timings):.1f} ms, max {max(timings):.1f} ms (target p95 < {TARGET_P95_MS:.0f} ms: "
        f"{'met' if p95(timings) < TARGET_P95_MS else 'NOT met'})"
    )
    print(
        f"baseline without ix_cdrs_service_start: 20 requests, p50 {statistics.median(baseline):.1f} ms, "
        f"p95 {p95(baseline):.1f} ms"
    )


if __name__ == "__main__":
    main()
