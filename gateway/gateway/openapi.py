"""One OpenAPI document for the public API: the gateway's own routes plus each service's, as routed."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, current_app, jsonify

from tollgate_common.http import ServiceClient
from tollgate_common.service import settings

from .routing import ROUTE_MAP


def public_paths() -> set[str]:
    """The OpenAPI-style paths the gateway routes (`/v1/servers/{server_id}`)."""
    return {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in ROUTE_MAP.iter_rules()}


def merged_spec(own: dict[str, Any], services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge the gateway's spec with the services' specs, keeping only publicly routed paths."""
    routed = public_paths()
    spec = {**own, "paths": {}, "components": {"schemas": {}, **own.get("components", {})}}
    spec["components"].setdefault("schemas", {})
    spec["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    spec["security"] = [{"bearer": []}]
    unavailable = []
    for name, service_spec in [("gateway", own), *services.items()]:
        if not service_spec:
            unavailable.append(name)
            continue
        for path, operations in service_spec.get("paths", {}).items():
            if path in routed:
                spec["paths"].setdefault(path, {}).update(operations)
        spec["components"]["schemas"].update(service_spec.get("components", {}).get("schemas", {}))
    if unavailable:
        spec["x-unavailable-services"] = unavailable
    return spec


def register_openapi(app: Flask) -> None:
    """Serve `/openapi.json` as the merged public document (the gateway's own spec stays internal)."""
    api = app.extensions["api"]

    @app.get("/openapi.json", endpoint="public_openapi")
    def public_openapi() -> Response:
        service_specs = {}
        for name, url in settings().service_urls().items():
            try:
                service_specs[name] = ServiceClient(name, url, settings().internal_token, timeout=5, retries=0).get(
                    "/openapi.json"
                )
            except Exception:  # one service down must not take the document down
                current_app.logger.warning("openapi of %s unavailable", name)
                service_specs[name] = {}
        return jsonify(merged_spec(api.spec.to_dict(), service_specs))
