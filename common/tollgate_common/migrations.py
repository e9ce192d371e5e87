"""The body of every service's Alembic `env.py`: URL from the service settings, its models' metadata."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from .config import ServiceSettings, load_settings
from .db import make_engine

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Stable constraint names, so migrations can drop what they created on every database."""


def run_migrations(metadata: MetaData, settings_cls: type[ServiceSettings]) -> None:
    """Migrate the database named by `sqlalchemy.url`, or by the service's settings when unset."""
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        url = load_settings(settings_cls).resolved_database_url()
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
