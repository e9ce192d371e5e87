"""The route table: which service owns each public path, and which key scopes may call it."""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as WerkzeugNotFound
from werkzeug.routing import Map, Rule

from tollgate_common.errors import MethodNotAllowed as MethodNotAllowedError
from tollgate_common.errors import NotFound

ADMIN = ("admin",)
WHMCS = ("admin", "whmcs")
CRON = ("admin", "cron")
JOBS = ("admin", "cron", "whmcs")


@dataclass(frozen=True)
class Target:
    """Where a matched request goes: a service name, or `gateway` for routes served here."""

    service: str
    scopes: tuple[str, ...]


# (path, methods, owning service, scopes allowed). `admin` may call everything. Path parameters are
# named as the owning service names them, so `/openapi.json` can take each operation from its spec.
ROUTE_TABLE: list[tuple[str, tuple[str, ...], str, tuple[str, ...]]] = [
    ("/v1/servers", ("GET", "POST"), "cdr", ADMIN),
    ("/v1/servers/<int:server_id>", ("GET", "PATCH", "DELETE"), "cdr", ADMIN),
    ("/v1/servers/<int:server_id>/test", ("POST",), "cdr", ADMIN),
    ("/v1/servers/<int:server_id>/sync", ("GET",), "cdr", ADMIN),
    ("/v1/servers/<int:server_id>/filters", ("GET", "PUT"), "rating", ADMIN),
    ("/v1/tariffs", ("GET", "POST"), "rating", ADMIN),
    ("/v1/tariffs/<int:tariff_id>", ("GET",), "rating", ADMIN),
    ("/v1/tariffs/<int:tariff_id>/import", ("POST",), "rating", ADMIN),
    ("/v1/tariffs/<int:tariff_id>/rates", ("GET",), "rating", ADMIN),
    ("/v1/tariffs/<int:tariff_id>/export", ("GET",), "rating", ADMIN),
    ("/v1/packages", ("GET", "POST"), "rating", ADMIN),
    ("/v1/packages/<int:package_id>", ("GET", "PATCH"), "rating", ADMIN),
    ("/v1/rating/quote", ("POST",), "rating", ADMIN),
    ("/v1/settings/whmcs", ("GET", "PUT"), "balance", ADMIN),
    ("/v1/runs", ("GET",), "balance", ADMIN),
    ("/v1/runs/<run_ref>", ("GET",), "balance", ADMIN),
    ("/v1/runs/<run_ref>/charges", ("GET",), "balance", ADMIN),
    ("/v1/postings/<int:posting_id>/resolve", ("POST",), "balance", ADMIN),
    ("/v1/clients/<int:client_id>", ("GET",), "balance", ADMIN),
    ("/v1/templates", ("GET",), "notify", ADMIN),
    ("/v1/templates/<name>", ("GET", "PUT"), "notify", ADMIN),
    ("/v1/templates/<name>/preview", ("POST",), "notify", ADMIN),
    ("/v1/merge-fields", ("GET",), "notify", ADMIN),
    ("/v1/outbox", ("GET",), "notify", ADMIN),
    ("/v1/outbox/<key>", ("GET",), "notify", ADMIN),
    ("/v1/outbox/<key>/retry", ("POST",), "notify", ADMIN),
    ("/v1/services/<int:service_id>", ("GET", "PUT", "DELETE"), "cdr", WHMCS),
    ("/v1/services/<int:service_id>/test", ("POST",), "cdr", WHMCS),
    ("/v1/services/<int:service_id>/cdrs", ("GET",), "cdr", WHMCS),
    ("/v1/services/<int:service_id>/rates", ("GET",), "cdr", WHMCS),
    ("/v1/services/<int:service_id>/validate", ("GET",), "cdr", WHMCS),
    ("/v1/cdrs/quarantine", ("GET",), "cdr", ADMIN),
    ("/v1/cdrs/rerate", ("POST",), "cdr", ADMIN),
    ("/v1/pbx-actions", ("GET",), "cdr", ADMIN),
    ("/v1/pbx-actions/<int:action_id>/done", ("POST",), "cdr", ADMIN),
    ("/v1/services/<int:service_id>/suspend", ("POST",), "balance", WHMCS),
    ("/v1/services/<int:service_id>/unsuspend", ("POST",), "balance", WHMCS),
    ("/v1/events/whmcs", ("POST",), "balance", WHMCS),
    ("/v1/jobs/<job_id>", ("GET",), "gateway", JOBS),
    ("/cron/autobill", ("GET", "POST"), "gateway", CRON),
    ("/cron/autosuspend", ("GET", "POST"), "gateway", CRON),
    ("/cron/cdr-sync", ("GET", "POST"), "gateway", CRON),
]

ROUTE_MAP = Map(
    [
        Rule(path, methods=list(methods), endpoint=Target(service, scopes))
        for path, methods, service, scopes in ROUTE_TABLE
    ],
    strict_slashes=False,
)


def resolve(path: str, method: str) -> Target:
    """Return the target of `method path`, or raise NotFound / MethodNotAllowedError."""
    adapter = ROUTE_MAP.bind("gateway")
    try:
        target, _ = adapter.match(path, method=method)
    except WerkzeugNotFound:
        raise NotFound(f"no route {path}") from None
    except MethodNotAllowed as exc:
        allowed = sorted(exc.valid_methods or [])
        raise MethodNotAllowedError(f"{method} not allowed on {path}", {"allowed": allowed}) from None
    return target
