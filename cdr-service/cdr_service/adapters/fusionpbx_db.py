"""Read FusionPBX CDRs from its PostgreSQL (`v_xml_cdr`), read-only, A-leg only, incremental on insert_date."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg

from tollgate_common.errors import UpstreamError

from .base import FetchBatch, RejectedRow, RowError
from .fusionpbx_rows import normalise_row

CDR_COLUMNS = (
    "domain_name",
    "direction",
    "caller_id_number",
    "caller_destination",
    "destination_number",
    "start_epoch",
    "answer_epoch",
    "end_epoch",
    "duration",
    "billsec",
    "status",
    "hangup_cause",
)
"""The v_xml_cdr columns billing reads; those missing from an older layout are simply not selected."""

REQUIRED_COLUMNS = ("start_epoch", "billsec", "insert_date", "domain_name")
SORT_MEMORY = "64MB"


def libpq_dsn(dsn: str) -> str:
    """Accept SQLAlchemy-style URLs (`postgresql+psycopg://`) as well as libpq ones."""
    for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
        if dsn.startswith(prefix):
            return "postgresql://" + dsn[len(prefix) :]
    return dsn


class FusionPbxDatabase:
    """A read-only view of one FusionPBX database: connection test, column detection, CDR batches."""

    def __init__(self, dsn: str, *, timeout_seconds: float = 30.0, batch_size: int = 10000):
        self.dsn = libpq_dsn(dsn)
        self.timeout_seconds = timeout_seconds
        self.batch_size = batch_size

    def connect(self, *, read_only: bool = True) -> psycopg.Connection:
        """Open a connection; CDR reads use a read-only transaction so a bug can never write to the PBX."""
        try:
            connection = psycopg.connect(
                self.dsn,
                connect_timeout=max(1, int(self.timeout_seconds)),
                # the CDR read sorts the window by insert_date (FusionPBX has no index on it); enough
                # memory keeps that sort off disk for a first sync of a large PBX
                options=f"-c statement_timeout={int(self.timeout_seconds * 1000)} -c work_mem={SORT_MEMORY}",
            )
        except psycopg.Error as exc:
            raise UpstreamError(f"FusionPBX database unreachable: {first_line(exc)}") from None
        connection.read_only = read_only
        return connection

    def cdr_columns(self, connection: psycopg.Connection) -> set[str]:
        """Return the columns v_xml_cdr has on this PBX (they changed between 5.0 and 5.5)."""
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'v_xml_cdr'"
            " AND table_schema = current_schema()"
        ).fetchall()
        columns = {row[0] for row in rows}
        if not columns:
            raise UpstreamError("FusionPBX database has no v_xml_cdr table: is db_dsn the FusionPBX database?")
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if "xml_cdr_uuid" not in columns and "uuid" not in columns:
            missing.append("xml_cdr_uuid")
        if missing:
            raise UpstreamError(f"v_xml_cdr lacks the columns {missing}; this FusionPBX layout is not supported")
        return columns

    def test(self) -> str:
        """Connect, check the layout and count the tenants."""
        with self.connect() as connection:
            columns = self.cdr_columns(connection)
            domains = connection.execute("SELECT count(*) FROM v_domains").fetchone()[0]
        layout = "5.2+" if "status" in columns else "5.0/5.1"
        return f"connected to the FusionPBX database; {domains} domain(s); v_xml_cdr layout {layout}"

    def domain_exists(self, tenant: str) -> bool:
        """Say whether FusionPBX has a domain named `tenant`."""
        with self.connect() as connection:
            row = connection.execute("SELECT 1 FROM v_domains WHERE lower(domain_name) = %s", (tenant,)).fetchone()
        return row is not None

    def select_sql(self, columns: set[str], until: datetime | None) -> str:
        """Build the select list from the columns present, A-leg filter and insert_date window."""
        uuid_column = "xml_cdr_uuid" if "xml_cdr_uuid" in columns else "uuid"
        parts = [f"c.{uuid_column}::text AS xml_cdr_uuid", "c.insert_date"]
        parts += [f"c.{name}" for name in CDR_COLUMNS if name in columns]
        join = ""
        if "extension_uuid" in columns:
            parts.append("e.extension AS extension")
            join = " LEFT JOIN v_extensions e ON e.extension_uuid = c.extension_uuid"
        where = ["c.insert_date >= %(since)s"]
        if until is not None:
            where.append("c.insert_date < %(until)s")
        if "leg" in columns:
            where.append("c.leg = 'a'")
        return (
            f"SELECT {', '.join(parts)} FROM v_xml_cdr c{join} WHERE {' AND '.join(where)}"
            f" ORDER BY c.insert_date, c.{uuid_column}"
        )

    def fetch(self, since: datetime, until: datetime | None = None) -> Iterator[FetchBatch]:
        """Yield A-leg CDRs inserted in [since, until) in insert_date order, through a server-side cursor."""
        with self.connect() as connection:
            sql = self.select_sql(self.cdr_columns(connection), until)
            with connection.cursor(name="tollgate_cdr_sync") as cursor:
                cursor.itersize = self.batch_size
                try:
                    cursor.execute(sql, {"since": since, "until": until})
                    names: list[str] | None = None
                    while True:
                        rows = cursor.fetchmany(self.batch_size)
                        if names is None and cursor.description is not None:
                            names = [column.name for column in cursor.description]
                        if not rows:
                            break
                        yield rows_to_batch(names or [], rows)
                except psycopg.Error as exc:
                    raise UpstreamError(f"reading FusionPBX v_xml_cdr failed: {first_line(exc)}") from None


def rows_to_batch(names: list[str], rows: list[tuple[Any, ...]]) -> FetchBatch:
    """Normalise fetched rows; a row that fails is set aside with its reason, the others carry on."""
    batch = FetchBatch()
    for values in rows:
        row = dict(zip(names, values, strict=True))
        inserted_at = row.get("insert_date")
        try:
            batch.records.append(normalise_row(row, inserted_at))
        except RowError as exc:
            batch.rejected.append(
                RejectedRow(
                    source_id=str(row.get("xml_cdr_uuid") or ""),
                    tenant=str(row.get("domain_name") or "").lower(),
                    reason=str(exc),
                    raw={key: json_safe(value) for key, value in row.items()},
                )
            )
        if inserted_at is not None and (batch.position is None or inserted_at > batch.position):
            batch.position = inserted_at
    return batch


def json_safe(value: Any) -> Any:
    """Make a database value storable in a JSON column (quarantine keeps the raw row)."""
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def first_line(exc: Exception) -> str:
    """The first line of a driver error: enough to act on, never the DSN or its password."""
    return (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
