"""RQ jobs of the cdr queue; each takes ids and primitives and re-reads state."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from tollgate_common.jobs import report_progress
from tollgate_common.service import get_db, get_redis, settings

from . import pbx_actions
from .models import Server, ServiceAssignment, SyncRun
from .rating import RatingAlongside, rate_pending
from .runtime import adapter_for, rating_client
from .servers import get_server
from .sync import sync_server_cdrs


def sync_server(server_id: int) -> dict:
    """Fetch a server's new CDRs into the store and rate its services' calls as they land; safe to repeat."""
    with get_db().session() as session:
        service_ids = list(
            session.scalars(select(ServiceAssignment.service_id).where(ServiceAssignment.server_id == server_id))
        )
    rating = RatingAlongside(get_db(), rating_client(), batch_size=settings().rate_batch_size, service_ids=service_ids)
    with rating:
        summary = sync_one(server_id)
    summary["rating"] = rating.counts()
    return summary


def sync_one(server_id: int) -> dict[str, Any]:
    """Fetch and store one server's new CDRs (no rating); a disabled server is skipped."""
    db = get_db()
    with db.session() as session:
        server = get_server(session, server_id)
        if not server.enabled:
            return {"server_id": server_id, "skipped": "server disabled", "fetched": 0, "stored": 0}
        adapter = adapter_for(server)
    config = settings()
    return sync_server_cdrs(
        db,
        server_id,
        adapter,
        overlap_seconds=config.sync_overlap_seconds,
        initial_days=config.initial_sync_days,
        progress=lambda fetched, stored: report_progress(fetched, None, f"server {server_id}: {stored} new CDRs"),
    )


def rate_new(service_ids: list[int] | None = None) -> dict[str, int]:
    """Rate every attributed CDR that has no rating yet (or had no rate), in batches."""
    counts = rate_pending(
        get_db(),
        rating_client(),
        batch_size=settings().rate_batch_size,
        service_ids=service_ids,
        progress=lambda rated: report_progress(rated, None, f"{rated} CDRs rated"),
    )
    counts.pop("last_id")
    return counts


def sync_all(run_key: str) -> dict:
    """Sync CDRs from every server once for `run_key`, then rate new CDRs; a repeated key returns the recorded run."""
    db = get_db()
    with db.session() as session:
        run = session.scalar(select(SyncRun).where(SyncRun.run_key == run_key))
        if run is not None and run.status == "finished":
            return sync_run_summary(run)
        if run is None:
            run = SyncRun(
                run_key=run_key, started_at=datetime.now(UTC), status="running", servers=0, fetched=0, stored=0
            )
            session.add(run)
        server_ids = list(session.scalars(select(Server.id).where(Server.enabled.is_(True)).order_by(Server.id)))
    failures: dict[str, str] = {}
    fetched = stored = 0
    alongside = RatingAlongside(get_db(), rating_client(), batch_size=settings().rate_batch_size)
    with alongside:
        for index, server_id in enumerate(server_ids):
            report_progress(index, len(server_ids), f"syncing server {server_id}")
            try:
                result = sync_one(server_id)
            except Exception as exc:  # one unreachable PBX must not stop the others from being billed
                failures[str(server_id)] = str(exc)[:500]
                continue
            fetched += result["fetched"]
            stored += result["stored"]
    rating = alongside.counts()
    with db.session() as session:
        run = session.scalar(select(SyncRun).where(SyncRun.run_key == run_key))
        run.servers = len(server_ids)
        run.fetched = fetched
        run.stored = stored
        run.status = "finished"
        run.error = "; ".join(f"server {key}: {value}" for key, value in failures.items()) or None
        run.finished_at = datetime.now(UTC)
        summary = sync_run_summary(run)
    summary.update(rating=rating, failures=failures)
    return summary


def sync_run_summary(run: SyncRun) -> dict:
    """The run as the job returns it."""
    return {
        "run_key": run.run_key,
        "status": run.status,
        "servers": run.servers,
        "fetched": run.fetched,
        "stored": run.stored,
        "error": run.error,
    }


def rerate(since: str | None, until: str | None, service_id: int | None, only_unrated: bool) -> dict:
    """Rate again the CDRs started in [since, until) (optionally one service's), or only the unrated ones."""
    counts = rate_pending(
        get_db(),
        rating_client(),
        batch_size=settings().rate_batch_size,
        service_ids=[service_id] if service_id is not None else None,
        since=datetime.fromisoformat(since) if since else None,
        until=datetime.fromisoformat(until) if until else None,
        only_unrated=only_unrated,
        progress=lambda rated: report_progress(rated, None, f"{rated} CDRs rerated"),
    )
    counts.pop("last_id")
    return counts


def suspend_service(service_id: int, action_ref: str) -> dict:
    """Suspend the service on its PBX once per `action_ref`; a failure raises so RQ retries it."""
    return pbx_actions.run_action(get_db(), get_redis(), service_id, action_ref, "suspend", adapter_for)


def unsuspend_service(service_id: int, action_ref: str) -> dict:
    """Restore the service on its PBX once per `action_ref`; a failure raises so RQ retries it."""
    return pbx_actions.run_action(get_db(), get_redis(), service_id, action_ref, "unsuspend", adapter_for)
