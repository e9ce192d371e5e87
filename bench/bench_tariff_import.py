"""Import a 1,000,000-row rate deck through the real importer, on PostgreSQL (COPY) and SQLite (executemany).

Each import runs in a child process so its peak memory (max RSS) is its own. The baseline beside it is
row-by-row ORM inserts (what a straightforward importer does), timed on a sample and extrapolated.

    python bench/bench_tariff_import.py [--rows 1000000] [--baseline-rows 20000] [--backends postgres,sqlite]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg

from tollgate_common.db import Database, upgrade_database

PG_ADMIN_URL = os.environ.get("TOLLGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
MIGRATIONS = Path(__file__).resolve().parents[1] / "rating-service" / "migrations"
MAPPING = {
    "Destination": "Description",
    "Code": "Prefix",
    "Rate": "RateValue",
    "Billing": "Increment",
    "Setup": "ConnectFee",
    "Changed": "Lastratechangedate",
}
BASELINE_VERSION_ID = 999_999
"""The baseline writes under a version id of its own, beside the rows the real import left."""
INCREMENTS = ("6", "1/1", "30/6", "60/60", "60/1")


def write_deck(path: Path, rows: int) -> None:
    """Write a carrier-like deck with unique prefixes, an unmapped column and a few quoted descriptions."""
    rnd = random.Random(7)
    with path.open("w", encoding="utf-8", newline="") as deck:
        deck.write("Destination,Code,Rate,Billing,Setup,Changed,Notes\n")
        for index in range(rows):
            prefix = str(10_000_000 + index * 7)
            description = f'"Zone {index % 997}, Region {index % 31}"' if index % 10 == 0 else f"Zone {index % 997}"
            rate = Decimal(rnd.randint(100, 900_000)).scaleb(-6)
            deck.write(f"{description},{prefix},{rate},{rnd.choice(INCREMENTS)},0,2026-11-01,n/a\n")


def create_pg_database() -> tuple[str, str]:
    """Create a throwaway PostgreSQL database; return (name, url)."""
    name = f"tg_bench_import_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(name: str) -> None:
    """Drop the throwaway database, closing its connections."""
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def child_import(url: str, deck: str) -> None:
    """Run one import in this process and print its figures as JSON (the parent reads them)."""
    from rating_service.tariff_store import create_tariff, import_deck

    database = Database(url)
    with database.session() as session:
        tariff_id = create_tariff(session, "Bench", "USD").id
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with open(deck, "rb") as stream:
        result = import_deck(database, tariff_id, stream, MAPPING, filename="bench.csv")
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "imported": result.imported, "rss_before_kb": rss_before, "peak_kb": peak}))


def child_baseline(url: str, deck: str, rows: int) -> None:
    """Insert `rows` rows one ORM object at a time, the straightforward way, and print the time taken."""
    import csv

    from rating_service.engine.increments import parse_increment
    from rating_service.models import TariffRateRow

    database = Database(url)
    started = time.perf_counter()
    with database.session() as session, open(deck, encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        for index, row in enumerate(reader):
            if index == rows:
                break
            first, step = parse_increment(row["Billing"])
            session.add(
                TariffRateRow(
                    version_id=BASELINE_VERSION_ID,
                    prefix=row["Code"],
                    description=row["Destination"],
                    rate=Decimal(row["Rate"]),
                    first_block=first,
                    step=step,
                    connect_fee=Decimal(row["Setup"]),
                    grace_seconds=0,
                    last_rate_change=row["Changed"],
                )
            )
            session.flush()
    print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))


def run_child(*args: str) -> dict:
    """Run this script in a child process and return the JSON figures it prints."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_backend(backend: str, deck: Path, workdir: Path, rows: int, baseline_rows: int) -> None:
    """Import the deck and run the baseline on one backend, then print both."""
    pg_name = None
    if backend == "postgres":
        pg_name, url = create_pg_database()
    else:
        url = f"sqlite:///{workdir / 'bench.db'}"
    try:
        upgrade_database(MIGRATIONS, url)
        figures = run_child("--child-import", url, str(deck))
        baseline = run_child("--child-baseline", url, str(deck), str(baseline_rows))
    finally:
        if pg_name:
            drop_pg_database(pg_name)
    rate = figures["imported"] / figures["seconds"]
    baseline_rate = baseline["rows"] / baseline["seconds"]
    print(
        f"{backend}: imported {figures['imported']:,} rows in {figures['seconds']:.1f} s = {rate:,.0f} rows/s; "
        f"peak memory {figures['peak_kb'] / 1024:.0f} MB (process was {figures['rss_before_kb'] / 1024:.0f} MB "
        f"before the import) [targets: < 20 s, < 400 MB]"
    )
    print(
        f"{backend} baseline, ORM insert per row: {baseline['rows']:,} rows in {baseline['seconds']:.1f} s = "
        f"{baseline_rate:,.0f} rows/s; extrapolated to {rows:,} rows: {rows / baseline_rate:,.0f} s "
        f"(bulk import is {rate / baseline_rate:,.0f}x faster)"
    )


def main() -> None:
    """Write the deck and benchmark each backend (or run as a child process)."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child-import":
        child_import(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child-baseline":
        child_baseline(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--baseline-rows", type=int, default=20_000)
    parser.add_argument("--backends", default="postgres,sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as folder:
        workdir = Path(folder)
        deck = workdir / "deck.csv"
        started = time.perf_counter()
        write_deck(deck, args.rows)
        size = deck.stat().st_size / 1024 / 1024
        print(f"deck: {args.rows:,} rows, {size:.0f} MB, written in {time.perf_counter() - started:.1f} s")
        for backend in args.backends.split(","):
            bench_backend(backend, deck, workdir, args.rows, args.baseline_rows)


if __name__ == "__main__":
    main()
