"""WHMCS-facing routes of a VoIP service: assignment, test, terminate, and the client views."""

from flask import Response, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint

from tollgate_common.errors import UpstreamError
from tollgate_common.service import get_db, settings

from ..adapters.url_guard import check_url, parse_hosts
from ..pbx_actions import target_of
from ..runtime import adapter_for, rating_client
from ..schemas import (
    CdrListQuerySchema,
    CdrPageSchema,
    RatesQuerySchema,
    ServiceSchema,
    ServiceUpsertSchema,
    TestResultSchema,
    ValidateQuerySchema,
    ValidationReportSchema,
)
from ..servers import get_server
from ..services import describe_assignment, get_assignment, terminate_service, upsert_service
from ..validator import validate_service
from ..views import CdrQuery, export_csv, list_cdrs

bp = Blueprint("services", __name__, description="VoIP services and their client views")


@bp.route("/v1/services/<int:service_id>")
class ServiceItem(MethodView):
    @bp.response(200, ServiceSchema)
    def get(self, service_id):
        """Show what the service bills: tenant, DIDs, extensions."""
        with get_db().session() as session:
            return describe_assignment(get_assignment(session, service_id))

    @bp.arguments(ServiceUpsertSchema)
    @bp.response(200, ServiceSchema)
    def put(self, data, service_id):
        """Create or update the service from its WHMCS fields (CreateAccount, ChangePackage)."""
        config = settings()
        hosts = parse_hosts(config.lesnet_allowed_hosts)

        def check_link(url):
            # resolution waits for the fetch: a PUT must not depend on DNS, and a fetch re-checks anyway
            """Refuse a CDR Link that is not safe to fetch."""
            return check_url(url, hosts, allow_http_loopback=config.allow_http_loopback, resolve=False)

        return describe_assignment(upsert_service(get_db(), service_id, data, check_link))

    @bp.response(200, ServiceSchema)
    def delete(self, service_id):
        """Terminate the service: new calls are no longer attributed to it."""
        return describe_assignment(terminate_service(get_db(), service_id))


@bp.route("/v1/services/<int:service_id>/test", methods=["POST"])
@bp.response(200, TestResultSchema)
def test_service(service_id):
    """Check that the service's tenant is reachable on its PBX."""
    with get_db().session() as session:
        assignment = get_assignment(session, service_id)
        adapter = adapter_for(get_server(session, assignment.server_id))
        target = target_of(assignment)
    try:
        return {"ok": True, "message": adapter.test_service(target)}
    except UpstreamError as exc:
        return {"ok": False, "message": exc.message}


@bp.route("/v1/services/<int:service_id>/cdrs", methods=["GET"])
@bp.arguments(CdrListQuerySchema, location="query")
@bp.response(200, CdrPageSchema)
@bp.alt_response(200, description="CSV of the whole selection with format=csv", content_type="text/csv")
def service_cdrs(args, service_id):
    """List the service's calls for a billing period or date range, with totals; format=csv exports them all."""
    output = args.pop("format")
    query = CdrQuery(**args)
    if output == "csv":
        rows = export_csv(get_db(), service_id, query)
        filename = f"cdrs-service-{service_id}-{query.period}.csv".replace("..", "_to_")
        return Response(
            stream_with_context(rows),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return list_cdrs(get_db(), service_id, query)


@bp.route("/v1/services/<int:service_id>/rates", methods=["GET"])
@bp.arguments(RatesQuerySchema, location="query")
def service_rates(args, service_id):
    """The client's effective rates for the service's product, from rating-service."""
    with get_db().session() as session:
        product_id = get_assignment(session, service_id).product_id
    params = {"product_id": product_id, **{key: value for key, value in args.items() if value is not None}}
    return rating_client().get(f"/internal/services/{service_id}/rates", params=params)


@bp.route("/v1/services/<int:service_id>/validate", methods=["GET"])
@bp.arguments(ValidateQuerySchema, location="query")
@bp.response(200, ValidationReportSchema)
def validate(args, service_id):
    """Class the service's recent call numbers as E.164 valid, wrong country, invalid or extension."""
    with get_db().session() as session:
        assignment = get_assignment(session, service_id)
        server = get_server(session, assignment.server_id)
        country_code = args["country_code"] or str((server.settings or {}).get("country_code") or "1")
    return validate_service(get_db(), service_id, country_code, settings().validator_days, args["limit"])
