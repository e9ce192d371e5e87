"""Alembic environment for rating_service."""

from rating_service.config import Settings
from rating_service.models import Base
from tollgate_common.migrations import run_migrations

run_migrations(Base.metadata, Settings)
