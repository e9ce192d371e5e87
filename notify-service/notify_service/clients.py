"""The one peer notify-service calls: balance-service, for a client's merge data."""

from __future__ import annotations

from typing import Any

from tollgate_common.http import ServiceClient


class BalanceClient:
    """Reads client merge data from balance-service."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 10.0):
        self.client = ServiceClient("balance-service", base_url, token, timeout=timeout, retries=2)

    def merge_data(self, client_id: int) -> dict[str, Any]:
        """Return the client's merge data body (names, credit, currency, custom fields, services)."""
        return self.client.get(f"/internal/clients/{client_id}/merge-data")
