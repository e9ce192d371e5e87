"""RQ jobs of the cdr queue; each takes ids and primitives and re-reads state."""

from datetime import UTC, datetime

from sqlalchemy import select

from tollgate_common.jobs import report_progress
from tollgate_common.service import get_db

from .models import SyncRun


def sync_all(run_key: str) -> dict:
    """Sync CDRs from every server once for `run_key`; a repeated key returns the recorded run."""
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
            session.flush()
        report_progress(0, 0, "no servers configured")
        run.status = "finished"
        run.finished_at = datetime.now(UTC)
        return sync_run_summary(run)


def sync_run_summary(run: SyncRun) -> dict:
    return {
        "run_key": run.run_key,
        "status": run.status,
        "servers": run.servers,
        "fetched": run.fetched,
        "stored": run.stored,
    }
