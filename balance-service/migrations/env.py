"""Alembic environment for balance_service."""

from balance_service.config import Settings
from balance_service.models import Base
from tollgate_common.migrations import run_migrations

run_migrations(Base.metadata, Settings)
