"""The one error envelope and the table mapping domain errors to statuses."""

import pytest
from flask import Flask
from marshmallow import Schema, fields

from tollgate_common import errors
from tollgate_common.errors import register_error_handlers


class NotFoundTariff(errors.NotFound):
    """A subclass defined by a service, to check the table walks the hierarchy."""


@pytest.fixture
def app():
    app = Flask(__name__)
    register_error_handlers(app)

    class Body(Schema):
        rate = fields.Decimal(required=True)

    @app.get("/raise/<name>")
    def raise_error(name):
        raise {
            "not_found": NotFoundTariff("tariff 9 not found"),
            "invalid": errors.InvalidInput("Prefix: missing on line 3", {"line": 3}),
            "rate_limited": errors.RateLimited("slow down", 12),
            "boom": RuntimeError("secret detail"),
        }[name]

    @app.post("/validate")
    def validate():
        Body().load({})

    return app


@pytest.mark.parametrize(
    ("error_cls", "status"),
    [
        (errors.BadRequest, 400),
        (errors.Unauthorized, 401),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.MethodNotAllowed, 405),
        (errors.Conflict, 409),
        (errors.InvalidInput, 422),
        (errors.UpstreamError, 502),
        (errors.Unavailable, 503),
        (errors.TollgateError, 500),
        (NotFoundTariff, 404),
    ],
)
def test_status_table(error_cls, status):
    """Every domain error (and its subclasses) has one HTTP status."""
    assert errors.status_for(error_cls("x")) == status


@pytest.mark.smoke
def test_domain_error_envelope(app):
    """A domain error becomes the envelope with its code, message and details."""
    response = app.test_client().get("/raise/invalid")
    assert response.status_code == 422
    assert response.json == {
        "error": {"code": "invalid", "message": "Prefix: missing on line 3", "details": {"line": 3}}
    }


def test_rate_limited_sets_retry_after(app):
    """429 carries Retry-After."""
    response = app.test_client().get("/raise/rate_limited")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "12"


def test_unexpected_error_hides_detail(app):
    """An unexpected exception is a 500 envelope that does not leak the exception text."""
    response = app.test_client().get("/raise/boom")
    assert response.status_code == 500
    assert "secret" not in response.get_data(as_text=True)
    assert response.json["error"]["code"] == "internal_error"


def test_validation_error_names_fields(app):
    """Schema validation failures are 422 naming each field."""
    response = app.test_client().post("/validate")
    assert response.status_code == 422
    assert response.json["error"]["details"]["fields"] == {"rate": ["Missing data for required field."]}
    assert "rate" in response.json["error"]["message"]


def test_http_errors_use_the_envelope(app):
    """Flask's own 404 and 405 come out in the same envelope."""
    assert app.test_client().get("/nowhere").json["error"]["code"] == "not_found"
    response = app.test_client().delete("/validate")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]


def test_smorest_argument_errors_name_fields():
    """A body refused by a flask-smorest route is a 422 envelope naming each field."""
    from flask_smorest import Api, Blueprint

    app = Flask(__name__)
    app.config.update(API_TITLE="t", API_VERSION="1", OPENAPI_VERSION="3.0.3")
    api = Api(app)
    register_error_handlers(app)
    bp = Blueprint("probe", __name__)

    class Body(Schema):
        rate = fields.Decimal(required=True)

    @bp.route("/probe", methods=["POST"])
    @bp.arguments(Body)
    def probe(body):
        return {}

    api.register_blueprint(bp)
    response = app.test_client().post("/probe", json={})
    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid"
    assert response.json["error"]["details"]["fields"] == {"rate": ["Missing data for required field."]}


def test_details_with_mixed_keys_serialise(database_url_for, redis_url):
    """Error details keyed by line numbers and names together still come out as the envelope."""
    from tollgate_common.config import ServiceSettings
    from tollgate_common.service import create_service_app
    from tollgate_common.testing import service_config

    settings = ServiceSettings(**service_config(database_url_for("common_errors"), redis_url), service_name="probe")
    app = create_service_app(__name__, settings, title="probe", require_internal_token=False)

    @app.get("/mixed")
    def mixed():
        raise errors.InvalidInput("bad deck", {"lines": {3: "missing rate", "header": "ragged"}})

    response = app.test_client().get("/mixed")
    assert response.status_code == 422
    assert response.json["error"]["details"]["lines"] == {"3": "missing rate", "header": "ragged"}
