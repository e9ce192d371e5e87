"""Tables owned by notify_service."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from tollgate_common.migrations import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
