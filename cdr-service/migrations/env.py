"""Alembic environment for cdr_service."""

from cdr_service.config import Settings
from cdr_service.models import Base
from tollgate_common.migrations import run_migrations

run_migrations(Base.metadata, Settings)
