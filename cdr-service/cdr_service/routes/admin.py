"""Admin routes over the CDR store: quarantine, rerate, PBX actions."""

from datetime import UTC, datetime

from flask_smorest import Blueprint
from sqlalchemy import select

from tollgate_common.jobs import enqueue
from tollgate_common.service import get_db, get_redis

from ..models import QuarantinedCdr
from ..pbx_actions import complete_manual, list_actions
from ..schemas import (
    CompleteActionSchema,
    JobSchema,
    PbxActionQuerySchema,
    PbxActionSchema,
    QuarantineQuerySchema,
    QuarantineSchema,
    RerateSchema,
)

bp = Blueprint("cdr_admin", __name__, description="Quarantine, rerating and PBX actions")


@bp.route("/v1/cdrs/quarantine", methods=["GET"])
@bp.arguments(QuarantineQuerySchema, location="query")
@bp.response(200, QuarantineSchema(many=True))
def quarantine(args):
    """Rows that could not be parsed, newest first, with their reason."""
    query = select(QuarantinedCdr).order_by(QuarantinedCdr.id.desc()).limit(args["limit"])
    if args["server_id"] is not None:
        query = query.where(QuarantinedCdr.server_id == args["server_id"])
    with get_db().session() as session:
        return list(session.scalars(query))


@bp.route("/v1/cdrs/rerate", methods=["POST"])
@bp.arguments(RerateSchema)
@bp.response(202, JobSchema)
def rerate(data):
    """Queue a rerate of a period (optionally one service) or of the unrated calls only."""
    since = data["since"].isoformat() if data["since"] else None
    until = data["until"].isoformat() if data["until"] else None
    # same request within the same minute is one job (a double click); a later rerate runs again
    minute = datetime.now(UTC).strftime("%Y%m%d%H%M")
    key = f"rerate:{since}:{until}:{data['service_id']}:{data['only_unrated']}:{minute}"
    job, created = enqueue(
        get_redis(),
        "cdr",
        "cdr_service.jobs.rerate",
        since,
        until,
        data["service_id"],
        data["only_unrated"],
        job_id=key,
    )
    return {"job_id": job.id, "created": created}


@bp.route("/v1/pbx-actions", methods=["GET"])
@bp.arguments(PbxActionQuerySchema, location="query")
@bp.response(200, PbxActionSchema(many=True))
def pbx_actions(args):
    """The PBX action log, newest first; pending and manual actions need attention."""
    return list_actions(get_db(), service_id=args["service_id"], status=args["status"])


@bp.route("/v1/pbx-actions/<int:action_id>/done", methods=["POST"])
@bp.arguments(CompleteActionSchema)
@bp.response(200, PbxActionSchema)
def complete(data, action_id):
    """Mark a manual PBX task done once an admin has carried it out."""
    return complete_manual(get_db(), action_id, data["note"])
