"""Tariffs in the database: create, import a deck as a new version in bulk, list, export, compile."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tollgate_common.db import Database
from tollgate_common.errors import Conflict

from .csv_import import (
    EXPORT_COLUMNS,
    ContentDigest,
    DeckFormatError,
    DeckReader,
    DeckRow,
    LineError,
    canonical_amount,
    identity_mapping,
    validate_mapping,
)
from .engine.cost import to_micro
from .engine.increments import format_increment
from .engine.tariffs import CompiledTariff, TariffRate, VersionRef, VersionTimeline
from .exceptions import DeckRejected, TariffNameTaken, TariffNotFound, TariffVersionNotFound
from .models import Tariff, TariffRateRow, TariffVersion

SQLITE_BATCH_ROWS = 5000
"""Rows per executemany on SQLite: large enough to amortise the call, small enough to stream."""

RATE_COLUMNS = (
    "version_id",
    "prefix",
    "description",
    "rate",
    "first_block",
    "step",
    "connect_fee",
    "grace_seconds",
    "short_description",
    "last_rate_change",
    "old_rate",
    "rate_premium",
)


@dataclass
class ImportResult:
    """What an import did: the version now holding this content, and how many rows it has."""

    version: int
    imported: int
    created: bool
    effective_from: datetime
    rejected: list[LineError] = field(default_factory=list)


def as_utc(moment: datetime) -> datetime:
    """Return `moment` as an aware UTC datetime (SQLite hands back naive values, stored as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def create_tariff(session: Session, name: str, currency: str) -> Tariff:
    """Create an empty tariff; names are unique so operators can tell decks apart."""
    if session.scalar(select(Tariff.id).where(Tariff.name == name)) is not None:
        raise TariffNameTaken(f"a tariff named {name!r} exists", {"field": "name"})
    tariff = Tariff(name=name, currency=currency.upper())
    session.add(tariff)
    session.flush()
    return tariff


def get_tariff(session: Session, tariff_id: int) -> Tariff:
    """Return the tariff or raise TariffNotFound."""
    tariff = session.get(Tariff, tariff_id)
    if tariff is None:
        raise TariffNotFound(f"tariff {tariff_id} not found")
    return tariff


def choose_mapping(given: dict[str, str] | None, saved: dict[str, str] | None, columns: list[str]) -> dict[str, str]:
    """Use the mapping sent, else the tariff's saved one if the header has its columns, else columns named
    after the targets (an export); a saved mapping that does not fit is reported when nothing else fits."""
    if given:
        return validate_mapping(given)
    if saved and all(column in columns for column in saved):
        return validate_mapping(saved)
    mapping = identity_mapping(columns)
    if mapping is None and saved:
        return validate_mapping(saved)
    if mapping is None:
        raise DeckFormatError(
            "mapping: none sent and none saved for this tariff, and the header does not name the required "
            "columns Description, Prefix, RateValue and Increment; send a mapping"
        )
    return mapping


def import_deck(
    db: Database,
    tariff_id: int,
    stream: IO[bytes],
    mapping: dict[str, str] | None = None,
    effective_from: datetime | None = None,
    filename: str = "",
) -> ImportResult:
    """Import a deck as a new version in one transaction; any bad line rolls everything back (DeckRejected)."""
    effective = as_utc(effective_from) if effective_from else datetime.now(UTC)
    with db.session() as session:
        tariff = get_tariff(session, tariff_id)
        saved_mapping = tariff.mapping
        latest = session.scalars(
            select(TariffVersion).where(TariffVersion.tariff_id == tariff_id).order_by(TariffVersion.number.desc())
        ).first()
        latest_summary = (latest.number, latest.content_digest, latest.effective_from) if latest else None
    try:
        reader = DeckReader(stream)
        chosen = choose_mapping(mapping, saved_mapping, reader.columns)
    except DeckFormatError as exc:
        raise DeckRejected(str(exc), {"rejected": [{"line": 1, "error": str(exc)}]}) from None

    errors: list[LineError] = []
    digest = ContentDigest()
    with db.engine.connect() as connection, connection.begin() as transaction:
        number = (latest_summary[0] if latest_summary else 0) + 1
        try:
            version_id = insert_version(connection, tariff_id, number, effective, filename)
        except IntegrityError:
            raise Conflict(f"tariff {tariff_id} is receiving another import; retry when it has finished") from None
        try:
            rows = digested(reader.rows(chosen, errors), digest)
            bulk_insert_rates(connection, version_id, rows)
        except DeckFormatError as exc:
            transaction.rollback()
            raise DeckRejected(str(exc), {"rejected": [{"line": 1, "error": str(exc)}]}) from None
        if reader.rejected:
            transaction.rollback()
            rejected = [{"line": error.line, "error": error.error} for error in errors]
            raise DeckRejected(
                f"{reader.rejected} bad line(s); nothing was imported, the previous version stays in force",
                {"rejected": rejected, "rejected_total": reader.rejected},
            )
        if digest.count == 0:
            transaction.rollback()
            message = "the deck has a header but no rates; nothing was imported"
            raise DeckRejected(message, {"rejected": [{"line": 2, "error": "no rate lines after the header"}]})
        if latest_summary and latest_summary[1] == digest.hexdigest():
            transaction.rollback()
            return ImportResult(latest_summary[0], 0, False, as_utc(latest_summary[2]))
        connection.execute(
            update(TariffVersion.__table__)
            .where(TariffVersion.__table__.c.id == version_id)
            .values(rate_count=digest.count, content_digest=digest.hexdigest())
        )
        if mapping:
            tariffs = Tariff.__table__
            connection.execute(update(tariffs).where(tariffs.c.id == tariff_id).values(mapping=chosen))
        transaction.commit()
    return ImportResult(number, digest.count, True, effective)


def insert_version(connection: Any, tariff_id: int, number: int, effective: datetime, filename: str) -> int:
    """Insert the version row first, so its rates can be copied in under its id in the same transaction."""
    return connection.execute(
        insert(TariffVersion.__table__)
        .values(
            tariff_id=tariff_id,
            number=number,
            effective_from=effective,
            imported_at=datetime.now(UTC),
            rate_count=0,
            content_digest="",
            filename=filename[:255],
        )
        .returning(TariffVersion.__table__.c.id)
    ).scalar_one()


def digested(rows: Iterable[DeckRow], digest: ContentDigest) -> Iterator[DeckRow]:
    """Pass rows through while adding each to the content digest."""
    for row in rows:
        digest.add(row)
        yield row


def bulk_insert_rates(connection: Any, version_id: int, rows: Iterable[DeckRow]) -> None:
    """Stream rows into tariff_rates: PostgreSQL COPY through psycopg, executemany batches on SQLite."""
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY tariff_rates ({', '.join(RATE_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((version_id, *row))
        return
    statement = f"INSERT INTO tariff_rates ({', '.join(RATE_COLUMNS)}) VALUES ({', '.join('?' * len(RATE_COLUMNS))})"
    raw = connection.connection.driver_connection
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(
            (
                version_id,
                row.prefix,
                row.description,
                format(row.rate, "f"),
                row.first,
                row.step,
                format(row.connect_fee, "f"),
                *row[6:],
            )
        )
        if len(batch) >= SQLITE_BATCH_ROWS:
            raw.executemany(statement, batch)
            batch.clear()
    if batch:
        raw.executemany(statement, batch)


def timelines(session: Session, tariff_ids: Iterable[int]) -> dict[int, VersionTimeline]:
    """Read the versions of each tariff (cheap: one row per version); done per batch so new imports count."""
    ids = sorted(set(tariff_ids))
    refs: dict[int, list[VersionRef]] = {tariff_id: [] for tariff_id in ids}
    if ids:
        query = select(TariffVersion.tariff_id, TariffVersion.id, TariffVersion.number, TariffVersion.effective_from)
        for tariff_id, version_id, number, effective in session.execute(query.where(TariffVersion.tariff_id.in_(ids))):
            refs[tariff_id].append(VersionRef(version_id, number, as_utc(effective).timestamp()))
    return {tariff_id: VersionTimeline(versions) for tariff_id, versions in refs.items()}


def load_compiled(db: Database, version_id: int) -> CompiledTariff:
    """Read a version's rates and compile them for lookup."""
    table = TariffRateRow.__table__
    with db.session() as session:
        number = session.scalar(select(TariffVersion.number).where(TariffVersion.id == version_id))
        if number is None:
            raise TariffVersionNotFound(f"tariff version id {version_id} not found")
        result = session.execute(
            select(
                table.c.prefix,
                table.c.description,
                table.c.rate,
                table.c.first_block,
                table.c.step,
                table.c.connect_fee,
                table.c.grace_seconds,
            ).where(table.c.version_id == version_id)
        )
        rates = [
            TariffRate(prefix, description, to_micro(rate), first, step, to_micro(connect_fee), grace)
            for prefix, description, rate, first, step, connect_fee, grace in result
        ]
    return CompiledTariff(version_id, number, rates)


def version_for(session: Session, tariff_id: int, number: int | None) -> TariffVersion:
    """Return version `number`, or the version in force now when none is given."""
    get_tariff(session, tariff_id)
    query = select(TariffVersion).where(TariffVersion.tariff_id == tariff_id)
    if number is not None:
        version = session.scalar(query.where(TariffVersion.number == number))
        if version is None:
            raise TariffVersionNotFound(f"tariff {tariff_id} has no version {number}")
        return version
    timeline = timelines(session, [tariff_id])[tariff_id]
    ref = timeline.at(datetime.now(UTC).timestamp())
    if ref is None:
        raise TariffVersionNotFound(f"tariff {tariff_id} has no rates yet; import a deck first")
    return session.get_one(TariffVersion, ref.version_id)


def list_versions(session: Session, tariff_id: int) -> list[TariffVersion]:
    """Return a tariff's versions, oldest first."""
    get_tariff(session, tariff_id)
    return list(
        session.scalars(
            select(TariffVersion).where(TariffVersion.tariff_id == tariff_id).order_by(TariffVersion.number)
        )
    )


def rate_filter(query: Any, prefix: str | None, text: str | None) -> Any:
    """Narrow a rate query to prefixes starting with `prefix` and descriptions containing `text`."""
    if prefix:
        query = query.where(TariffRateRow.prefix.startswith(prefix.lstrip("+"), autoescape=True))
    if text:
        query = query.where(func.lower(TariffRateRow.description).contains(text.lower(), autoescape=True))
    return query


def slice_of_rates(
    session: Session, version_id: int, prefix: str | None, text: str | None, offset: int, limit: int
) -> tuple[list[TariffRateRow], int]:
    """Return `limit` rates of a version from `offset` (ordered by prefix) and the total matching."""
    query = rate_filter(select(TariffRateRow).where(TariffRateRow.version_id == version_id), prefix, text)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(TariffRateRow.prefix).offset(offset).limit(limit)) if limit > 0 else []
    return list(rows), total


def export_csv(db: Database, version_id: int) -> Iterator[str]:
    """Yield the version as CSV text, header first, streaming rows from a server-side cursor."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(EXPORT_COLUMNS)
    yield flush()
    with db.session() as session:
        result = session.execute(
            select(TariffRateRow)
            .where(TariffRateRow.version_id == version_id)
            .order_by(TariffRateRow.prefix)
            .execution_options(yield_per=5000)
        ).scalars()
        for count, row in enumerate(result, start=1):
            writer.writerow(export_row(row))
            if count % 1000 == 0:
                yield flush()
    yield flush()


def export_row(row: TariffRateRow) -> tuple[Any, ...]:
    """One rate in EXPORT_COLUMNS order, written the way the importer reads it back."""
    return (
        row.description,
        row.prefix,
        canonical_amount(row.rate),
        format_increment(row.first_block, row.step),
        canonical_amount(row.connect_fee),
        row.grace_seconds,
        row.short_description,
        row.last_rate_change,
        row.old_rate,
        row.rate_premium,
    )


def list_tariffs(session: Session) -> list[Tariff]:
    """Return every tariff by id."""
    return list(session.scalars(select(Tariff).order_by(Tariff.id)))


def tariff_view(session: Session, tariff: Tariff) -> dict[str, Any]:
    """A tariff as the API shows it, with its versions."""
    return {
        "id": tariff.id,
        "name": tariff.name,
        "currency": tariff.currency,
        "mapping": tariff.mapping,
        "created_at": tariff.created_at,
        "versions": list_versions(session, tariff.id),
    }


def rate_view(row: TariffRateRow) -> dict[str, Any]:
    """One stored rate as the API lists it."""
    return {
        "prefix": row.prefix,
        "description": row.description,
        "rate": Decimal(canonical_amount(row.rate)),
        "increment": format_increment(row.first_block, row.step),
        "connect_fee": Decimal(canonical_amount(row.connect_fee)),
        "grace_seconds": row.grace_seconds,
        "short_description": row.short_description,
        "last_rate_change": row.last_rate_change,
        "old_rate": row.old_rate,
        "rate_premium": row.rate_premium,
    }
