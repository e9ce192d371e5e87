"""HTTP routes of rating_service, one module per resource; each route loads, calls the domain, dumps."""

from flask import Flask, current_app

from tollgate_common.service import get_db

from ..engine.tariffs import TariffCache


def register_blueprints(app: Flask) -> None:
    """Register every resource's blueprint on the app's flask-smorest Api."""
    from . import filters, packages, rating, tariffs

    api = app.extensions["api"]
    for module in (tariffs, packages, filters, rating):
        api.register_blueprint(module.bp)


def tariff_cache() -> TariffCache:
    """The running app's per-process cache of compiled tariff versions."""
    return current_app.extensions["tariff_cache"]


__all__ = ["get_db", "register_blueprints", "tariff_cache"]
