"""Bearer-key authentication, scope checks, per-key rate limits and the audit log."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Flask, Response, g, request
from redis import Redis

from tollgate_common.errors import Forbidden, RateLimited, Unauthorized
from tollgate_common.service import PUBLIC_PATHS, get_db, get_redis, settings

from .keys import find_key
from .models import AuditEntry
from .routing import resolve


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing API key: send Authorization: Bearer <key>")
    return token.strip()


def check_rate_limit(redis: Redis, key_id: int, limit: int, now: float | None = None) -> None:
    """Allow `limit` requests per key per clock minute; beyond that raise RateLimited with Retry-After."""
    now = time.time() if now is None else now
    window = int(now // 60)
    counter = f"tollgate:ratelimit:{key_id}:{window}"
    pipeline = redis.pipeline()
    pipeline.incr(counter)
    pipeline.expire(counter, 120)
    count, _ = pipeline.execute()
    if count > limit:
        retry_after = max(1, 60 - int(now % 60))
        raise RateLimited(f"rate limit of {limit} requests per minute reached", retry_after)


def register_auth(app: Flask) -> None:
    """Authenticate every non-public request, then check its route's scopes and the key's rate."""

    @app.before_request
    def authenticate() -> None:
        g.api_key_id = None
        if request.path in PUBLIC_PATHS:
            return
        token = bearer_token()
        with get_db().session() as session:
            key = find_key(session, token)
            if key is None:
                raise Unauthorized("unknown or revoked API key")
            g.api_key_id, scopes = key.id, key.scope_set
        g.target = resolve(request.path, request.method)
        if not scopes & set(g.target.scopes):
            raise Forbidden(
                f"this key's scopes ({', '.join(sorted(scopes))}) do not allow {request.method} {request.path}",
                {"required_any_of": list(g.target.scopes)},
            )
        check_rate_limit(get_redis(), g.api_key_id, settings().rate_limit_per_minute)

    @app.after_request
    def audit(response: Response) -> Response:
        if g.get("api_key_id") is not None:
            with get_db().session() as session:
                session.add(
                    AuditEntry(
                        at=datetime.now(UTC),
                        key_id=g.api_key_id,
                        method=request.method,
                        path=request.path[:500],
                        status=response.status_code,
                        request_id=g.get("request_id", ""),
                    )
                )
        return response
