"""Objects the running app shares: the secret box, the rating-service client, adapters for servers."""

from __future__ import annotations

from flask import current_app

from tollgate_common.http import ServiceClient
from tollgate_common.secrets import SecretBox
from tollgate_common.service import settings

from .adapters import build_adapter
from .adapters.base import ProviderAdapter
from .models import Server
from .servers import full_settings


def secret_box() -> SecretBox:
    """The app's credential sealer."""
    return current_app.extensions["cdr_secret_box"]


def rating_client() -> ServiceClient:
    """A client for rating-service; rating a large batch takes a while, hence the long timeout."""
    config = settings()
    return ServiceClient("rating-service", config.rating_url, config.internal_token, timeout=120.0)


def adapter_for(server: Server) -> ProviderAdapter:
    """Build the adapter for `server` with its decrypted settings."""
    config = settings()
    return build_adapter(
        server.kind,
        full_settings(server, secret_box()),
        timezone=server.timezone,
        options={
            "timeout_seconds": config.provider_timeout_seconds,
            "batch_size": config.fetch_batch_size,
            "lesnet_allowed_hosts": config.lesnet_allowed_hosts,
            "allow_http_loopback": config.allow_http_loopback,
        },
    )
