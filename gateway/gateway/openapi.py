"""One OpenAPI document for the public API: the gateway's own routes plus each service's, as routed."""

from __future__ import annotations

import copy
import re
from typing import Any

from flask import Flask, Response, current_app, jsonify
from marshmallow import Schema, fields

from tollgate_common.http import ServiceClient
from tollgate_common.service import settings

from .routing import ROUTE_TABLE

IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
"""Methods werkzeug answers on every route by itself; no service documents them."""

SMOREST_ERROR = "Error"
"""flask-smorest's own error schema; Tollgate answers with `ErrorEnvelope` instead."""


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "Machine-readable code, e.g. `not_found`."})
    message = fields.String(required=True)
    details = fields.Dict(required=True, metadata={"description": "Fields, lines or limits the error is about."})


class ErrorEnvelopeSchema(Schema):
    """The one error body every route answers with (`tollgate_common.errors.envelope`)."""

    error = fields.Nested(ErrorBodySchema, required=True)


def openapi_path(rule: str) -> str:
    """`/v1/servers/<int:server_id>` → `/v1/servers/{server_id}`."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def routed_operations() -> dict[tuple[str, str], tuple[str, tuple[str, ...]]]:
    """Every (OpenAPI path, lower-case method) the gateway routes, with its owner and allowed scopes."""
    return {
        (openapi_path(path), method.lower()): (service, scopes)
        for path, methods, service, scopes in ROUTE_TABLE
        for method in methods
        if method not in IMPLICIT_METHODS
    }


def namespaced(kind: str, name: str, body: Any, owner: str, own: dict[str, Any]) -> str:
    """Name of a service's component in the merged document: shared when the gateway's own document
    holds the very same component (flask-smorest's generic ones), otherwise prefixed with the service
    (`CdrServer`, `RatingPackage`) so two services' `Page` or `Job` never overwrite each other."""
    if own.get(kind, {}).get(name) == body:
        return name
    prefix = owner.capitalize()
    return name if name.startswith(prefix) else prefix + name


def rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    """Copy `node`, pointing every `$ref` at its component's name in the merged document."""
    if isinstance(node, dict):
        return {
            key: renames.get(value, value) if key == "$ref" else rewrite_refs(value, renames)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [rewrite_refs(item, renames) for item in node]
    return node


def scopes_note(scopes: tuple[str, ...]) -> str:
    return "Key scopes allowed: " + ", ".join(f"`{scope}`" for scope in scopes) + "."


def merged_spec(own: dict[str, Any], services: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge the gateway's spec with the services' specs, keeping exactly the routed operations."""
    own = copy.deepcopy(own)
    own_components = own.get("components", {})
    routed = routed_operations()
    spec: dict[str, Any] = {key: value for key, value in own.items() if key not in {"paths", "components"}}
    spec["paths"] = {}
    spec["components"] = copy.deepcopy(own_components)
    spec["components"].setdefault("schemas", {})
    spec["tags"] = list(own.get("tags", []))
    unavailable = []
    for owner, service_spec in [("gateway", own), *services.items()]:
        if not service_spec:
            unavailable.append(owner)
            continue
        renames: dict[str, str] = {}
        if owner != "gateway":
            for kind, components in service_spec.get("components", {}).items():
                for name, body in components.items():
                    renames[f"#/components/{kind}/{name}"] = (
                        f"#/components/{kind}/{namespaced(kind, name, body, owner, own_components)}"
                    )
            for kind, components in service_spec.get("components", {}).items():
                for name, body in components.items():
                    target = renames[f"#/components/{kind}/{name}"].rsplit("/", 1)[1]
                    merged = spec["components"].setdefault(kind, {})
                    body = rewrite_refs(body, renames)
                    if merged.get(target, body) != body:
                        raise ValueError(f"{owner}'s {kind} {name} would overwrite another {target}")
                    merged[target] = body
            spec["tags"].extend(tag for tag in service_spec.get("tags", []) if tag not in spec["tags"])
        for path, item in service_spec.get("paths", {}).items():
            for method, operation in item.items():
                if method == "parameters" or routed.get((path, method), ("",))[0] != owner:
                    continue
                path_item = spec["paths"].setdefault(path, {})
                if "parameters" in item:
                    path_item["parameters"] = rewrite_refs(item["parameters"], renames)
                operation = rewrite_refs(operation, renames)
                _, scopes = routed[(path, method)]
                operation["description"] = "\n\n".join(
                    filter(None, [operation.get("description"), scopes_note(scopes)])
                )
                operation["x-tollgate-scopes"] = list(scopes)
                path_item[method] = operation
    use_error_envelope(spec)
    drop_unreferenced(spec)
    spec["components"]["securitySchemes"] = {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "tg_ API key",
            "description": "An API key (`tollgate keys create --scope admin|whmcs|cron`); each operation lists "
            "the scopes it accepts in `x-tollgate-scopes`.",
        }
    }
    spec["security"] = [{"bearer": []}]
    if unavailable:
        spec["x-unavailable-services"] = unavailable
    return spec


def use_error_envelope(spec: dict[str, Any]) -> None:
    """Point every error response at Tollgate's envelope instead of flask-smorest's generic schema."""
    schemas = spec["components"]["schemas"]
    if "ErrorEnvelope" not in schemas:
        return
    schemas.pop(SMOREST_ERROR, None)
    renamed = rewrite_refs(
        {"paths": spec["paths"], "responses": spec["components"].get("responses", {})},
        {f"#/components/schemas/{SMOREST_ERROR}": "#/components/schemas/ErrorEnvelope"},
    )
    spec["paths"] = renamed["paths"]
    spec["components"]["responses"] = renamed["responses"]


def refs_in(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs_in(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs_in(item) for item in node))
    return set()


def drop_unreferenced(spec: dict[str, Any]) -> None:
    """Keep only the components the public operations reach (not the services' internal contracts)."""
    reached: set[str] = set()
    pending = refs_in(spec["paths"])
    while pending:
        ref = pending.pop()
        reached.add(ref)
        _, _, kind, name = ref.split("/", 3)
        pending |= refs_in(spec["components"].get(kind, {}).get(name)) - reached
    for kind, components in spec["components"].items():
        for name in [name for name in components if f"#/components/{kind}/{name}" not in reached]:
            del components[name]


def register_openapi(app: Flask) -> None:
    """Serve `/openapi.json` as the merged public document (the gateway's own spec stays internal)."""
    api = app.extensions["api"]
    api.spec.components.schema("ErrorEnvelope", schema=ErrorEnvelopeSchema)

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
