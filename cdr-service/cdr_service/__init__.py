"""Tollgate CDR service: servers, provider adapters, the CDR store and PBX actions."""

from typing import Any

from flask import Flask

from tollgate_common.config import load_settings
from tollgate_common.secrets import SecretBox
from tollgate_common.service import create_service_app

from .config import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the cdr service app; `config` overrides settings (tests pass a dict)."""
    settings = load_settings(Settings, config)
    app = create_service_app(__name__, settings, title="Tollgate CDR service")
    app.extensions["cdr_secret_box"] = SecretBox(settings.secret_key, "CDR_SECRET_KEY")
    register_blueprints(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Register each resource's blueprint on the app's Api, so the OpenAPI document lists it."""
    from .routes import admin, internal, servers, services

    api = app.extensions["api"]
    for module in (servers, services, internal, admin):
        api.register_blueprint(module.bp)
