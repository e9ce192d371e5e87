"""Per-server filters in the database, validated against the pattern grammar when saved."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .engine.filters import FilterSyntaxError, ServerFilters, compile_filters, parse_patterns
from .exceptions import InvalidFilter
from .models import ServerFilterRow


def get_filters(session: Session, server_id: int) -> ServerFilterRow:
    """Return the server's filters; a server never given any has two empty lists."""
    row = session.get(ServerFilterRow, server_id)
    return row or ServerFilterRow(server_id=server_id, suppress="", exclude_from_billing="", updated_at=None)


def put_filters(session: Session, server_id: int, suppress: str, exclude_from_billing: str) -> ServerFilterRow:
    """Replace both lists after checking every pattern; a bad one is a 422 naming the list and the token."""
    lists = {"suppress": suppress.strip(), "exclude_from_billing": exclude_from_billing.strip()}
    for field, text in lists.items():
        try:
            parse_patterns(text)
        except FilterSyntaxError as exc:
            raise InvalidFilter(
                f"{field}: {exc}", {"fields": {field: [str(exc)]}, "token": exc.token, "position": exc.position}
            ) from None
    row = session.get(ServerFilterRow, server_id)
    if row is None:
        row = ServerFilterRow(server_id=server_id)
        session.add(row)
    row.suppress = lists["suppress"]
    row.exclude_from_billing = lists["exclude_from_billing"]
    session.flush()
    return row


def compiled_filters(session: Session, server_ids: Iterable[int]) -> dict[int, ServerFilters]:
    """Compile the filters of each server named (saved lists are valid: they were checked when saved)."""
    ids = sorted({server_id for server_id in server_ids if server_id is not None})
    if not ids:
        return {}
    rows = session.scalars(select(ServerFilterRow).where(ServerFilterRow.server_id.in_(ids)))
    return {row.server_id: compile_filters(row.suppress, row.exclude_from_billing) for row in rows}
