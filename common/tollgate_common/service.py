"""What every Tollgate service app shares: the factory steps, health, readiness, metrics, internal auth."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any

import structlog
from flask import Flask, Response, current_app, g, jsonify, request
from flask_smorest import Api
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from redis import Redis

from .config import ServiceSettings
from .db import Database, safe_url
from .errors import Unauthorized, error_response, register_error_handlers
from .http import INTERNAL_TOKEN_HEADER
from .jobs import redis_connection
from .logs import configure_logging, register_request_logging

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json"})
"""Paths any caller may reach; everything else needs the internal token (or, at the gateway, a key)."""

log = structlog.get_logger(__name__)


def create_service_app(
    import_name: str,
    settings: ServiceSettings,
    *,
    title: str,
    require_internal_token: bool = True,
    readiness_checks: dict[str, Callable[[], None]] | None = None,
    serve_openapi: bool = True,
) -> Flask:
    """Build the common part of a service app; the caller registers its blueprints on `app.extensions['api']`."""
    app = Flask(import_name)
    # Error details may mix int and str keys (a line number, a field name); sorting them would fail.
    app.json.sort_keys = False
    app.config.update(
        SETTINGS=settings,
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/" if serve_openapi else None,
        OPENAPI_JSON_PATH="openapi.json",
    )
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    register_request_logging(app)
    app.extensions["api"] = Api(app)
    register_error_handlers(app)
    app.extensions["db"] = Database(settings.resolved_database_url())
    app.extensions["redis"] = redis_connection(settings.redis_url)
    register_metrics(app, settings.service_name)
    checks = {"database": lambda: get_db().ping(), "redis": lambda: get_redis().ping()}
    checks.update(readiness_checks or {})
    register_health(app, checks)
    if require_internal_token:
        register_internal_auth(app, settings.internal_token)
    return app


def settings() -> Any:
    """Return the running app's settings object."""
    return current_app.config["SETTINGS"]


def get_db() -> Database:
    return current_app.extensions["db"]


def get_redis() -> Redis:
    return current_app.extensions["redis"]


def register_internal_auth(app: Flask, token: str) -> None:
    """Refuse requests without the shared internal token, so a service port is not open to anyone."""

    @app.before_request
    def check_internal_token() -> None:
        if request.path in PUBLIC_PATHS:
            return
        sent = request.headers.get(INTERNAL_TOKEN_HEADER, "")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            raise Unauthorized(f"missing or wrong {INTERNAL_TOKEN_HEADER}")


def register_health(app: Flask, checks: dict[str, Callable[[], None]]) -> None:
    """`/healthz` says the process is alive; `/readyz` checks each dependency and names what fails."""

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok", service=app.config["SETTINGS"].service_name)

    @app.get("/readyz")
    def readyz() -> Response:
        results, failures = {}, {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # a readiness probe must report, never raise
                message = describe_failure(name, exc)
                results[name] = message
                failures[name] = message
        service = app.config["SETTINGS"].service_name
        if failures:
            text = "; ".join(f"{name}: {message}" for name, message in failures.items())
            return error_response(503, "not_ready", f"{service} not ready: {text}", {"checks": results})
        return jsonify(status="ready", service=service, checks=results)


def describe_failure(check: str, exc: Exception) -> str:
    if check == "database":
        return f"database unreachable ({safe_url(get_db().url)}): {exc.__class__.__name__}"
    if check == "redis":
        return f"redis unreachable: {exc.__class__.__name__}"
    return str(exc) or exc.__class__.__name__


def register_metrics(app: Flask, service: str) -> None:
    """Count and time every request into a registry owned by this app, served at `/metrics`."""
    registry = CollectorRegistry()
    requests_total = Counter(
        "tollgate_http_requests_total",
        "HTTP requests handled",
        ["service", "method", "endpoint", "status"],
        registry=registry,
    )
    latency = Histogram(
        "tollgate_http_request_duration_seconds",
        "HTTP request latency",
        ["service", "method", "endpoint"],
        registry=registry,
    )
    app.extensions["metrics"] = registry

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        started = g.get("metrics_started")
        if started is not None:
            latency.labels(service, request.method, endpoint).observe(time.perf_counter() - started)
        requests_total.labels(service, request.method, endpoint, str(response.status_code)).inc()
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
