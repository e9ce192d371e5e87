"""PBX and carrier servers: validate their settings, keep credentials sealed, hand adapters the full config."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tollgate_common.errors import Conflict, InvalidInput, NotFound
from tollgate_common.secrets import SecretBox

from .models import Cdr, Server, ServiceAssignment, SyncWatermark

KINDS = ("fusionpbx", "vodia", "lesnet")
SECRET_PATHS = ("db_dsn", "api_key", "password", "event_socket.password")
"""Settings that are credentials: sealed at rest, never returned, never logged."""

SUSPEND_STRATEGIES = {
    "fusionpbx": ("extensions", "domain", "gateway"),
    "vodia": ("accounts",),
    "lesnet": ("manual",),
}
MAX_ID = 2**31 - 1
"""Ids are 32-bit integer columns; a larger id cannot exist (and must not reach the database)."""

DEFAULT_STRATEGY = {"fusionpbx": "extensions", "vodia": "accounts", "lesnet": "manual"}


def validate_timezone(name: str, field: str = "timezone") -> str:
    """Return `name` when it is an IANA time zone, else raise InvalidInput naming `field`."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{field}: {name!r} is not an IANA time zone", {"fields": {field: name}}) from None
    return name


def validate_settings(kind: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Check the settings a `kind` of server needs and fill defaults; errors name `settings.<key>`."""
    errors: dict[str, str] = {}
    result = copy.deepcopy(settings)
    strategy = result.setdefault("suspend_strategy", DEFAULT_STRATEGY[kind])
    if strategy not in SUSPEND_STRATEGIES[kind]:
        errors["settings.suspend_strategy"] = f"{strategy!r} is not one of {list(SUSPEND_STRATEGIES[kind])}"
    if kind == "fusionpbx":
        if not result.get("db_dsn") and not (result.get("base_url") and result.get("api_key")):
            errors["settings.db_dsn"] = "give db_dsn (database mode) or base_url and api_key (HTTP export mode)"
        socket = result.get("event_socket")
        if socket is not None:
            if not isinstance(socket, dict) or not socket.get("host"):
                errors["settings.event_socket"] = "expected {host, port, password}"
            else:
                socket.setdefault("port", 8021)
                if not isinstance(socket["port"], int) or not 0 < socket["port"] < 65536:
                    errors["settings.event_socket.port"] = "expected a TCP port number"
        result.setdefault("sip_profile", "internal")
    elif kind == "vodia":
        for key in ("base_url", "username", "password"):
            if not result.get(key):
                errors[f"settings.{key}"] = "required for a Vodia server"
        result.setdefault("auth", "session")
        if result["auth"] not in ("session", "basic"):
            errors["settings.auth"] = "expected 'session' or 'basic'"
        result.setdefault("page_size", 500)
    elif kind == "lesnet":
        reader = result.get("reader")
        if reader is not None and not isinstance(reader, dict):
            errors["settings.reader"] = "expected an object (columns, delimiter, date_format, timezone)"
    for key in ("base_url",):
        value = result.get(key)
        if value and not str(value).startswith(("http://", "https://")):
            errors[f"settings.{key}"] = f"{value!r} is not an http(s) URL"
    if errors:
        raise InvalidInput("invalid server settings: " + ", ".join(sorted(errors)), {"fields": errors})
    return result


def split_secrets(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split settings into the public part and the credentials (by dotted path)."""
    public = copy.deepcopy(settings)
    secrets: dict[str, Any] = {}
    for path in SECRET_PATHS:
        parent, _, leaf = path.rpartition(".")
        holder = public.get(parent) if parent else public
        if isinstance(holder, dict) and leaf in holder:
            value = holder.pop(leaf)
            if value not in (None, ""):
                secrets[path] = value
    return public, secrets


def merge_secrets(public: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    """Put the credentials back into a copy of the public settings, for an adapter."""
    merged = copy.deepcopy(public)
    for path, value in secrets.items():
        parent, _, leaf = path.rpartition(".")
        holder = merged.setdefault(parent, {}) if parent else merged
        holder[leaf] = value
    return merged


def full_settings(server: Server, box: SecretBox) -> dict[str, Any]:
    """Return the server's settings with credentials, for an adapter; never log or return this."""
    return merge_secrets(server.settings or {}, box.open(server.secrets))


def describe_server(server: Server, box: SecretBox) -> dict[str, Any]:
    """The server as an admin sees it: settings without credentials, plus which credentials are set."""
    return {
        "id": server.id,
        "name": server.name,
        "kind": server.kind,
        "timezone": server.timezone,
        "enabled": server.enabled,
        "settings": server.settings or {},
        "credentials_set": sorted(box.open(server.secrets)),
        "created_at": server.created_at,
        "updated_at": server.updated_at,
    }


def create_server(session: Session, box: SecretBox, data: dict[str, Any]) -> Server:
    """Create a server after checking its kind, time zone and settings; the name must be unique."""
    kind = data["kind"]
    settings = validate_settings(kind, data.get("settings") or {})
    if session.scalar(select(Server.id).where(Server.name == data["name"])) is not None:
        raise Conflict(f"a server named {data['name']!r} exists", {"fields": {"name": data["name"]}})
    public, secrets = split_secrets(settings)
    now = datetime.now(UTC)
    server = Server(
        name=data["name"],
        kind=kind,
        timezone=validate_timezone(data.get("timezone") or "UTC"),
        settings=public,
        secrets=box.seal(secrets),
        enabled=data.get("enabled", True),
        created_at=now,
        updated_at=now,
    )
    session.add(server)
    session.flush()
    return server


def get_server(session: Session, server_id: int) -> Server:
    """Load a server or raise NotFound."""
    server = session.get(Server, server_id) if 0 < server_id <= MAX_ID else None
    if server is None:
        raise NotFound(f"server {server_id} not found")
    return server


def update_server(session: Session, box: SecretBox, server_id: int, changes: dict[str, Any]) -> Server:
    """Apply a partial update; settings merge key by key, and a credential left out keeps its sealed value."""
    server = get_server(session, server_id)
    if "name" in changes and changes["name"] != server.name:
        taken = session.scalar(select(Server.id).where(Server.name == changes["name"], Server.id != server_id))
        if taken is not None:
            raise Conflict(f"a server named {changes['name']!r} exists", {"fields": {"name": changes["name"]}})
        server.name = changes["name"]
    if "timezone" in changes:
        server.timezone = validate_timezone(changes["timezone"])
    if "enabled" in changes:
        server.enabled = changes["enabled"]
    if "settings" in changes:
        current = full_settings(server, box)
        merged = deep_merge(current, changes["settings"] or {})
        public, secrets = split_secrets(validate_settings(server.kind, merged))
        server.settings = public
        server.secrets = box.seal(secrets)
    server.updated_at = datetime.now(UTC)
    return server


def delete_server(session: Session, server_id: int) -> None:
    """Delete a server that has no services and no CDRs; otherwise it must be disabled instead."""
    server = get_server(session, server_id)
    services = session.scalar(
        select(func.count()).select_from(ServiceAssignment).where(ServiceAssignment.server_id == server_id)
    )
    calls = session.scalar(select(func.count()).select_from(Cdr).where(Cdr.server_id == server_id))
    if services or calls:
        raise Conflict(
            f"server {server_id} has {services} service(s) and {calls} CDR(s); disable it "
            "(PATCH enabled=false) so its history stays traceable",
            {"services": services, "cdrs": calls},
        )
    watermark = session.get(SyncWatermark, server_id)
    if watermark is not None:
        session.delete(watermark)
    session.delete(server)


def deep_merge(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Merge `changes` into a copy of `base`, recursing into nested objects."""
    merged = copy.deepcopy(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
