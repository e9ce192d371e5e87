"""The public API contract: architecture.md's routes are routed, and `/openapi.json` describes exactly
the routed operations, with one error envelope, the bearer scheme and no schema lost between services."""

import json
import re

import pytest
import requests

from gateway.openapi import merged_spec
from gateway.routing import ROUTE_TABLE

IMPLICIT_METHODS = {"HEAD", "OPTIONS"}

# "Gateway API (v1)" of ../shared/spec/architecture.md, as written there: (method, path, section scope).
ARCHITECTURE_ROUTES = [
    ("POST", "/v1/servers", "admin"),
    ("GET", "/v1/servers/{id}", "admin"),
    ("PATCH", "/v1/servers/{id}", "admin"),
    ("DELETE", "/v1/servers/{id}", "admin"),
    ("POST", "/v1/servers/{id}/test", "admin"),
    ("PUT", "/v1/servers/{id}/filters", "admin"),
    ("POST", "/v1/tariffs", "admin"),
    ("POST", "/v1/tariffs/{id}/import", "admin"),
    ("GET", "/v1/tariffs/{id}/rates", "admin"),
    ("GET", "/v1/tariffs/{id}/export", "admin"),
    ("POST", "/v1/packages", "admin"),
    ("GET", "/v1/packages/{id}", "admin"),
    ("PATCH", "/v1/packages/{id}", "admin"),
    ("POST", "/v1/rating/quote", "admin"),
    ("PUT", "/v1/settings/whmcs", "admin"),
    ("GET", "/v1/templates/{name}", "admin"),
    ("PUT", "/v1/templates/{name}", "admin"),
    ("GET", "/v1/runs", "admin"),
    ("GET", "/v1/runs/{id}", "admin"),
    ("GET", "/v1/clients/{id}", "admin"),
    ("PUT", "/v1/services/{serviceid}", "whmcs"),
    ("POST", "/v1/services/{id}/suspend", "whmcs"),
    ("POST", "/v1/services/{id}/unsuspend", "whmcs"),
    ("DELETE", "/v1/services/{id}", "whmcs"),
    ("POST", "/v1/services/{id}/test", "whmcs"),
    ("GET", "/v1/services/{id}/cdrs", "whmcs"),
    ("GET", "/v1/services/{id}/rates", "whmcs"),
    ("GET", "/v1/services/{id}/validate", "whmcs"),
    ("POST", "/v1/events/whmcs", "whmcs"),
    ("GET", "/cron/autobill", "cron"),
    ("POST", "/cron/autobill", "cron"),
    ("GET", "/cron/autosuspend", "cron"),
    ("POST", "/cron/autosuspend", "cron"),
    ("GET", "/cron/cdr-sync", "cron"),
    ("POST", "/cron/cdr-sync", "cron"),
    ("GET", "/v1/jobs/{id}", "cron"),
]


def shape(path: str) -> str:
    """A path with its parameters unnamed, so `{id}`, `{server_id}` and `<int:server_id>` compare equal."""
    return re.sub(r"\{[^}]*\}|<[^>]*>", "{}", path)


def route_table_operations() -> set[tuple[str, str]]:
    """(OpenAPI path, METHOD) of every route the gateway routes."""
    return {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path), method)
        for path, methods, _, _ in ROUTE_TABLE
        for method in methods
        if method not in IMPLICIT_METHODS
    }


def document_operations(spec: dict) -> set[tuple[str, str]]:
    return {
        (path, method.upper())
        for path, item in spec["paths"].items()
        for method in item
        if method != "parameters" and method.upper() not in IMPLICIT_METHODS
    }


def test_every_architecture_route_is_routed_with_its_scope():
    """Each route of architecture.md's Gateway API is in the route table, callable with its section's scope."""
    routed = {(method, shape(path)): scopes for path, methods, _, scopes in ROUTE_TABLE for method in methods}
    missing = [(method, path) for method, path, _ in ARCHITECTURE_ROUTES if (method, shape(path)) not in routed]
    assert missing == []
    wrong_scope = [
        (method, path, scope)
        for method, path, scope in ARCHITECTURE_ROUTES
        if not {scope, "admin"} <= set(routed[(method, shape(path))])
    ]
    assert wrong_scope == []


