"""Tariff routes: create, import a deck, list rates, export a version as CSV."""

from __future__ import annotations

import json
from typing import Any

from flask import Request, Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from .. import tariff_store
from ..exceptions import DeckRejected
from ..schemas import (
    ExportQuerySchema,
    ImportResultSchema,
    ImportSchema,
    RatePageSchema,
    RateQuerySchema,
    TariffCreateSchema,
    TariffSchema,
)
from . import get_db


class MultipartParser(FlaskParser):
    """Adds the `multipart` location: a form's text parts and files read by one schema, so the
    OpenAPI document shows one multipart/form-data body (webargs has no location for both)."""

    __location_map__ = dict(multipart="load_multipart", **FlaskParser.__location_map__)

    def load_multipart(self, req: Request, schema: Schema) -> Any:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class TariffBlueprint(Blueprint):
    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
    }


bp = TariffBlueprint("tariffs", __name__, url_prefix="/v1/tariffs", description="Carrier rate decks and their versions")


@bp.route("")
class Tariffs(MethodView):
    @bp.arguments(TariffCreateSchema)
    @bp.response(201, TariffSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Create an empty tariff; rates arrive with its first import."""
        with get_db().session() as session:
            tariff = tariff_store.create_tariff(session, data["name"], data["currency"])
            return tariff_store.tariff_view(session, tariff)

    @bp.response(200, TariffSchema(many=True))
    def get(self) -> Any:
        """List tariffs with their versions."""
        with get_db().session() as session:
            return [tariff_store.tariff_view(session, tariff) for tariff in tariff_store.list_tariffs(session)]


@bp.get("/<id:tariff_id>")
@bp.response(200, TariffSchema)
def get_tariff(tariff_id: int) -> Any:
    """Show a tariff, its saved column mapping and its versions."""
    with get_db().session() as session:
        return tariff_store.tariff_view(session, tariff_store.get_tariff(session, tariff_id))


@bp.post("/<id:tariff_id>/import")
@bp.arguments(ImportSchema, location="multipart")
@bp.response(200, ImportResultSchema)
def import_deck(form: dict[str, Any], tariff_id: int) -> Any:
    """Import a CSV deck as a new version; any bad line rejects the whole file (422 listing every line)."""
    upload = form["file"]
    mapping = None
    if form.get("mapping"):
        try:
            mapping = json.loads(form["mapping"])
        except json.JSONDecodeError as exc:
            raise DeckRejected(f"mapping: not valid JSON ({exc.msg})", {"fields": {"mapping": [exc.msg]}}) from None
    return tariff_store.import_deck(
        get_db(), tariff_id, upload.stream, mapping, form.get("effective_from"), upload.filename or ""
    )


@bp.get("/<id:tariff_id>/rates")
@bp.arguments(RateQuerySchema, location="query")
@bp.response(200, RatePageSchema)
def list_rates(query: dict[str, Any], tariff_id: int) -> Any:
    """Page through a version's rates (the one in force now by default), by prefix or description."""
    with get_db().session() as session:
        version = tariff_store.version_for(session, tariff_id, query["version"])
        offset = (query["page"] - 1) * query["per_page"]
        rows, total = tariff_store.slice_of_rates(
            session, version.id, query["prefix"], query["q"], offset, query["per_page"]
        )
        return {
            "tariff_id": tariff_id,
            "version": version.number,
            "total": total,
            "page": query["page"],
            "per_page": query["per_page"],
            "rates": [tariff_store.rate_view(row) for row in rows],
        }


@bp.get("/<id:tariff_id>/export")
@bp.arguments(ExportQuerySchema, location="query")
@bp.response(200, content_type="text/csv")
def export(query: dict[str, Any], tariff_id: int) -> Response:
    """Download a version (the one in force now by default) as a CSV that imports back unchanged."""
    db = get_db()
    with db.session() as session:
        version = tariff_store.version_for(session, tariff_id, query["version"])
        version_id, name = version.id, f"tariff-{tariff_id}-v{version.number}.csv"
    response = Response(stream_with_context(tariff_store.export_csv(db, version_id)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
