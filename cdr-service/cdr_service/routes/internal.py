"""Internal routes for balance-service (contract B): services, billable totals, claims, report."""

from flask_smorest import Blueprint

from tollgate_common.errors import InvalidInput
from tollgate_common.service import get_db

from ..claims import billable_services, claim_service, get_claim, report
from ..schemas import (
    BillableQuerySchema,
    BillableSchema,
    ClaimRequestSchema,
    ClaimSchema,
    ReportQuerySchema,
    ReportRowSchema,
    ServicesQuerySchema,
    ServiceSummarySchema,
)
from ..services import describe_assignment, list_services

bp = Blueprint("internal", __name__, description="Contract B for balance-service")


@bp.route("/internal/services", methods=["GET"])
@bp.arguments(ServicesQuerySchema, location="query")
@bp.response(200, ServiceSummarySchema(many=True))
def services(args):
    """The VoIP services we know, optionally one client's or a list of ids."""
    try:
        ids = [int(part) for part in args["ids"].split(",") if part.strip()]
    except ValueError:
        raise InvalidInput("ids: expected comma-separated integers", {"fields": {"ids": args["ids"]}}) from None
    return [describe_assignment(item) for item in list_services(get_db(), args["client_id"], ids or None)]


@bp.route("/internal/billable", methods=["GET"])
@bp.arguments(BillableQuerySchema, location="query")
@bp.response(200, BillableSchema(many=True))
def billable(args):
    """Services with rated, billable, unclaimed calls started before the cutoff."""
    return billable_services(get_db(), args["cutoff"])


@bp.route("/internal/services/<int:service_id>/claim", methods=["POST"])
@bp.arguments(ClaimRequestSchema)
@bp.response(200, ClaimSchema)
def claim(data, service_id):
    """Claim the service's chargeable calls and pending adjustments; the same claim_ref returns the same claim."""
    return claim_service(get_db(), service_id, data["claim_ref"], data["cutoff"])


@bp.route("/internal/claims/<path:claim_ref>", methods=["GET"])
@bp.response(200, ClaimSchema)
def claim_item(claim_ref):
    """Show a claim with its CDR ids, to trace a charge."""
    return get_claim(get_db(), claim_ref)


@bp.route("/internal/report", methods=["GET"])
@bp.arguments(ReportQuerySchema, location="query")
@bp.response(200, ReportRowSchema(many=True))
def report_route(args):
    """Per service: unrated and quarantined calls in the window."""
    return report(get_db(), args["since"], args["until"])
