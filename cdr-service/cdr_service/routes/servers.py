"""Admin routes for PBX and carrier servers: CRUD, connection test, sync status."""

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from tollgate_common.errors import UpstreamError
from tollgate_common.service import get_db

from ..models import Server, SyncWatermark
from ..runtime import adapter_for, secret_box
from ..schemas import ServerCreateSchema, ServerSchema, ServerUpdateSchema, SyncStatusSchema, TestResultSchema
from ..servers import create_server, delete_server, describe_server, get_server, update_server

bp = Blueprint("servers", __name__, description="PBX and carrier servers")


@bp.route("/v1/servers")
class Servers(MethodView):
    @bp.response(200, ServerSchema(many=True))
    def get(self):
        """List servers (credentials are never returned)."""
        with get_db().session() as session:
            servers = session.scalars(select(Server).order_by(Server.id)).all()
            return [describe_server(server, secret_box()) for server in servers]

    @bp.arguments(ServerCreateSchema)
    @bp.response(201, ServerSchema)
    def post(self, data):
        """Create a server; its credentials are encrypted at rest."""
        with get_db().session() as session:
            server = create_server(session, secret_box(), data)
            return describe_server(server, secret_box())


@bp.route("/v1/servers/<int:server_id>")
class ServerItem(MethodView):
    @bp.response(200, ServerSchema)
    def get(self, server_id):
        """Show a server without its credentials."""
        with get_db().session() as session:
            return describe_server(get_server(session, server_id), secret_box())

    @bp.arguments(ServerUpdateSchema)
    @bp.response(200, ServerSchema)
    def patch(self, data, server_id):
        """Change a server; settings merge, and a credential left out keeps its stored value."""
        with get_db().session() as session:
            return describe_server(update_server(session, secret_box(), server_id, data), secret_box())

    @bp.response(204)
    def delete(self, server_id):
        """Delete a server that has no services and no CDRs."""
        with get_db().session() as session:
            delete_server(session, server_id)


@bp.route("/v1/servers/<int:server_id>/test", methods=["POST"])
@bp.response(200, TestResultSchema)
def test_server(server_id):
    """Check the server's connection and credentials."""
    with get_db().session() as session:
        adapter = adapter_for(get_server(session, server_id))
    try:
        return {"ok": True, "message": adapter.test()}
    except UpstreamError as exc:
        return {"ok": False, "message": exc.message}


@bp.route("/v1/servers/<int:server_id>/sync", methods=["GET"])
@bp.response(200, SyncStatusSchema)
def sync_status(server_id):
    """Show how far the server's CDRs have been synced and how the last sync ended."""
    with get_db().session() as session:
        get_server(session, server_id)
        watermark = session.get(SyncWatermark, server_id)
        if watermark is None:
            return {"server_id": server_id, "last_status": "never", "fetched": 0, "stored": 0, "quarantined": 0}
        return watermark
