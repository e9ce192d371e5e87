"""Rate 1,000,000 CDRs against a 100,000-prefix tariff in the engine, beside the per-call SQL lookup.

The SQL side is the lookup ASTPP, A2Billing and MagnusBilling do: one query per call matching every
prefix of the number, longest first, on PostgreSQL with an index on the prefix. It runs on a sample of
the same calls (default 20,000) and its rate is extrapolated; both sides must agree on every sampled call.

    python bench/bench_rating.py [--cdrs 1000000] [--prefixes 100000] [--sql-sample 20000] [--runs 3]
                                 [--http-batches 10]
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import random
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import psycopg

from rating_service.engine.cost import cost_numerator, from_micro, mark_up, rounded_cost, to_micro
from rating_service.engine.filters import compile_filters
from rating_service.engine.increments import billed_seconds
from rating_service.engine.numbers import DialPlan
from rating_service.engine.rater import Call, PackageRules, rate_call, settle
from rating_service.engine.tariffs import CompiledTariff, TariffRate

PG_ADMIN_URL = os.environ.get("TOLLGATE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BATCH_CDRS = 5000
"""CDRs per batch, as cdr-service sends them to /internal/rate-batch."""
PREPARED_LOOKUP = (
    "SELECT prefix, rate, first_block, step, connect_fee FROM rates WHERE prefix = ANY(%s) "
    "ORDER BY length(prefix) DESC LIMIT 1"
)
LITERAL_LOOKUP = (
    "SELECT prefix, rate, first_block, step, connect_fee FROM rates WHERE prefix IN ({listed}) "
    "ORDER BY length(prefix) DESC LIMIT 1"
)
INCREMENTS = [(6, 6), (1, 1), (30, 6), (60, 60), (60, 1)]
MARKUP = Decimal(25)
SUPPRESS = "*xx,#xx,4443,4747,201,202,203,999,555"
EXCLUDE = "844xxxxxxx,888xxxxxxx,877xxxxxxx,866xxxxxxx,800xxxxxxx,1800xxxxxxx,1888xxxxxxx,911"


def make_deck(size: int, rnd: random.Random) -> list[TariffRate]:
    """Country codes of 1-3 digits, each extended by area and exchange codes up to 9 digits, like real decks."""
    countries = [str(code) for code in rnd.sample(range(1, 999), 220)]
    seen: set[str] = set(countries)
    rates = []
    while len(seen) < size:
        country = rnd.choice(countries)
        seen.add(country + str(rnd.randint(0, 10 ** rnd.randint(1, 6) - 1)))
    for prefix in sorted(seen):
        first, step = rnd.choice(INCREMENTS)
        rate = rnd.randint(500, 400_000)
        connect = rnd.choice((0, 0, 0, 10_000))
        rates.append(TariffRate(prefix, f"Destination {prefix}", rate, first, step, connect, 0))
    return rates


def make_calls(count: int, deck: list[TariffRate], rnd: random.Random) -> list[Call]:
    """Calls to numbers under random prefixes (about 2 % to numbers no prefix covers)."""
    prefixes = [rate.prefix for rate in deck]
    calls = []
    for index in range(count):
        if rnd.random() < 0.02:
            number = "999" + str(rnd.randint(10**8, 10**9 - 1))
        else:
            prefix = rnd.choice(prefixes)
            number = prefix + str(rnd.randint(0, 10**12)).zfill(12)[: max(0, 12 - len(prefix))]
        billsec = 0 if rnd.random() < 0.1 else rnd.randint(1, 900)
        calls.append(Call(str(index), "outbound", number, billsec, billsec > 0, 1.8e9, "2112", "2112"))
    return calls


def engine_run(calls: list[Call], package: PackageRules, compiled: CompiledTariff, filters=None, keep: int = 0):
    """Rate and price every call in batches of BATCH_CDRS, as the batch endpoint does; keep the first `keep`.

    Returns (wall seconds, CPU seconds, billable count, total cost, kept ratings). Each batch's results
    are dropped once counted, as a request's are once answered. CPU seconds are this process's only, so
    they show the engine's cost per core even while other work shares the machine.
    """
    resolve = lambda _tariff, _start: compiled  # noqa: E731 - one tariff, one version
    kept: list = []
    billable = 0
    total = Decimal(0)
    started, cpu_started = time.perf_counter(), time.process_time()
    for offset in range(0, len(calls), BATCH_CDRS):
        batch = calls[offset : offset + BATCH_CDRS]
        if filters is None:
            ratings = [settle(rate_call(call, package, resolve), package) for call in batch]
        else:
            ratings = [settle(rate_call(call, package, resolve, filters), package) for call in batch]
        for rating in ratings:
            if rating.reason == "billable":
                billable += 1
                total += rating.cost
        if len(kept) < keep:
            kept.extend(ratings[: keep - len(kept)])
    return time.perf_counter() - started, time.process_time() - cpu_started, billable, total, kept


def lookup_run(calls: list[Call], compiled: CompiledTariff) -> float:
    """Time the longest-prefix lookup alone over every call's number."""
    lookup = compiled.lookup
    started = time.perf_counter()
    for call in calls:
        lookup(call.number)
    return time.perf_counter() - started


