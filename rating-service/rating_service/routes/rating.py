"""Rating routes: a quote for one call, the batch endpoint for cdr-service, a client's rate list."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint

from .. import batch, rate_lists
from ..schemas import (
    BatchRequestSchema,
    BatchResponseSchema,
    QuoteSchema,
    RatingResultSchema,
    ServiceRatesQuerySchema,
    ServiceRatesSchema,
)
from . import get_db, tariff_cache

bp = Blueprint("rating", __name__, description="Pricing calls")


@bp.post("/v1/rating/quote")
@bp.arguments(QuoteSchema)
@bp.response(200, RatingResultSchema)
def quote(data: dict[str, Any]) -> Any:
    """Price one call at the package's list price (no filters, no free minutes)."""
    return batch.quote(
        get_db(), tariff_cache(), data["package_id"], data["direction"], data["number"], data["billsec"], data["start"]
    )


@bp.post("/internal/rate-batch")
@bp.arguments(BatchRequestSchema)
@bp.response(200, BatchResponseSchema)
def rate_batch(data: dict[str, Any]) -> Any:
    """Rate a batch of CDRs for cdr-service; rating a CDR again reuses its free-minute allocation."""
    services = {
        service_id: batch.ServiceInfo(
            service["product_id"], service["server_id"], service["period"], tuple(service["tenant_numbers"])
        )
        for service_id, service in data["services"].items()
    }
    return {"results": batch.rate_batch(get_db(), tariff_cache(), services, data["cdrs"])}


@bp.get("/internal/services/<service_id>/rates")
@bp.arguments(ServiceRatesQuerySchema, location="query")
@bp.response(200, ServiceRatesSchema)
def service_rates(query: dict[str, Any], service_id: str) -> Any:
    """List the rates a service's client pays (tariff times markup, or custom), searchable by prefix or text."""
    with get_db().session() as session:
        page = rate_lists.effective_rates(
            session, query["product_id"], query["direction"], query["q"], query["page"], query["per_page"]
        )
    return {
        "service_id": service_id,
        "package_id": page.package_id,
        "direction": page.direction,
        "tariff_version": page.tariff_version,
        "total": page.total,
        "page": query["page"],
        "per_page": query["per_page"],
        "rates": page.rates,
    }
