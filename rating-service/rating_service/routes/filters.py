"""Filter routes per PBX server (the gateway forwards `PUT /v1/servers/{id}/filters` here)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from .. import filters_store
from ..schemas import FiltersSchema
from . import get_db

bp = Blueprint("filters", __name__, url_prefix="/v1/servers", description="Suppress and exclude-from-billing lists")


@bp.route("/<id:server_id>/filters")
class ServerFilters(MethodView):
    @bp.response(200, FiltersSchema)
    def get(self, server_id: int) -> Any:
        """Show a server's two pattern lists (empty when never set)."""
        with get_db().session() as session:
            return filters_store.get_filters(session, server_id)

    @bp.arguments(FiltersSchema)
    @bp.response(200, FiltersSchema)
    def put(self, data: dict[str, Any], server_id: int) -> Any:
        """Replace a server's lists; every pattern is checked against the grammar first."""
        with get_db().session() as session:
            return filters_store.put_filters(session, server_id, data["suppress"], data["exclude_from_billing"])
