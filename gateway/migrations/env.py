"""Alembic environment for gateway."""

from gateway.config import Settings
from gateway.models import Base
from tollgate_common.migrations import run_migrations

run_migrations(Base.metadata, Settings)