@pytest.fixture(scope="module")
def public_spec(stack):
    response = requests.get(f"{stack.gateway_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    return response.json()


def test_document_describes_exactly_the_routed_operations(public_spec):
    """/openapi.json holds every (path, method) of the route table and nothing else."""
    assert "x-unavailable-services" not in public_spec
    assert document_operations(public_spec) == route_table_operations()


@pytest.mark.parametrize("service", ["cdr", "rating", "balance", "notify"])
def test_every_public_operation_a_service_serves_is_routed(stack, service):
    """A `/v1` operation a service documents is reachable through the gateway (only `/internal` stays inside)."""
    own = requests.get(f"{stack.service_url(service)}/openapi.json", timeout=10).json()
    public = {(path, method) for path, method in document_operations(own) if not path.startswith("/internal/")}
    assert public - route_table_operations() == set()


def test_every_reference_resolves(public_spec):
    """Every `$ref` in the document names a component the document holds."""
    text = json.dumps(public_spec)
    for ref in set(re.findall(r'"\$ref": "#/components/(\w+)/([^"]+)"', text)):
        kind, name = ref
        assert name in public_spec["components"].get(kind, {}), ref


def test_errors_security_and_cron_routes_are_documented(public_spec):
    """Errors are the one envelope, every operation needs a bearer key, cron routes show their query and 202 body."""
    envelope = public_spec["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    body = public_spec["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == {"code", "message", "details"}
    assert "Error" not in public_spec["components"]["schemas"]
    default_error = public_spec["components"]["responses"]["DEFAULT_ERROR"]
    assert default_error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorEnvelope"}
    bearer = public_spec["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert public_spec["security"] == [{"bearer": []}]
    autobill = public_spec["paths"]["/cron/autobill"]["post"]
    assert {parameter["name"] for parameter in autobill["parameters"]} == {"mode", "run_key", "wait", "runfrom"}
    assert autobill["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CronRun"
    }
    assert autobill["x-tollgate-scopes"] == ["admin", "cron"]
    job = public_spec["paths"]["/v1/jobs/{job_id}"]["get"]
    assert job["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/JobReport"
    }


def json_body(ref: str) -> dict:
    return {"content": {"application/json": {"schema": {"$ref": ref}}}}


def test_same_named_schemas_of_two_services_both_survive():
    """Two services' `Page` schemas are kept apart, each operation pointing at its own, errors at the envelope."""
    own = {
        "openapi": "3.0.3",
        "info": {"title": "Tollgate API", "version": "v1"},
        "paths": {},
        "components": {
            "schemas": {"Error": {"type": "object"}, "ErrorEnvelope": {"type": "object", "required": ["error"]}},
            "responses": {"DEFAULT_ERROR": json_body("#/components/schemas/Error")},
        },
    }

    def service(path: str, page: dict) -> dict:
        default_error = {"$ref": "#/components/responses/DEFAULT_ERROR"}
        responses = {"200": json_body("#/components/schemas/Page"), "default": default_error}
        return {
            "paths": {path: {"get": {"responses": responses}}},
            "components": {
                "schemas": {"Error": {"type": "object"}, "Page": page},
                "responses": own["components"]["responses"],
            },
        }

    cdr_page = {"type": "object", "properties": {"rows": {"type": "array"}}}
    rating_page = {"type": "object", "properties": {"rates": {"type": "array"}}}
    spec = merged_spec(
        own,
        {
            "cdr": service("/v1/services/{service_id}/cdrs", cdr_page),
            "rating": service("/v1/tariffs/{tariff_id}/rates", rating_page),
        },
    )
    schemas = spec["components"]["schemas"]
    assert (schemas["CdrPage"], schemas["RatingPage"]) == (cdr_page, rating_page)
    cdrs = spec["paths"]["/v1/services/{service_id}/cdrs"]["get"]["responses"]["200"]
    assert cdrs["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CdrPage"}
    rates = spec["paths"]["/v1/tariffs/{tariff_id}/rates"]["get"]["responses"]["200"]
    assert rates["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RatingPage"}
    error = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorEnvelope"}
    assert "Error" not in schemas and "Page" not in schemas