def http_batch_run(deck: list[TariffRate], calls: list[Call], batches: int) -> tuple[float, int]:
    """Post `batches` batches of BATCH_CDRS CDRs to /internal/rate-batch of a real app on a SQLite file.

    This is the whole service path (JSON, validation, free-minute bookkeeping, serialisation), in-process.
    """
    from rating_service import create_app
    from tollgate_common.db import upgrade_database
    from tollgate_common.testing import internal_client, service_config

    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as folder:
        url = f"sqlite:///{Path(folder) / 'rating.db'}"
        upgrade_database(Path(__file__).resolve().parents[1] / "rating-service" / "migrations", url)
        app = create_app(service_config(url, os.environ.get("TOLLGATE_REDIS_URL", "redis://127.0.0.1:6379/0")))
        client = internal_client(app)
        tariff_id = client.post("/v1/tariffs", json={"name": "Bench"}).get_json()["id"]
        lines = ["Description,Prefix,RateValue,Increment,ConnectFee"] + [
            f"{rate.description},{rate.prefix},{from_micro(rate.rate_micro)},{rate.first}/{rate.step},"
            f"{from_micro(rate.connect_micro)}"
            for rate in deck
        ]
        upload = {"file": (io.BytesIO("\n".join(lines).encode()), "deck.csv")}
        client.post(f"/v1/tariffs/{tariff_id}/import", data=upload, content_type="multipart/form-data")
        client.post(
            "/v1/packages",
            json={
                "name": "P",
                "tariff_id": tariff_id,
                "whmcs_product_ids": [1],
                "markup_percent": str(MARKUP),
                "free_minutes": 1000,
            },
        )
        service = {"product_id": 1, "server_id": 1, "period": "2026-11-01", "tenant_numbers": ["2112"]}
        bodies = [
            {
                "services": {"s1": service},
                "cdrs": [
                    {
                        "id": call.id,
                        "service_id": "s1",
                        "direction": call.direction,
                        "number": call.number,
                        "other_party": call.other_party,
                        "extension": call.extension,
                        "billsec": call.billsec,
                        "answered": call.answered,
                        "start": "2026-11-20T10:00:00Z",
                    }
                    for call in calls[index * BATCH_CDRS : (index + 1) * BATCH_CDRS]
                ],
            }
            for index in range(batches)
        ]
        warm_up = {**bodies[0], "cdrs": [{**cdr, "id": "warm-" + cdr["id"]} for cdr in bodies[0]["cdrs"]]}
        started = time.perf_counter()
        client.post("/internal/rate-batch", json=warm_up)
        print(
            f"service path: first batch, which loads and compiles the tariff version: "
            f"{time.perf_counter() - started:.2f} s"
        )
        started = time.perf_counter()
        for body in bodies:
            response = client.post("/internal/rate-batch", json=body)
            assert response.status_code == 200, response.get_json()
        seconds = time.perf_counter() - started
        app.extensions["db"].dispose()
    return seconds, sum(len(body["cdrs"]) for body in bodies)


def sql_setup(deck: list[TariffRate]) -> tuple[str, str]:
    """Create a throwaway database holding the deck in an indexed table; return (admin url, its url)."""
    name = f"tg_bench_rating_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(url) as connection:
        connection.execute(
            "CREATE TABLE rates (prefix varchar(15) NOT NULL, description text NOT NULL, rate numeric(14,6) NOT NULL,"
            " first_block int NOT NULL, step int NOT NULL, connect_fee numeric(14,6) NOT NULL)"
        )
        with connection.cursor().copy("COPY rates FROM STDIN") as copy:
            for rate in deck:
                copy.write_row(
                    (
                        rate.prefix,
                        rate.description,
                        from_micro(rate.rate_micro),
                        rate.first,
                        rate.step,
                        from_micro(rate.connect_micro),
                    )
                )
        connection.execute("CREATE INDEX ix_rates_prefix ON rates (prefix)")
        connection.execute("ANALYZE rates")
    return name, url


def sql_run(url: str, calls: list[Call], prepared: bool, decimals: int = 4) -> tuple[float, list]:
    """Price each call with one lookup query, then the same arithmetic as the engine.

    Not prepared: the query text lists every prefix of the number as literals, as the PHP systems build it
    (`prefix IN ('1','12',...) ORDER BY LENGTH(prefix) DESC LIMIT 1`), so PostgreSQL parses and plans each.
    Prepared: one server-side prepared statement taking the prefixes as an array, the best case for SQL.
    """
    results = []
    with psycopg.connect(url) as connection:
        cursor = connection.cursor()
        started = time.perf_counter()
        for call in calls:
            number = call.number
            candidates = [number[:length] for length in range(len(number), 0, -1)]
            if prepared:
                cursor.execute(PREPARED_LOOKUP, (candidates,), prepare=True)
            else:
                listed = ",".join(f"'{candidate}'" for candidate in candidates)
                cursor.execute(LITERAL_LOOKUP.format(listed=listed).encode(), prepare=False)
            row = cursor.fetchone()
            if row is None or call.billsec <= 0:
                results.append((None, Decimal(0)))
                continue
            prefix, rate, first, step, connect = row
            billed = billed_seconds(call.billsec, first, step)
            units = cost_numerator(mark_up(to_micro(rate), MARKUP), mark_up(to_micro(connect), MARKUP), billed)
            results.append((prefix, rounded_cost(units, decimals, "half_up")))
        return time.perf_counter() - started, results


