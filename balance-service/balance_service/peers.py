"""Clients for the peer services balance_service calls: cdr-service (contract B) and rating-service."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tollgate_common.http import ServiceClient


class CdrApi:
    """cdr-service's internal routes: services, billable totals, claims and the run report."""

    def __init__(self, client: ServiceClient):
        self.client = client

    def services(self, *, client_id: int | None = None, ids: list[int] | None = None) -> list[dict[str, Any]]:
        """Services known to cdr-service, by client or by id."""
        params: dict[str, Any] = {}
        if client_id is not None:
            params["client_id"] = client_id
        if ids:
            params["ids"] = ",".join(str(service_id) for service_id in ids)
        return self.client.get("/internal/services", params=params) or []

    def billable(self, cutoff: dt.datetime) -> list[dict[str, Any]]:
        """Services with rated, uncharged calls up to `cutoff`."""
        return self.client.get("/internal/billable", params={"cutoff": cutoff.isoformat()}) or []

    def claim(self, service_id: int, claim_ref: str, cutoff: dt.datetime) -> dict[str, Any]:
        """Claim a service's rated, uncharged calls up to `cutoff`; the same claim_ref returns the same claim."""
        return self.client.post(
            f"/internal/services/{service_id}/claim", json={"claim_ref": claim_ref, "cutoff": cutoff.isoformat()}
        )

    def report(self, until: dt.datetime) -> list[dict[str, Any]]:
        """Unrated and quarantined CDR counts per service, all of them up to `until`."""
        return self.client.get("/internal/report", params={"until": until.isoformat()}) or []


class RatingApi:
    """rating-service's package lookup, cached per product for the life of the object (one run)."""

    def __init__(self, client: ServiceClient):
        self.client = client
        self.cache: dict[int, dict[str, Any] | None] = {}

    def package_for(self, product_id: int) -> dict[str, Any] | None:
        """The package of a WHMCS product (billing_mode, realtime), or None when no package covers it."""
        if product_id not in self.cache:
            packages = self.client.get("/v1/packages", params={"product_id": product_id}) or []
            self.cache[product_id] = packages[0] if packages else None
        return self.cache[product_id]
