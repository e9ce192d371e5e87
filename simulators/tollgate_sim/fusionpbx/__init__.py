"""FusionPBX simulator: its real PostgreSQL tables, a CDR traffic generator and the CDR export page."""

from .export import DEFAULT_EXPORT_PERMISSIONS, EXPORT_PATH, create_export_app
from .schema import SUPPORTED_VERSIONS, TenantIds, connect, create_schema, libpq_url, seed_tenant, table_columns
from .traffic import TrafficGenerator

__all__ = [
    "DEFAULT_EXPORT_PERMISSIONS",
    "EXPORT_PATH",
    "SUPPORTED_VERSIONS",
    "TenantIds",
    "TrafficGenerator",
    "connect",
    "create_export_app",
    "create_schema",
    "libpq_url",
    "seed_tenant",
    "table_columns",
]
