"""A minimal FreeSWITCH inbound event socket client: auth handshake, `api` commands, `sendevent`."""

from __future__ import annotations

import contextlib
import socket
from types import TracebackType

from tollgate_common.errors import UpstreamError


class EventSocketError(UpstreamError):
    """The event socket refused us, closed on us, or answered an error."""


class EventSocket:
    """One authenticated connection to a FreeSWITCH event socket (FusionPBX's `event_socket.php`)."""

    def __init__(self, host: str, port: int, password: str, *, timeout_seconds: float = 10.0):
        self.host = host
        self.port = port
        self.password = password
        self.timeout_seconds = timeout_seconds
        self._socket: socket.socket | None = None
        self._buffer = b""

    def __enter__(self) -> EventSocket:
        self.connect()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def connect(self) -> None:
        """Open the TCP connection and authenticate (`auth/request` → `auth <password>` → `+OK accepted`)."""
        where = f"{self.host}:{self.port}"
        try:
            self._socket = socket.create_connection((self.host, self.port), timeout=self.timeout_seconds)
        except OSError as exc:
            raise EventSocketError(f"event socket {where} unreachable: {exc.strerror or exc}") from None
        headers, _ = self._read_message()
        if headers.get("Content-Type") != "auth/request":
            raise EventSocketError(f"event socket {where} did not ask for auth (got {headers.get('Content-Type')!r})")
        reply, _ = self._command(f"auth {self.password}")
        if not reply.get("Reply-Text", "").startswith("+OK"):
            raise EventSocketError(f"event socket {where} refused the password")

    def api(self, command: str) -> str:
        """Run `api <command>` and return its body; a `-ERR` body raises."""
        _, body = self._command(f"api {command}")
        if body.startswith("-ERR"):
            raise EventSocketError(f"event socket `{command}` failed: {body.strip()}")
        return body

    def sendevent(self, name: str, headers: dict[str, str]) -> str:
        """Send a `sendevent <name>` block with `headers`; return the reply text."""
        lines = [f"sendevent {name}", *(f"{key}: {value}" for key, value in headers.items())]
        reply, _ = self._command("\n".join(lines))
        text = reply.get("Reply-Text", "")
        if not text.startswith("+OK"):
            raise EventSocketError(f"event socket sendevent {name} failed: {text}")
        return text

    def close(self) -> None:
        """Say `exit` and close the connection (errors on a dead socket are ignored)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.sendall(b"exit\n\n")
            self._socket.close()
            self._socket = None

    def _command(self, text: str) -> tuple[dict[str, str], str]:
        if self._socket is None:
            raise EventSocketError("event socket is not connected")
        try:
            self._socket.sendall(text.encode() + b"\n\n")
        except OSError as exc:
            raise EventSocketError(f"event socket closed while sending: {exc}") from None
        return self._read_message()

    def _read_message(self) -> tuple[dict[str, str], str]:
        """Read headers up to a blank line, then a Content-Length body."""
        while b"\n\n" not in self._buffer:
            self._fill()
        head, self._buffer = self._buffer.split(b"\n\n", 1)
        headers = {}
        for line in head.decode("utf-8", "replace").splitlines():
            name, _, value = line.partition(": ")
            headers[name.strip()] = value.strip()
        length = int(headers.get("Content-Length", "0") or 0)
        while len(self._buffer) < length:
            self._fill()
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return headers, body.decode("utf-8", "replace")

    def _fill(self) -> None:
        assert self._socket is not None
        try:
            chunk = self._socket.recv(65536)
        except OSError as exc:
            raise EventSocketError(f"event socket read failed: {exc}") from None
        if not chunk:
            raise EventSocketError(f"event socket {self.host}:{self.port} closed the connection")
        self._buffer += chunk
