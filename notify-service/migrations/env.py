"""Alembic environment for notify_service."""

from notify_service.config import Settings
from notify_service.models import Base
from tollgate_common.migrations import run_migrations

run_migrations(Base.metadata, Settings)
