"""The Money column keeps every digit on PostgreSQL and SQLite; sessions commit or roll back."""

from decimal import Decimal

import pytest
from sqlalchemy import Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tollgate_common.db import Database, Money


class Base(DeclarativeBase):
    metadata = MetaData()


class Charge(Base):
    __tablename__ = "money_probe"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    amount: Mapped[Decimal] = mapped_column(Money(24, 10))


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
