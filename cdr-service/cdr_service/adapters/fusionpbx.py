"""The FusionPBX adapter: CDRs from its database or its CSV export; suspension through database and event socket."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from tollgate_common.errors import InvalidInput, UpstreamError

from .base import FetchBatch, ProviderAdapter, ServiceTarget
from .fusionpbx_db import FusionPbxDatabase
from .fusionpbx_http import EXPORT_OVERLAP_SECONDS, FusionPbxExport
from .fusionpbx_suspend import FusionPbxSuspension


class FusionPbxAdapter(ProviderAdapter):
    """Database mode when `db_dsn` is set (recommended), else HTTP export mode with `base_url` + `api_key`."""

    kind = "fusionpbx"

    def __init__(self, settings: dict[str, Any], *, timeout_seconds: float = 30.0, batch_size: int = 10000):
        self.settings = settings
        self.timeout_seconds = timeout_seconds
        self.database = (
            FusionPbxDatabase(settings["db_dsn"], timeout_seconds=timeout_seconds, batch_size=batch_size)
            if settings.get("db_dsn")
            else None
        )
        self.export = (
            FusionPbxExport(
                settings["base_url"],
                settings["api_key"],
                tenant=settings.get("export_domain", ""),
                timeout_seconds=timeout_seconds,
            )
            if settings.get("base_url") and settings.get("api_key")
            else None
        )
        self.min_overlap_seconds = 0 if self.database else EXPORT_OVERLAP_SECONDS

    def test(self) -> str:
        """Check the CDR source (database or export) and, when configured, the event socket."""
        messages = []
        if self.database:
            messages.append(self.database.test())
        elif self.export:
            messages.append(self.export.test())
        socket = self.settings.get("event_socket")
        if socket:
            suspension = self._suspension()
            with suspension.connect_event_socket() as connection:
                connection.api("status")
            messages.append(f"event socket {socket['host']}:{socket.get('port', 8021)} accepted the password")
        return "; ".join(messages)

    def test_service(self, target: ServiceTarget) -> str:
        """Check that the service's domain exists on the PBX (database mode)."""
        if self.database is None:
            return self.test()
        if not self.database.domain_exists(target.tenant):
            raise UpstreamError(f"FusionPBX has no domain {target.tenant!r}")
        return f"FusionPBX domain {target.tenant} found"

    def fetch(self, since: datetime, until: datetime, targets: Sequence[ServiceTarget]) -> Iterator[FetchBatch]:
        """Read every tenant's calls: the PBX is one source, and attribution picks the services' calls."""
        source = self.database or self.export
        assert source is not None
        return source.fetch(since, until)

    def suspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Stop the service's calling with the configured strategy."""
        return self._suspension().apply(target, enable=False)

    def unsuspend(self, target: ServiceTarget) -> dict[str, Any]:
        """Restore the service's calling with the configured strategy."""
        return self._suspension().apply(target, enable=True)

    def _suspension(self) -> FusionPbxSuspension:
        if self.database is None:
            raise InvalidInput(
                "FusionPBX suspension needs db_dsn (a database login allowed to update v_extensions, "
                "v_domains and v_gateways)",
                {"fields": {"settings.db_dsn": "required for suspension"}},
            )
        return FusionPbxSuspension(
            self.database,
            self.settings.get("event_socket"),
            strategy=self.settings.get("suspend_strategy", "extensions"),
            sip_profile=self.settings.get("sip_profile", "internal"),
            switch_hostname=self.settings.get("switch_hostname", ""),
            timeout_seconds=min(self.timeout_seconds, 10.0),
        )
