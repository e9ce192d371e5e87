"""Suspend and restore a FusionPBX tenant's calling: flip rows in its database, then tell FreeSWITCH."""

from __future__ import annotations

from typing import Any

from tollgate_common.errors import UpstreamError

from .base import ServiceTarget
from .esl import EventSocket
from .fusionpbx_db import FusionPbxDatabase


class FusionPbxSuspension:
    """The `extensions`, `domain` and `gateway` strategies of integrations.md §1.4."""

    def __init__(
        self,
        database: FusionPbxDatabase,
        event_socket: dict[str, Any] | None,
        *,
        strategy: str,
        sip_profile: str = "internal",
        switch_hostname: str = "",
        timeout_seconds: float = 10.0,
    ):
        self.database = database
        self.event_socket = event_socket
        self.strategy = strategy
        self.sip_profile = sip_profile
        self.switch_hostname = switch_hostname
        self.timeout_seconds = timeout_seconds

    def apply(self, target: ServiceTarget, *, enable: bool) -> dict[str, Any]:
        """Run the configured strategy; return what changed and which event socket commands were sent."""
        handler = {"extensions": self._extensions, "domain": self._domain, "gateway": self._gateway}[self.strategy]
        return handler(target, enable)

    def _domain_uuid(self, connection: Any, tenant: str) -> str:
        row = connection.execute(
            "SELECT domain_uuid::text FROM v_domains WHERE lower(domain_name) = %s", (tenant,)
        ).fetchone()
        if row is None:
            raise UpstreamError(f"FusionPBX has no domain {tenant!r}")
        return row[0]

    def _extensions(self, target: ServiceTarget, enable: bool) -> dict[str, Any]:
        value = "true" if enable else "false"
        with self.database.connect(read_only=False) as connection:
            domain_uuid = self._domain_uuid(connection, target.tenant)
            # A literal 'true'/'false' suits both the text column of 5.0-5.4 and the boolean of 5.5.
            sql = f"UPDATE v_extensions SET enabled = '{value}' WHERE domain_uuid = %s"
            params: list[Any] = [domain_uuid]
            if target.extensions:
                sql += " AND extension = ANY(%s)"
                params.append(list(target.extensions))
            sql += " RETURNING extension, user_context"
            changed = connection.execute(sql, params).fetchall()
        extensions = sorted({(extension, context or target.tenant) for extension, context in changed})
        commands = []
        if self.event_socket:
            with self.connect_event_socket() as socket:
                for extension, context in extensions:
                    commands.append(self._cache_delete(socket, f"directory:{extension}@{context}"))
                    if not enable:
                        commands.append(socket_api(socket, self._flush_registration(extension, target.tenant)))
                commands.append(socket_api(socket, "reloadxml"))
        return {"extensions": [extension for extension, _ in extensions], "enabled": enable, "commands": commands}

    def _domain(self, target: ServiceTarget, enable: bool) -> dict[str, Any]:
        with self.database.connect(read_only=False) as connection:
            self._domain_uuid(connection, target.tenant)
            connection.execute(
                "UPDATE v_domains SET domain_enabled = %s WHERE lower(domain_name) = %s", (enable, target.tenant)
            )
            extensions = [
                row[0]
                for row in connection.execute(
                    "SELECT e.extension FROM v_extensions e JOIN v_domains d ON d.domain_uuid = e.domain_uuid"
                    " WHERE lower(d.domain_name) = %s ORDER BY e.extension",
                    (target.tenant,),
                ).fetchall()
            ]
        commands = []
        if self.event_socket:
            with self.connect_event_socket() as socket:
                socket.sendevent(
                    "CUSTOM",
                    {"Event-Subclass": "fusion::file", "API-Command": "cache", "API-Command-Argument": "flush"},
                )
                commands.append("cache flush")
                if not enable:
                    for extension in extensions:
                        commands.append(socket_api(socket, self._flush_registration(extension, target.tenant)))
                commands.append(socket_api(socket, "reloadxml"))
        return {"domain": target.tenant, "enabled": enable, "commands": commands}

    def _gateway(self, target: ServiceTarget, enable: bool) -> dict[str, Any]:
        value = "true" if enable else "false"
        with self.database.connect(read_only=False) as connection:
            domain_uuid = self._domain_uuid(connection, target.tenant)
            gateways = connection.execute(
                f"UPDATE v_gateways SET enabled = '{value}' WHERE domain_uuid = %s"
                " RETURNING gateway_uuid::text, coalesce(profile, 'external')",
                (domain_uuid,),
            ).fetchall()
        gateways = sorted(gateways)
        commands = []
        if self.event_socket and gateways:
            with self.connect_event_socket() as socket:
                commands.append(self._cache_delete(socket, "configuration:sofia.conf"))
                for gateway_uuid, profile in gateways:
                    if not enable:
                        commands.append(socket_api(socket, f"sofia profile {profile} killgw {gateway_uuid}"))
                for profile in sorted({profile for _, profile in gateways}):
                    commands.append(socket_api(socket, f"sofia profile {profile} rescan"))
                if enable:
                    for gateway_uuid, profile in gateways:
                        commands.append(socket_api(socket, f"sofia profile {profile} startgw {gateway_uuid}"))
        return {"gateways": [gateway for gateway, _ in gateways], "enabled": enable, "commands": commands}

    def _flush_registration(self, extension: str, tenant: str) -> str:
        return f"sofia profile {self.sip_profile} flush_inbound_reg {extension}@{tenant} reboot"

    def _cache_delete(self, socket: EventSocket, key: str) -> str:
        full_key = f"{self.switch_hostname}:{key}" if self.switch_hostname else key
        socket.sendevent(
            "CUSTOM",
            {"Event-Subclass": "fusion::file", "API-Command": "cache", "API-Command-Argument": f"delete {full_key}"},
        )
        return f"cache delete {full_key}"

    def connect_event_socket(self) -> EventSocket:
        """A connection to the PBX's event socket (opened by `with`)."""
        assert self.event_socket is not None
        return EventSocket(
            self.event_socket["host"],
            int(self.event_socket.get("port", 8021)),
            str(self.event_socket.get("password", "ClueCon")),
            timeout_seconds=self.timeout_seconds,
        )


def socket_api(socket: EventSocket, command: str) -> str:
    """Run an api command and return it (for the action log)."""
    socket.api(command)
    return command
