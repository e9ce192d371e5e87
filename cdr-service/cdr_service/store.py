"""The CDR store: bulk insert once per (server, source id), quarantine bad rows, keep sync watermarks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from tollgate_common.db import Database

from .adapters.base import CallRecord, FetchBatch, RejectedRow
from .attribution import Attributor
from .models import Cdr, QuarantinedCdr, ServiceAssignment, SyncWatermark

CDR_INSERT_COLUMNS = (
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
    "answer_at",
    "end_at",
    "duration",
    "billsec",
    "status",
    "hangup_cause",
    "source_inserted_at",
    "fetched_at",
    "visible",
)


def cdr_values(server_id: int, record: CallRecord, service_id: int | None, now: datetime) -> tuple[Any, ...]:
    """One row for the cdrs table, in CDR_INSERT_COLUMNS order."""
    return (
        server_id,
        record.source_id,
        service_id,
        record.tenant,
        record.direction,
        record.extension,
        record.caller_number,
        record.destination_number,
        record.caller_destination,
        record.start_at,
        record.answer_at,
        record.end_at,
        record.duration,
        record.billsec,
        record.status,
        record.hangup_cause,
        record.source_inserted_at,
        now,
        True,
    )


def store_batch(db: Database, server_id: int, batch: FetchBatch, attributor: Attributor) -> tuple[int, int]:
    """Store a batch in one transaction; return (new CDRs, newly quarantined rows). Repeats store nothing."""
    now = datetime.now(UTC)
    unique: dict[str, CallRecord] = {record.source_id: record for record in batch.records}
    rows = [cdr_values(server_id, record, attributor.owner_of(record), now) for record in unique.values()]
    with db.engine.begin() as connection:
        stored = insert_cdrs(connection, rows) if rows else 0
        quarantined = quarantine(connection, server_id, batch.rejected, attributor, now) if batch.rejected else 0
    return stored, quarantined


def insert_cdrs(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """Insert rows skipping (server, source id) pairs already stored; COPY through a temp table on PostgreSQL."""
    if connection.dialect.name == "postgresql":
        return copy_insert_cdrs(connection, rows)
    statement = (
        sqlite_insert(Cdr.__table__)
        .on_conflict_do_nothing(index_elements=["server_id", "source_id"])
        .returning(Cdr.__table__.c.id)
    )
    result = connection.execute(statement, [dict(zip(CDR_INSERT_COLUMNS, row, strict=True)) for row in rows])
    return len(result.all())


def copy_insert_cdrs(connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
    """COPY rows into a session temp table, then INSERT ... ON CONFLICT DO NOTHING into cdrs."""
    columns = ", ".join(CDR_INSERT_COLUMNS)
    raw = connection.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE IF NOT EXISTS cdr_import AS SELECT " + columns + " FROM cdrs WITH NO DATA")
        cursor.execute("TRUNCATE cdr_import")
        with cursor.copy(f"COPY cdr_import ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO cdrs ({columns}) SELECT {columns} FROM cdr_import"
            " ON CONFLICT (server_id, source_id) DO NOTHING"
        )
        return max(cursor.rowcount, 0)


def quarantine(
    connection: Connection, server_id: int, rejected: Sequence[RejectedRow], attributor: Attributor, now: datetime
) -> int:
    """Keep rows that could not be parsed, with their reason, once per (server, source id)."""
    values = []
    for row in rejected:
        owners = attributor.owners_of_tenant(row.tenant)
        values.append(
            {
                "server_id": server_id,
                "source_id": row.source_id or f"unidentified:{hash_raw(row.raw)}",
                "tenant": row.tenant,
                "service_id": owners[0].service_id if len(owners) == 1 else None,
                "reason": row.reason,
                "raw": row.raw,
                "created_at": now,
            }
        )
    table = QuarantinedCdr.__table__
    dialect_insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(table).on_conflict_do_nothing(index_elements=["server_id", "source_id"]).returning(table.c.id)
    )
    # RETURNING counts what was really inserted; rowcount is unreliable for executemany
    return len(connection.execute(statement, values).all())


def hash_raw(raw: dict[str, Any]) -> str:
    """A stable id for a row that has none of its own."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()[:40]


def load_watermark(db: Database, server_id: int) -> SyncWatermark:
    """Return the server's watermark row, creating an empty one on first use."""
    with db.session() as session:
        watermark = session.get(SyncWatermark, server_id)
        if watermark is None:
            watermark = SyncWatermark(server_id=server_id, last_status="never", fetched=0, stored=0, quarantined=0)
            session.add(watermark)
        return watermark


def advance_watermark(db: Database, server_id: int, **changes: Any) -> None:
    """Record sync progress; `position` only ever moves forward."""
    with db.session() as session:
        watermark = session.get(SyncWatermark, server_id)
        position = changes.pop("position", None)
        if position is not None and (watermark.position is None or position > watermark.position):
            watermark.position = position
        for counter in ("fetched", "stored", "quarantined"):
            if counter in changes:
                setattr(watermark, counter, getattr(watermark, counter) + changes.pop(counter))
        for key, value in changes.items():
            setattr(watermark, key, value)


def reattribute(db: Database, server_id: int, tenant: str) -> int:
    """Re-run attribution for the unclaimed CDRs of a tenant after its services changed; return rows moved.

    A CDR that moves to another service loses its rating, so the next rating pass prices it for its new owner.
    Calls made before their service was terminated stay with it.
    """
    with db.session() as session:
        assignments = session.scalars(select(ServiceAssignment).where(ServiceAssignment.server_id == server_id)).all()
        attributor = Attributor(assignments)
        rows = session.execute(
            select(
                Cdr.id,
                Cdr.service_id,
                Cdr.tenant,
                Cdr.direction,
                Cdr.extension,
                Cdr.caller_number,
                Cdr.destination_number,
                Cdr.caller_destination,
                Cdr.start_at,
            ).where(and_(Cdr.server_id == server_id, Cdr.tenant == tenant, Cdr.claim_id.is_(None)))
        ).all()
        moves = []
        for row in rows:
            probe = CallRecord(
                source_id="",
                tenant=row.tenant,
                direction=row.direction,
                extension=row.extension,
                caller_number=row.caller_number,
                destination_number=row.destination_number,
                caller_destination=row.caller_destination,
                start_at=row.start_at,
                answer_at=None,
                end_at=None,
                duration=0,
                billsec=0,
                status="",
                hangup_cause="",
            )
            owner = attributor.owner_of(probe)
            if owner != row.service_id:
                moves.append({"cdr_id": row.id, "new_service": owner})
        if moves:
            session.connection().execute(
                update(Cdr.__table__)
                .where(Cdr.__table__.c.id == bindparam("cdr_id"))
                .values(service_id=bindparam("new_service"), rated_at=None, billable=None, reason=None),
                moves,
            )
        return len(moves)
