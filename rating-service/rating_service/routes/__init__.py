"""HTTP routes of rating_service, one module per resource; each route loads, calls the domain, dumps."""

from typing import Any

from flask import Flask, current_app
from werkzeug.routing import IntegerConverter, Map

from tollgate_common.service import get_db

from ..engine.tariffs import TariffCache
from ..schemas import MAX_ROW_ID


class RowIdConverter(IntegerConverter):
    """`<id:name>` in a route: a row id from 1 to PostgreSQL's `integer` maximum; any other number is a
    404 like an unknown id, instead of reaching the database and failing there."""

    def __init__(self, map: Map) -> None:
        super().__init__(map, min=1, max=MAX_ROW_ID)


def row_id_parameter(converter: RowIdConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": converter.min, "maximum": converter.max}


def register_blueprints(app: Flask) -> None:
    """Register every resource's blueprint on the app's flask-smorest Api."""
    from . import filters, packages, rating, tariffs

    app.url_map.converters["id"] = RowIdConverter
    api = app.extensions["api"]
    api.register_converter(RowIdConverter, row_id_parameter)
    for module in (tariffs, packages, filters, rating):
        api.register_blueprint(module.bp)


def tariff_cache() -> TariffCache:
    """The running app's per-process cache of compiled tariff versions."""
    return current_app.extensions["tariff_cache"]


__all__ = ["get_db", "register_blueprints", "tariff_cache"]
