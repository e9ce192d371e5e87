"""Tollgate balance service: WHMCS sync, the ledger, autobill and autosuspend."""

from typing import Any

from flask import Flask

from tollgate_common.config import load_settings
from tollgate_common.service import create_service_app

from .config import Settings


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the balance service app; `config` overrides settings (tests pass a dict)."""
    settings = load_settings(Settings, config)
    app = create_service_app(__name__, settings, title="Tollgate balance service")
    register_blueprints(app)
    return app


def register_blueprints(app: Flask) -> None:
    """Register the balance routes on the app's flask-smorest Api."""
    from .routes import bp

    app.extensions["api"].register_blueprint(bp)
