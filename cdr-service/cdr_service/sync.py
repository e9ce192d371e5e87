"""Sync one server: fetch from the watermark (minus an overlap), store each batch, advance the watermark."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tollgate_common.db import Database

from .adapters.base import ProviderAdapter
from .attribution import Attributor
from .models import ServiceAssignment
from .pbx_actions import target_of
from .store import advance_watermark, load_watermark, store_batch


def sync_window_start(position: datetime | None, now: datetime, overlap_seconds: int, initial_days: int) -> datetime:
    """Where the next fetch starts: the watermark minus the overlap, or `initial_days` back on a first sync."""
    if position is None:
        return now - timedelta(days=initial_days)
    return position - timedelta(seconds=overlap_seconds)


def sync_server_cdrs(
    db: Database,
    server_id: int,
    adapter: ProviderAdapter,
    *,
    overlap_seconds: int,
    initial_days: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fetch and store a server's new CDRs; each stored batch moves the watermark, so a crash resumes there."""
    now = datetime.now(UTC)
    watermark = load_watermark(db, server_id)
    overlap = max(overlap_seconds, adapter.min_overlap_seconds)
    since = sync_window_start(watermark.position, now, overlap, initial_days)
    with db.session() as session:
        assignments = session.scalars(select(ServiceAssignment).where(ServiceAssignment.server_id == server_id)).all()
        attributor = Attributor(assignments)
        targets = [target_of(assignment) for assignment in assignments if assignment.terminated_at is None]
    fetched = stored = quarantined = 0
    try:
        for batch in adapter.fetch(since, now, targets):
            new, held = store_batch(db, server_id, batch, attributor)
            count = len(batch.records) + len(batch.rejected)
            fetched, stored, quarantined = fetched + count, stored + new, quarantined + held
            advance_watermark(db, server_id, position=batch.position, fetched=count, stored=new, quarantined=held)
            if progress is not None:
                progress(fetched, stored)
    except Exception as exc:
        advance_watermark(db, server_id, last_run_at=now, last_status="failed", last_error=str(exc)[:2000])
        raise
    advance_watermark(db, server_id, last_run_at=now, last_status="ok", last_error=None)
    return {
        "server_id": server_id,
        "since": since.isoformat(),
        "fetched": fetched,
        "stored": stored,
        "quarantined": quarantined,
    }
