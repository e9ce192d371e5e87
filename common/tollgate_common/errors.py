"""The one JSON error envelope and the single table mapping domain errors to HTTP statuses."""

from __future__ import annotations

from typing import Any

import structlog
from flask import Flask, Response, jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

log = structlog.get_logger(__name__)


class TollgateError(Exception):
    """Base of every error a service reports to its caller."""

    code = "error"

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(TollgateError):
    """A setting is missing or malformed; raised at start-up, never per request."""

    code = "config_error"


class BadRequest(TollgateError):
    code = "bad_request"


class Unauthorized(TollgateError):
    code = "unauthorized"


class Forbidden(TollgateError):
    code = "forbidden"


class NotFound(TollgateError):
    code = "not_found"


class MethodNotAllowed(TollgateError):
    code = "method_not_allowed"


class Conflict(TollgateError):
    code = "conflict"


class InvalidInput(TollgateError):
    """Input parsed but broke a rule; `details` names the fields or lines."""

    code = "invalid"


class RateLimited(TollgateError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message, {"retry_after": retry_after})
        self.retry_after = retry_after


class UpstreamError(TollgateError):
    """A peer service or external system failed or answered something we cannot use."""

    code = "upstream_error"


class Unavailable(TollgateError):
    code = "unavailable"


# The single table: an error class (or its nearest listed ancestor) decides the HTTP status.
HTTP_STATUS: dict[type[TollgateError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    MethodNotAllowed: 405,
    Conflict: 409,
    InvalidInput: 422,
    RateLimited: 429,
    UpstreamError: 502,
    Unavailable: 503,
    ConfigError: 500,
    TollgateError: 500,
}

# Reverse map, used by the service client to turn a peer's envelope back into our exception.
ERROR_BY_CODE: dict[str, type[TollgateError]] = {cls.code: cls for cls in HTTP_STATUS}


def status_for(error: TollgateError) -> int:
    """Return the HTTP status of `error` from HTTP_STATUS, walking up its class hierarchy."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


def envelope(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the error body every Tollgate response uses."""
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    response = jsonify(envelope(code, message, details))
    response.status_code = status
    return response


def register_error_handlers(app: Flask) -> None:
    """Turn every failure, expected or not, into the one envelope."""

    @app.errorhandler(TollgateError)
    def handle_domain_error(error: TollgateError) -> Response:
        response = error_response(status_for(error), error.code, error.message, error.details)
        if isinstance(error, RateLimited):
            response.headers["Retry-After"] = str(error.retry_after)
        return response

    @app.errorhandler(ValidationError)
    def handle_validation_error(error: ValidationError) -> Response:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        fields = ", ".join(sorted(str(key) for key in messages))
        return error_response(422, InvalidInput.code, f"invalid input: {fields}", {"fields": messages})

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Response:
        by_location = (getattr(error, "data", None) or {}).get("messages")
        if error.code == 422 and by_location:
            # flask-smorest (webargs) groups field messages by location ("json", "query", "files").
            fields: dict[str, Any] = {}
            for messages in by_location.values():
                fields.update(messages if isinstance(messages, dict) else {"_schema": messages})
            names = ", ".join(sorted(str(name) for name in fields))
            return error_response(422, InvalidInput.code, f"invalid input: {names}", {"fields": fields})
        code = (error.name or "error").lower().replace(" ", "_")
        response = error_response(error.code or 500, code, error.description or error.name)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception) -> Response:
        log.exception("unhandled_error", error=repr(error))
        return error_response(500, "internal_error", "internal error; see the service log for the request id")
