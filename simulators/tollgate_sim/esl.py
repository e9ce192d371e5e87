"""Fake FreeSWITCH event socket (inbound ESL) that records what FusionPBX-style clients send (integrations.md §1.4).

Protocol: on connect the server sends `Content-Type: auth/request`; a client command is one line
plus optional header lines, ended by a blank line. `auth <password>` is answered with a
`command/reply` (`+OK accepted`, or `-ERR invalid` followed by a close); `api <cmd>` with an
`api/response` whose body length is in `Content-Length`; `sendevent <name>` plus headers with a
`command/reply` `+OK <event uuid>`. Reply bodies follow FreeSWITCH conventions (unconfirmed).
"""

from __future__ import annotations

import contextlib
import re
import socket
import socketserver
import threading
import uuid
from typing import BinaryIO

MODE_NORMAL = "normal"
MODE_REFUSE_AUTH = "refuse_auth"
MODE_DROP_ON_CONNECT = "drop_on_connect"
MODE_DROP_ON_COMMAND = "drop_on_command"
MODES = (MODE_NORMAL, MODE_REFUSE_AUTH, MODE_DROP_ON_CONNECT, MODE_DROP_ON_COMMAND)

# (pattern on the api command, response body); the first match wins.
DEFAULT_API_RESPONSES: list[tuple[str, str]] = [
    (r"reloadxml$", "+OK [Success]\n"),
    (r"sofia profile \S+ rescan", "+OK scan complete\n"),
    (r"sofia profile \S+ killgw \S+$", "+OK gateway marked for deletion.\n"),
    (r"sofia profile \S+ startgw \S+$", "+OK\n"),
    (r"sofia profile \S+ flush_inbound_reg \S+", "+OK\n"),
    # FusionPBX before the file cache used mod_memcache for the same cache deletes.
    (r"memcache (delete|flush)", "+OK\n"),
    (r"status$", "UP 0 years, 0 days, 1 hour, 2 minutes, 3 seconds\nFreeSWITCH (Version 1.10.12) is ready\n"),
]
# How often the accept loop checks for stop(); short, so tests that stop servers stay fast.
SHUTDOWN_POLL_SECONDS = 0.05
DISCONNECT_NOTICE = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"


class EventSocketServer:
    """A threaded TCP event socket that answers like FreeSWITCH and records every command it receives.

    `commands` holds each command as sent: `auth <password>`, `api <cmd>`, or for `sendevent` the
    command line and its header lines joined by newlines. `mode` (changeable while running)
    simulates failures: refuse every password, drop the connection at once, or drop it on the
    first command after auth. A stopped server is unreachable (connection refused).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, password: str = "ClueCon", mode: str = MODE_NORMAL):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        self.host = host
        self.port = port
        self.password = password
        self.mode = mode
        self.commands: list[str] = []
        self.events: list[dict[str, str]] = []
        self.api_responses = list(DEFAULT_API_RESPONSES)
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    def start(self) -> int:
        """Listen and serve in a background thread; return the bound port."""
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                owner._serve_connection(self.request, self.rfile)

        server = socketserver.ThreadingTCPServer((self.host, self.port), Handler, bind_and_activate=False)
        server.daemon_threads = True
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name="fake-esl", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        """Stop listening and close open connections, so the socket becomes unreachable."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for connection in list(self._connections):
                _close_quietly(connection)
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

    def api_commands(self) -> list[str]:
        """The `api` commands received, without the `api ` prefix, in order."""
        with self._lock:
            return [command[4:] for command in self.commands if command.startswith("api ")]

    def set_api_response(self, pattern: str, body: str) -> None:
        """Answer api commands matching the regex `pattern` with `body` (checked before the defaults)."""
        self.api_responses.insert(0, (pattern, body))

    def clear(self) -> None:
        """Forget the recorded commands and events."""
        with self._lock:
            self.commands.clear()
            self.events.clear()

    def __enter__(self) -> EventSocketServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _serve_connection(self, connection: socket.socket, reader: BinaryIO) -> None:
        with self._lock:
            self._connections.add(connection)
        try:
            if self.mode == MODE_DROP_ON_CONNECT:
                return
            _send(connection, "Content-Type: auth/request\n\n")
            authenticated = False
            while (message := _read_message(reader)) is not None:
                command, headers, body = message
                self._record(command, headers)
                if not authenticated:
                    authenticated = self._authenticate(connection, command)
                    if not authenticated:
                        return
                    continue
                if self.mode == MODE_DROP_ON_COMMAND:
                    return
                if not self._answer(connection, command, headers, body):
                    return
        except OSError:
            # The peer (or stop()) closed the socket mid-conversation; nothing is left to answer.
            return
        finally:
            with self._lock:
                self._connections.discard(connection)

    def _authenticate(self, connection: socket.socket, command: str) -> bool:
        if command == f"auth {self.password}" and self.mode != MODE_REFUSE_AUTH:
            _send(connection, "Content-Type: command/reply\nReply-Text: +OK accepted\n\n")
            return True
        _send(connection, "Content-Type: command/reply\nReply-Text: -ERR invalid\n\n")
        return False

    def _answer(self, connection: socket.socket, command: str, headers: dict[str, str], body: str) -> bool:
        """Reply to one authenticated command; return False when the connection should close."""
        verb, _, argument = command.partition(" ")
        if verb == "api":
            response = self._api_response(argument)
            _send(connection, f"Content-Type: api/response\nContent-Length: {len(response.encode())}\n\n{response}")
        elif verb == "sendevent":
            with self._lock:
                self.events.append({"Event-Name": argument, **headers, **({"body": body} if body else {})})
            _send(connection, f"Content-Type: command/reply\nReply-Text: +OK {uuid.uuid4()}\n\n")
        elif verb == "exit":
            _send(connection, "Content-Type: command/reply\nReply-Text: +OK bye\n\n")
            notice = f"Content-Type: text/disconnect-notice\nContent-Length: {len(DISCONNECT_NOTICE)}\n\n"
            _send(connection, notice + DISCONNECT_NOTICE)
            return False
        else:
            _send(connection, "Content-Type: command/reply\nReply-Text: -ERR command not found\n\n")
        return True

    def _api_response(self, argument: str) -> str:
        for pattern, body in self.api_responses:
            if re.match(pattern, argument):
                return body
        return f"-ERR {argument.split(' ', 1)[0]} Command not found!\n"

    def _record(self, command: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.commands.append("\n".join([command, *(f"{name}: {value}" for name, value in headers.items())]))


def _read_message(reader: BinaryIO) -> tuple[str, dict[str, str], str] | None:
    """Read one command: its first line, its header lines up to the blank line, and a Content-Length body."""
    lines: list[str] = []
    while True:
        raw = reader.readline()
        if not raw:
            return None
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if line:
            lines.append(line)
        elif lines:
            break
    command, header_lines = lines[0].strip(), lines[1:]
    headers = dict(line.split(": ", 1) if ": " in line else (line, "") for line in header_lines)
    length = int(headers.get("Content-Length", "0") or 0)
    body = reader.read(length).decode("utf-8", "replace") if length else ""
    return command, headers, body


def _send(connection: socket.socket, text: str) -> None:
    connection.sendall(text.encode())


def _close_quietly(connection: socket.socket) -> None:
    # The peer may have closed it already.
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()
