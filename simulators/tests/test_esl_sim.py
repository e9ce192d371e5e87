"""Fake event socket: handshake, api replies, sendevent recording and failure modes over real TCP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tollgate_sim.esl import MODE_DROP_ON_COMMAND, MODE_DROP_ON_CONNECT, MODE_REFUSE_AUTH, EventSocketServer

CACHE_DELETE_EVENT = (
    "sendevent CUSTOM\n"
    "Event-Subclass: fusion::file\n"
    "API-Command: cache\n"
    "API-Command-Argument: delete pbx1.directory.101@acme.pbx.example\n\n"
)


class EslClient:
    """A minimal blocking ESL client, reading replies the way FusionPBX's event_socket class does."""

    def __init__(self, port: int) -> None:
        self.connection = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.reader = self.connection.makefile("rb")

    def read_reply(self) -> tuple[dict[str, str], str] | None:
        """Read a header block and its Content-Length body; None when the server closed the socket."""
        headers: dict[str, str] = {}
        while True:
            line = self.reader.readline()
            if not line:
                return None
            line = line.decode().rstrip("\n")
            if not line:
                break
            name, _, value = line.partition(": ")
            headers[name] = value
        length = int(headers.get("Content-Length", "0"))
        return headers, self.reader.read(length).decode()

    def send(self, text: str) -> tuple[dict[str, str], str] | None:
        """Send a raw command block and read the reply."""
        self.connection.sendall(text.encode())
        return self.read_reply()

    def close(self) -> None:
        """Close the socket."""
        self.reader.close()
        self.connection.close()


@pytest.fixture
def esl_server() -> Iterator[EventSocketServer]:
    """A started fake event socket on a free port."""
    with EventSocketServer(password="s3cret") as server:
        yield server


def connect_and_auth(port: int, password: str = "s3cret") -> tuple[EslClient, tuple | None, tuple | None]:
    """Connect, read the auth request, send `auth <password>`; return the client and both replies."""
    client = EslClient(port)
    greeting = client.read_reply()
    return client, greeting, client.send(f"auth {password}\n\n")


def test_handshake_then_api_reloadxml(esl_server):
    """The server asks for auth, accepts the password, and answers reloadxml with a sized api/response."""
    client, greeting, auth_reply = connect_and_auth(esl_server.port)
    reply = client.send("api reloadxml\n\n")
    client.close()

    assert greeting == ({"Content-Type": "auth/request"}, "")
    assert auth_reply == ({"Content-Type": "command/reply", "Reply-Text": "+OK accepted"}, "")
    assert reply == ({"Content-Type": "api/response", "Content-Length": "14"}, "+OK [Success]\n")


@pytest.mark.parametrize(
    ("command", "body"),
    [
        ("sofia profile external rescan", "+OK scan complete\n"),
        ("sofia profile external killgw 0a9e4f5e-1111-4d5c-9b7a-1234567890ab", "+OK gateway marked for deletion.\n"),
        ("sofia profile external startgw 0a9e4f5e-1111-4d5c-9b7a-1234567890ab", "+OK\n"),
        ("sofia profile internal flush_inbound_reg 101@acme.pbx.example reboot", "+OK\n"),
        ("memcache delete directory:101@acme.pbx.example", "+OK\n"),
        ("no_such_command now", "-ERR no_such_command Command not found!\n"),
    ],
)
def test_api_commands_get_freeswitch_style_bodies(esl_server, command, body):
    """Each gateway and registration command FusionPBX sends gets FreeSWITCH's reply body."""
    client, _, _ = connect_and_auth(esl_server.port)
    headers, reply_body = client.send(f"api {command}\n\n")
    client.close()

    assert headers["Content-Type"] == "api/response"
    assert reply_body == body


def test_commands_and_sendevent_headers_are_recorded(esl_server):
    """Every command is recorded in order, a cache-delete event with its headers."""
    client, _, _ = connect_and_auth(esl_server.port)
    client.send("api sofia profile external rescan\n\n")
    event_reply = client.send(CACHE_DELETE_EVENT)
    client.close()

    assert event_reply[0]["Reply-Text"].startswith("+OK ")
    assert esl_server.commands == ["auth s3cret", "api sofia profile external rescan", CACHE_DELETE_EVENT.strip()]
    assert esl_server.api_commands() == ["sofia profile external rescan"]
    assert esl_server.events == [
        {
            "Event-Name": "CUSTOM",
            "Event-Subclass": "fusion::file",
            "API-Command": "cache",
            "API-Command-Argument": "delete pbx1.directory.101@acme.pbx.example",
        }
    ]


def test_custom_api_response_overrides_default(esl_server):
    """A test can script the body of a given api command."""
    esl_server.set_api_response(r"reloadxml$", "-ERR [Reload failed]\n")
    client, _, _ = connect_and_auth(esl_server.port)
    _, body = client.send("api reloadxml\n\n")
    client.close()

    assert body == "-ERR [Reload failed]\n"


def test_wrong_password_is_rejected_and_connection_closed(esl_server):
    """A wrong password gets `-ERR invalid`, then the server hangs up before any api command runs."""
    client, _, auth_reply = connect_and_auth(esl_server.port, password="ClueCon")

    assert auth_reply == ({"Content-Type": "command/reply", "Reply-Text": "-ERR invalid"}, "")
    assert client.read_reply() is None
    client.close()


def test_refuse_auth_mode_rejects_the_right_password(esl_server):
    """In refuse_auth mode even the configured password is refused."""
    esl_server.mode = MODE_REFUSE_AUTH
    client, _, auth_reply = connect_and_auth(esl_server.port)
    client.close()

    assert auth_reply[0]["Reply-Text"] == "-ERR invalid"


def test_drop_modes_close_the_connection(esl_server):
    """drop_on_connect hangs up before the greeting; drop_on_command hangs up instead of answering."""
    esl_server.mode = MODE_DROP_ON_CONNECT
    dropped_at_once = EslClient(esl_server.port)
    assert dropped_at_once.read_reply() is None
    dropped_at_once.close()

    esl_server.mode = MODE_DROP_ON_COMMAND
    client, _, auth_reply = connect_and_auth(esl_server.port)
    assert auth_reply[0]["Reply-Text"] == "+OK accepted"
    assert client.send("api reloadxml\n\n") is None
    client.close()


def test_stopped_server_is_unreachable_until_restarted():
    """After stop() connecting is refused, as with a FreeSWITCH that is down; start() brings it back on its port."""
    server = EventSocketServer(password="s3cret")
    port = server.start()
    server.stop()

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    assert server.start() == port
    client, _, auth_reply = connect_and_auth(port)
    client.close()
    server.stop()
    assert auth_reply[0]["Reply-Text"] == "+OK accepted"


def test_crlf_clients_are_understood(esl_server):
    """Commands ended with CRLF, as some ESL libraries send them, are parsed like LF ones."""
    client, _, _ = connect_and_auth(esl_server.port)
    _, body = client.send("api reloadxml\r\n\r\n")
    client.close()

    assert body == "+OK [Success]\n"
