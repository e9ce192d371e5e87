"""Free-minute pools in the database: allocate once per CDR, under a row lock per service and period."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, select, update
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


def claim_free_seconds(session: Session, pools: dict[PoolKey, tuple[int, list[PoolClaim]]]) -> dict[str, int]:
    """Return the free seconds of every claim: a CDR allocated before keeps its allocation, new ones share
    what is left of their pool in call-start order."""
    granted: dict[str, int] = {}
    for key in sorted(pools):  # a fixed lock order, so two batches never deadlock on each other's pools
        pool_seconds, claims = pools[key]
        pool = lock_pool(session, key)
        ids = [claim.cdr_id for claim in claims]
        earlier = dict(
            session.execute(
                select(FreeMinuteAllocation.cdr_id, FreeMinuteAllocation.seconds).where(
                    FreeMinuteAllocation.cdr_id.in_(ids)
                )
            ).all()
        )
        granted.update(earlier)
        new_claims = [claim for claim in claims if claim.cdr_id not in earlier]
        if not new_claims:
            continue
        fresh = allocate(pool_seconds, pool.used_seconds, new_claims)
        session.add_all(
            FreeMinuteAllocation(cdr_id=cdr_id, service_id=key[0], period=key[1], seconds=seconds)
            for cdr_id, seconds in fresh.items()
        )
        pool.used_seconds += sum(fresh.values())
        granted.update(fresh)
    session.flush()
    return granted


def release(session: Session, cdr_ids: Iterable[str]) -> None:
    """Give back the allocations of CDRs that no longer use free minutes (now excluded, unanswered...)."""
    ids = list(cdr_ids)
    if not ids:
        return
    rows = session.execute(
        select(FreeMinuteAllocation.service_id, FreeMinuteAllocation.period, FreeMinuteAllocation.seconds).where(
            FreeMinuteAllocation.cdr_id.in_(ids)
        )
    ).all()
    for service_id, period, seconds in rows:
        lock_pool(session, (service_id, period))
        session.execute(
            update(FreeMinutePool)
            .where(FreeMinutePool.service_id == service_id, FreeMinutePool.period == period)
            .values(used_seconds=FreeMinutePool.used_seconds - seconds)
        )
    if rows:
        session.execute(delete(FreeMinuteAllocation).where(FreeMinuteAllocation.cdr_id.in_(ids)))
