"""Free-minute pools in the database: allocate once per CDR, under a row lock per service and period."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .engine.free_minutes import PoolClaim, allocate
from .models import FreeMinuteAllocation, FreeMinutePool

PoolKey = tuple[str, str]
"""(service id, billing period start)."""


def lock_pool(session: Session, key: PoolKey) -> FreeMinutePool:
    """Create the pool row if needed and lock it, so concurrent batches of one service allocate in turn."""
    dialect_insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        dialect_insert(FreeMinutePool).values(service_id=key[0], period=key[1], used_seconds=0).on_conflict_do_nothing()
    )
    return session.scalars(
        select(FreeMinutePool)
        .where(FreeMinutePool.service_id == key[0], FreeMinutePool.period == key[1])
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def allocations_of(session: Session, cdr_ids: list[str]) -> list[tuple[str, str, str, int]]:
    """Return (cdr id, service id, period, seconds) of the CDRs among `cdr_ids` that hold free seconds."""
    if not cdr_ids:
        return []
    query = select(
        FreeMinuteAllocation.cdr_id,
        FreeMinuteAllocation.service_id,
        FreeMinuteAllocation.period,
        FreeMinuteAllocation.seconds,
    ).where(FreeMinuteAllocation.cdr_id.in_(cdr_ids))
    return [tuple(row) for row in session.execute(query)]


def settle_pools(
    session: Session, claims: dict[PoolKey, tuple[int, list[PoolClaim]]], released: Iterable[str]
) -> dict[str, int]:
    """Give back the seconds of `released` CDRs, then grant every claim its free seconds.

    A CDR allocated before keeps its allocation; new claims share what is left of their pool in call-start
    order. Every pool touched is locked first, in one sorted order, so two batches never deadlock.
    """
    released_ids = list(released)
    touched = {(service_id, period) for _, service_id, period, _ in allocations_of(session, released_ids)}
    pools = {key: lock_pool(session, key) for key in sorted(touched | set(claims))}
    # Read again under the locks: another batch may have changed these allocations in between.
    giving_back = [row for row in allocations_of(session, released_ids) if (row[1], row[2]) in pools]
    for _, service_id, period, seconds in giving_back:
        pools[(service_id, period)].used_seconds -= seconds
    if giving_back:
        session.execute(
            delete(FreeMinuteAllocation).where(FreeMinuteAllocation.cdr_id.in_([row[0] for row in giving_back]))
        )
    granted: dict[str, int] = {}
    now = datetime.now(UTC)
    for key in sorted(claims):
        pool_seconds, pool_claims = claims[key]
        earlier = {row[0]: row[3] for row in allocations_of(session, [claim.cdr_id for claim in pool_claims])}
        granted.update(earlier)
        new_claims = [claim for claim in pool_claims if claim.cdr_id not in earlier]
        if not new_claims:
            continue
        fresh = allocate(pool_seconds, pools[key].used_seconds, new_claims)
        session.execute(
            insert(FreeMinuteAllocation),
            [
                {"cdr_id": cdr_id, "service_id": key[0], "period": key[1], "seconds": seconds, "created_at": now}
                for cdr_id, seconds in fresh.items()
            ],
        )
        pools[key].used_seconds += sum(fresh.values())
        granted.update(fresh)
    session.flush()
    return granted
