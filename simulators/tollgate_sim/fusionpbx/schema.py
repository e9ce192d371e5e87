"""FusionPBX's own tables (v_domains, v_extensions, v_gateways, v_xml_cdr) per FusionPBX version, and tenant seeding."""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import psycopg

SUPPORTED_VERSIONS = ("5.0", "5.1", "5.2", "5.3", "5.4", "5.5")
TABLES = ("v_domains", "v_extensions", "v_gateways", "v_xml_cdr")

# v_xml_cdr columns that appeared after 5.0.1 (integrations.md §1.1, app_config.php at each tag);
# an older version is the 5.4.4 layout without the columns added after it.
XML_CDR_COLUMNS_ADDED_IN = {
    "5.1": ("record_length",),
    "5.2": ("provider_uuid", "status", "call_flow"),
    "5.3": ("hold_accum_seconds", "record_transcription"),
    "5.4": ("ring_group_uuid", "ivr_menu_uuid"),
}
# Deprecated v_xml_cdr columns of 5.0/5.1, gone from the 5.2+ schema; their position is not recorded, so they go last.
XML_CDR_DEPRECATED_COLUMNS = (("id", "serial"), ("recording_file", "text"), ("recording_name", "text"))

_CREATE_TABLE = re.compile(r"CREATE TABLE (\w+) \((.*?)\n\);", re.DOTALL)


@dataclass(frozen=True)
class TenantIds:
    """The uuids `seed_tenant` created: the domain's, and each extension's and gateway's by name."""

    domain_uuid: str
    extension_uuids: dict[str, str] = field(default_factory=dict)
    gateway_uuids: dict[str, str] = field(default_factory=dict)


def libpq_url(db_url: str) -> str:
    """Turn a SQLAlchemy URL (`postgresql+psycopg://...`) into one psycopg accepts."""
    return re.sub(r"^postgresql\+\w+://", "postgresql://", db_url)


def connect(db_url: str) -> psycopg.Connection:
    """Open a psycopg connection from a libpq or SQLAlchemy PostgreSQL URL."""
    return psycopg.connect(libpq_url(db_url))


def reference_ddl(version: str) -> str:
    """The reference DDL text FusionPBX `version` is derived from (5.5.7 for 5.5, 5.4.4 for every older one)."""
    _check_version(version)
    name = "schema-5.5.7.sql" if version == "5.5" else "schema-5.4.4.sql"
    return resources.files("tollgate_sim").joinpath("data", "fusionpbx", name).read_text(encoding="utf-8")


def table_columns(version: str = "5.5") -> dict[str, list[tuple[str, str]]]:
    """Each table's `(column, SQL definition)` pairs, in order, as FusionPBX `version` lays them out."""
    tables = {
        match.group(1): [_split_column(line) for line in match.group(2).strip().splitlines()]
        for match in _CREATE_TABLE.finditer(reference_ddl(version))
    }
    missing = {name for added_in, names in XML_CDR_COLUMNS_ADDED_IN.items() if version < added_in for name in names}
    tables["v_xml_cdr"] = [column for column in tables["v_xml_cdr"] if column[0] not in missing]
    if version < "5.2":
        tables["v_xml_cdr"] += list(XML_CDR_DEPRECATED_COLUMNS)
    return tables


def create_schema(db_url: str, version: str = "5.5") -> None:
    """Create FusionPBX `version`'s v_domains, v_extensions, v_gateways and v_xml_cdr (existing tables are kept)."""
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table} (\n    " + ",\n    ".join(f"{name} {ddl}" for name, ddl in columns) + "\n)"
        for table, columns in table_columns(version).items()
    ]
    with connect(db_url) as connection:
        for statement in statements:
            connection.execute(statement)


def seed_tenant(
    db_url: str,
    domain_name: str,
    extensions: list[str | dict[str, Any]] | None = None,
    gateways: list[str | dict[str, Any]] | None = None,
) -> TenantIds:
    """Create an enabled domain with its enabled extensions and gateways; return their uuids.

    An extension or gateway is given by its number / name, or as a dict of column values that must
    hold `extension` / `gateway` and overrides the defaults.
    """
    now = datetime.now(UTC)
    domain_uuid = str(uuid.uuid4())
    ids = TenantIds(domain_uuid=domain_uuid)
    with connect(db_url) as connection:
        _insert(
            connection,
            "v_domains",
            {"domain_uuid": domain_uuid, "domain_name": domain_name, "domain_enabled": True, "insert_date": now},
        )
        for extension in extensions or []:
            values = _extension_values(domain_uuid, domain_name, extension, now)
            _insert(connection, "v_extensions", values)
            ids.extension_uuids[values["extension"]] = values["extension_uuid"]
        for gateway in gateways or []:
            values = _gateway_values(domain_uuid, gateway, now)
            _insert(connection, "v_gateways", values)
            ids.gateway_uuids[values["gateway"]] = values["gateway_uuid"]
    return ids


def _extension_values(domain_uuid: str, domain_name: str, extension: str | dict[str, Any], now: datetime) -> dict:
    overrides = {"extension": extension} if isinstance(extension, str) else dict(extension)
    number = overrides["extension"]
    # Booleans go in as the strings 'true'/'false': PostgreSQL casts them into 5.5's boolean columns,
    # and they are exactly what 5.4 and older store in their text columns.
    return {
        "extension_uuid": str(uuid.uuid4()),
        "domain_uuid": domain_uuid,
        "password": secrets.token_hex(8),
        "accountcode": domain_name,
        "effective_caller_id_name": f"Extension {number}",
        "effective_caller_id_number": number,
        "directory_first_name": "Extension",
        "directory_last_name": number,
        "user_context": domain_name,
        "call_timeout": 30,
        "limit_max": "5",
        "limit_destination": "error/user_busy",
        "directory_visible": "true",
        "directory_exten_visible": "true",
        "enabled": "true",
        "insert_date": now,
        **overrides,
    }


def _gateway_values(domain_uuid: str, gateway: str | dict[str, Any], now: datetime) -> dict:
    overrides = {"gateway": gateway} if isinstance(gateway, str) else dict(gateway)
    name = overrides["gateway"]
    return {
        "gateway_uuid": str(uuid.uuid4()),
        "domain_uuid": domain_uuid,
        "username": name,
        "password": secrets.token_hex(8),
        "proxy": f"sip.{name}.example",
        "register": "false",
        "expire_seconds": 800,
        "retry_seconds": 30,
        "context": "public",
        "profile": "external",
        "enabled": "true",
        "insert_date": now,
        **overrides,
    }


def _insert(connection: psycopg.Connection, table: str, values: dict[str, Any]) -> None:
    names = ", ".join(values)
    placeholders = ", ".join(["%s"] * len(values))
    connection.execute(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", list(values.values()))


def _split_column(line: str) -> tuple[str, str]:
    name, definition = line.strip().rstrip(",").split(" ", 1)
    return name, definition


def _check_version(version: str) -> None:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported FusionPBX version {version!r}; expected one of {', '.join(SUPPORTED_VERSIONS)}")
