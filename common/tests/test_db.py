"""The Money column keeps every digit on PostgreSQL and SQLite; sessions commit or roll back."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tollgate_common.db import Database, Money, UtcDateTime


class Base(DeclarativeBase):
    metadata = MetaData()


class Charge(Base):
    __tablename__ = "money_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money(24, 10))
    at: Mapped[datetime | None] = mapped_column(UtcDateTime())


@pytest.fixture
def database(database_url_for):
    db = Database(database_url_for("common_money"))
    Base.metadata.create_all(db.engine)
    yield db
    Base.metadata.drop_all(db.engine)
    db.dispose()


@pytest.mark.smoke
def test_money_round_trips_exactly(database):
    """Sub-cent exact costs come back digit for digit, as Decimal."""
    with database.session() as session:
        session.add(Charge(id=1, amount=Decimal("0.0101666667")))
    with database.session() as session:
        amount = session.get(Charge, 1).amount
    assert isinstance(amount, Decimal)
    assert amount == Decimal("0.0101666667")


def test_money_column_refuses_floats(database):
    """A float reaching the money column is a programming error, not a silent rounding."""
    with pytest.raises(Exception, match="float"), database.session() as session:
        session.add(Charge(id=2, amount=0.1))
        session.flush()


def test_session_rolls_back_on_error(database):
    """Work inside a failed session is not committed."""
    with pytest.raises(RuntimeError), database.session() as session:
        session.add(Charge(id=3, amount=Decimal("1")))
        session.flush()
        raise RuntimeError("stop")
    with database.session() as session:
        assert session.get(Charge, 3) is None


@pytest.mark.smoke
def test_timestamps_come_back_aware_utc(database):
    """A time written in any zone is read back as the same instant, timezone-aware, in UTC."""
    toronto = timezone(timedelta(hours=-5))
    with database.session() as session:
        session.add(Charge(id=4, amount=Decimal("0"), at=datetime(2026, 11, 25, 9, 30, tzinfo=toronto)))
    with database.session() as session:
        at = session.get(Charge, 4).at
    assert at == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    assert at.tzinfo is not None and at.utcoffset() == timedelta(0)
