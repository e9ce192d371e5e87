"""Tollgate gateway: the only public HTTP surface; authenticates, routes, and triggers cron work."""

from typing import Any

from flask import Flask, Response, g

from tollgate_common.config import load_settings
from tollgate_common.service import create_service_app, get_db

from . import cron
from .auth import register_auth
from .config import Settings
from .keys import ensure_bootstrap_admin
from .openapi import register_openapi
from .proxy import forward
from .readiness import service_check

PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the gateway app; `config` overrides settings (tests pass a dict)."""
    settings = load_settings(Settings, config)
    checks = {name: service_check(name, url, settings.internal_token) for name, url in settings.service_urls().items()}
    app = create_service_app(
        __name__,
        settings,
        title="Tollgate API",
        require_internal_token=False,
        readiness_checks=checks,
        serve_openapi=False,
    )
    register_auth(app)
    app.extensions["api"].register_blueprint(cron.bp)
    register_openapi(app)
    register_proxy(app)
    if settings.admin_key:
        with app.app_context(), get_db().session() as session:
            ensure_bootstrap_admin(session, settings.admin_key)
    return app


def register_proxy(app: Flask) -> None:
    """Send every routed `/v1/...` request that the gateway does not serve itself to its service."""

    @app.route("/v1/<path:subpath>", methods=PROXY_METHODS)
    def proxy(subpath: str) -> Response:
        return forward(g.target.service)
