"""Tollgate rating service: tariffs, packages, filters and the rating engine."""

from typing import Any

from flask import Flask

from tollgate_common.config import load_settings
from tollgate_common.service import create_service_app

from .config import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the rating service app; `config` overrides settings (tests pass a dict)."""
    from .engine.tariffs import TariffCache
    from .routes import register_blueprints
    from .tariff_store import load_compiled

    settings = load_settings(Settings, config)
    app = create_service_app(__name__, settings, title="Tollgate rating service")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_deck_megabytes * 1024 * 1024
    db = app.extensions["db"]
    app.extensions["tariff_cache"] = TariffCache(
        lambda version_id: load_compiled(db, version_id), settings.tariff_cache_versions
    )
    register_blueprints(app)
    return app
