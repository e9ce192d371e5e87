"""The service client over real HTTP: token and request id sent, safe retries, peer errors mapped back."""

import pytest
from flask import Flask, jsonify, request

from tollgate_common.errors import Conflict, NotFound, Unavailable, UpstreamError
from tollgate_common.http import ServiceClient
from tollgate_common.logs import bind_request_id
from tollgate_common.testing import serve_app


@pytest.fixture
def peer():
    """A peer service that records calls and fails on demand."""
    app = Flask(__name__)
    app.calls = []

    @app.route("/echo", methods=["GET", "POST", "PUT"])
    def echo():
        app.calls.append((request.method, dict(request.headers)))
        return jsonify(token=request.headers.get("X-Internal-Token"), request_id=request.headers.get("X-Request-ID"))

    @app.route("/flaky", methods=["GET", "POST"])
    def flaky():
        app.calls.append((request.method, {}))
        return ("busy", 503) if len(app.calls) < 3 else jsonify(ok=True)

    @app.get("/missing")
    def missing():
        return jsonify(error={"code": "not_found", "message": "tariff 7 not found", "details": {"id": 7}}), 404

    @app.get("/html")
    def html():
        return "<html>Fatal error</html>", 200

    with serve_app(app) as url:
        yield app, url


@pytest.mark.smoke
def test_sends_token_and_request_id(peer):
    """Each call carries the internal token and the current request id."""
    _, url = peer
    bind_request_id("trace-42")
    body = ServiceClient("peer", url, "t" * 20).get("/echo")
    assert body == {"token": "t" * 20, "request_id": "trace-42"}


def test_retries_idempotent_get(peer):
    """A GET that meets 503 twice is retried and succeeds."""
    app, url = peer
    assert ServiceClient("peer", url, "t" * 20, backoff=0).get("/flaky") == {"ok": True}
    assert len(app.calls) == 3


def test_never_retries_post(peer):
    """A POST that meets 503 is not repeated: it could have done its work."""
    app, url = peer
    with pytest.raises(UpstreamError):
        ServiceClient("peer", url, "t" * 20, backoff=0).post("/flaky")
    assert len(app.calls) == 1


def test_peer_envelope_becomes_same_exception(peer):
    """The peer's 404 envelope comes back as NotFound with its message and details."""
    _, url = peer
    with pytest.raises(NotFound) as caught:
        ServiceClient("rating", url, "t" * 20).get("/missing")
    assert caught.value.message == "rating: tariff 7 not found"
    assert caught.value.details == {"id": 7}


def test_non_json_body_is_upstream_error(peer):
    """An HTML page where JSON was expected is a clear upstream error."""
    _, url = peer
    with pytest.raises(UpstreamError, match="non-JSON"):
        ServiceClient("peer", url, "t" * 20).get("/html")


def test_unreachable_peer_is_unavailable():
    """Nobody listening is Unavailable, naming the peer."""
    with pytest.raises(Unavailable, match="cdr unreachable"):
        ServiceClient("cdr", "http://127.0.0.1:9", "t" * 20, retries=0).get("/x")


def test_unknown_peer_code_keeps_its_status_class(peer):
    """A peer's domain-specific 409 (code we do not know) comes back as a Conflict, not a 502."""
    app, url = peer

    @app.get("/conflict")
    def conflict():
        return jsonify(error={"code": "whmcs_not_configured", "message": "configure WHMCS", "details": {}}), 409

    with pytest.raises(Conflict, match="configure WHMCS"):
        ServiceClient("balance", url, "t" * 20).get("/conflict")
