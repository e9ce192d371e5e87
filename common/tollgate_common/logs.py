"""Structured JSON logs and the request id carried from the gateway through services into jobs."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import structlog
from flask import Flask, Response, g, request

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def configure_logging(service: str, level: str = "INFO", json: bool = True) -> None:
    """Send structlog and stdlib logging to stderr, as JSON lines unless `json` is false."""
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=level.upper(), force=True)
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.bind_contextvars(service=service)


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """Return the request id bound to this request or job, if any."""
    return structlog.contextvars.get_contextvars().get("request_id")


def bind_request_id(request_id: str | None) -> str:
    """Bind `request_id` (or a new one) to the log context and return it."""
    if not request_id or not _VALID_REQUEST_ID.match(request_id):
        request_id = new_request_id()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id


def register_request_logging(app: Flask) -> None:
    """Give each request an id (kept from the caller when sent), echo it back, log one line."""
    log = structlog.get_logger("http")

    @app.before_request
    def start_request() -> None:
        structlog.contextvars.unbind_contextvars("request_id")
        g.request_id = bind_request_id(request.headers.get(REQUEST_ID_HEADER))
        g.request_started = time.perf_counter()

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        elapsed_ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        log.info(
            "request",
            method=request.method,
            path=request.path,
            status=response.status_code,
            duration_ms=round(elapsed_ms, 2),
        )
        return response
