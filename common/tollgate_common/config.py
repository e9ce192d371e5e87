"""Settings read from the environment, one prefix per service, failing fast on bad values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

VAR_DIR_ENV = "TOLLGATE_VAR_DIR"


def var_dir() -> Path:
    """Return the directory for local state (SQLite files, generated keys), creating it."""
    path = Path(os.environ.get(VAR_DIR_ENV, "var")).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def shared(name: str, **kwargs: Any) -> Any:
    """Declare a setting read from a `TOLLGATE_` variable shared by every service."""
    return Field(validation_alias=AliasChoices(name.lower(), f"TOLLGATE_{name.upper()}"), **kwargs)


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclasses set `env_prefix` and add their own fields.

    A field named `database_url` is read from `<PREFIX>DATABASE_URL`; fields declared with
    `shared()` come from `TOLLGATE_*` variables so one value serves every service.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    service_name: str = Field(default="service", description="Name used in logs and metrics.")
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL of the service's own database; default is a SQLite file under var/.",
    )
    redis_url: str = shared(
        "redis_url", default="redis://127.0.0.1:6379/0", description="Redis for RQ jobs and rate limits."
    )
    internal_token: str = shared(
        "internal_token",
        min_length=16,
        description="Shared secret services require in X-Internal-Token; at least 16 characters.",
    )
    log_level: str = shared("log_level", default="INFO", description="Python log level.")
    log_json: bool = shared("log_json", default=True, description="Write logs as JSON lines.")

    def resolved_database_url(self) -> str:
        """Return the configured database URL, or the SQLite file default for this service."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{var_dir() / (self.service_name + '.db')}"


def load_settings(cls: type[ServiceSettings], overrides: dict[str, Any] | None = None) -> ServiceSettings:
    """Build settings from the environment plus `overrides`, or raise ConfigError naming each bad variable."""
    try:
        return cls(**(overrides or {}))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else "?"
            problems.append(f"{env_name(cls, field)}: {error['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None


def env_name(cls: type[ServiceSettings], field: str) -> str:
    """Return the environment variable that sets `field` on `cls`."""
    info = cls.model_fields.get(field)
    alias = getattr(info, "validation_alias", None) if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[-1])
    return f"{cls.model_config.get('env_prefix', '')}{field}".upper()


def describe(cls: type[ServiceSettings]) -> list[dict[str, Any]]:
    """List each setting of `cls` with its variable, default and description (for the docs)."""
    rows = []
    for name, info in cls.model_fields.items():
        if name == "service_name":
            continue
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        rows.append(
            {
                "variable": env_name(cls, name),
                "required": info.is_required(),
                "default": default,
                "description": info.description or "",
            }
        )
    return rows