def mismatches(ratings: list, sql_results: list) -> int:
    """Count sampled calls where the engine and SQL disagree on the prefix or the cost."""
    differing = 0
    for rating, (prefix, cost) in zip(ratings, sql_results, strict=True):
        billable = rating.reason == "billable"
        if (rating.prefix if billable else None, rating.cost if billable else 0) != (prefix, cost):
            differing += 1
    return differing


def main() -> None:
    """Run the engine, service-path and SQL measurements and print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--prefixes", type=int, default=100_000)
    parser.add_argument("--sql-sample", type=int, default=20_000)
    parser.add_argument("--http-batches", type=int, default=10, help="batches posted to the real endpoint")
    parser.add_argument("--runs", type=int, default=3, help="engine runs; the best counts (the machine is shared)")
    args = parser.parse_args()
    rnd = random.Random(20261125)

    started = time.perf_counter()
    deck = make_deck(args.prefixes, rnd)
    compiled = CompiledTariff(1, 1, deck)
    compile_seconds = time.perf_counter() - started
    calls = make_calls(args.cdrs, deck, rnd)
    package = PackageRules(id=1, tariff_id=1, markup_percent=MARKUP, dial_plan=DialPlan(country_code="1"))
    # The generated inputs stand for data that arrives batch by batch; keep the collector from rescanning them.
    gc.collect()
    gc.freeze()
    print(
        f"deck: {len(compiled):,} prefixes of {compiled.lengths[-1]}-{compiled.lengths[0]} digits, "
        f"compiled in {compile_seconds:.2f} s; {len(calls):,} CDRs, {BATCH_CDRS:,} per batch"
    )

    sample_size = min(args.sql_sample, len(calls))
    runs = [engine_run(calls, package, compiled, keep=sample_size) for _ in range(args.runs)]
    engine_seconds, engine_cpu, billable, total, kept = min(runs, key=lambda run: run[0])
    engine_rate = len(calls) / engine_seconds
    every = ", ".join(f"{len(calls) / run[0]:,.0f}" for run in runs)
    print(
        f"engine: {len(calls):,} CDRs in {engine_seconds:.2f} s = {engine_rate:,.0f} CDRs/s on one core, best of "
        f"{args.runs} runs ({every}); by CPU time {len(calls) / engine_cpu:,.0f} CDRs/s; {billable:,} billable, "
        f"total {total} [target >= 150,000 CDRs/s]"
    )
    filters = compile_filters(SUPPRESS, EXCLUDE)
    filtered_seconds, *_ = engine_run(calls, package, compiled, filters)
    print(f"engine with the operators' example filters on: {len(calls) / filtered_seconds:,.0f} CDRs/s")
    lookup_seconds = lookup_run(calls, compiled)
    lookup_rate = len(calls) / lookup_seconds
    print(f"engine prefix lookup alone: {lookup_rate:,.0f} lookups/s")

    http_seconds, http_cdrs = http_batch_run(deck, calls, args.http_batches)
    print(
        f"service path, POST /internal/rate-batch on SQLite (in-process WSGI): {http_cdrs:,} CDRs in "
        f"{http_seconds:.2f} s = {http_cdrs / http_seconds:,.0f} CDRs/s, {http_seconds / args.http_batches:.2f} s "
        f"per {BATCH_CDRS:,}-CDR batch"
    )

    sample = calls[:sample_size]
    name, url = sql_setup(deck)
    try:
        literal_seconds, literal_results = sql_run(url, sample, prepared=False)
        prepared_seconds, prepared_results = sql_run(url, sample, prepared=True)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    for label, seconds, results in (
        ("per-call SQL, literal prefix list (as ASTPP/A2Billing/MagnusBilling)", literal_seconds, literal_results),
        ("per-call SQL, prepared statement (best case for SQL)", prepared_seconds, prepared_results),
    ):
        rate = len(sample) / seconds
        print(
            f"{label}: {len(sample):,} CDRs in {seconds:.2f} s = {rate:,.0f} CDRs/s; "
            f"extrapolated to {len(calls):,} CDRs: {len(calls) / rate:,.0f} s; "
            f"engine / SQL = {engine_rate / rate:,.1f}x [goal >= 50x]; "
            f"lookup alone / SQL = {lookup_rate / rate:,.0f}x; "
            f"results differing from the engine: {mismatches(kept, results)}"
        )


if __name__ == "__main__":
    main()
