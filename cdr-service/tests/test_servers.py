"""Server CRUD: settings validated, credentials sealed at rest and never returned."""

import logging

import pytest
from sqlalchemy import text

FUSIONPBX = {
    "name": "pbx1",
    "kind": "fusionpbx",
    "timezone": "America/Toronto",
    "settings": {
        "db_dsn": "postgresql://fusionpbx:s3cret-pass@10.0.0.5/fusionpbx",
        "event_socket": {"host": "10.0.0.5", "port": 8021, "password": "ClueCon-secret"},
        "suspend_strategy": "gateway",
    },
}


@pytest.mark.smoke
def test_create_server_hides_credentials(client, app, caplog):
    """POST stores the server; neither the response, the database row nor the log holds a credential."""
    caplog.set_level(logging.DEBUG)
    response = client.post("/v1/servers", json=FUSIONPBX)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["credentials_set"] == ["db_dsn", "event_socket.password"]
    assert "s3cret-pass" not in response.get_data(as_text=True)
    assert "ClueCon-secret" not in response.get_data(as_text=True)
    assert body["settings"]["event_socket"] == {"host": "10.0.0.5", "port": 8021}
    listed = client.get("/v1/servers").get_data(as_text=True)
    assert "s3cret-pass" not in listed and "ClueCon-secret" not in listed
    with app.extensions["db"].engine.connect() as connection:
        stored = " ".join(str(value) for value in connection.execute(text("SELECT * FROM servers")).one())
    assert "s3cret-pass" not in stored and "ClueCon-secret" not in stored
    assert "s3cret-pass" not in caplog.text


def test_patch_keeps_credentials_it_does_not_name(client, app):
    """PATCH merges settings; an omitted credential keeps its sealed value."""
    from cdr_service.models import Server
    from cdr_service.servers import full_settings

    server_id = client.post("/v1/servers", json=FUSIONPBX).json["id"]
    response = client.patch(f"/v1/servers/{server_id}", json={"settings": {"suspend_strategy": "domain"}})
    assert response.status_code == 200
    with app.app_context(), app.extensions["db"].session() as session:
        settings = full_settings(session.get(Server, server_id), app.extensions["cdr_secret_box"])
    assert settings["suspend_strategy"] == "domain"
    assert settings["db_dsn"].endswith("@10.0.0.5/fusionpbx")
    assert settings["event_socket"]["password"] == "ClueCon-secret"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "kind": "fusionpbx", "settings": {}}, "settings.db_dsn"),
        (
            {"name": "x", "kind": "fusionpbx", "timezone": "Mars/Base", "settings": {"db_dsn": "postgresql://h/db"}},
            "timezone",
        ),
        (
            {"name": "x", "kind": "fusionpbx", "settings": {"db_dsn": "postgresql://h/d", "suspend_strategy": "x"}},
            "settings.suspend_strategy",
        ),
        ({"name": "x", "kind": "vodia", "settings": {"base_url": "https://v.example"}}, "settings.password"),
        ({"name": "x", "kind": "asterisk", "settings": {}}, "kind"),
    ],
)
def test_bad_settings_name_the_field(client, payload, field):
    """Bad server input is a 422 naming the field."""
    response = client.post("/v1/servers", json=payload)
    assert response.status_code == 422
    assert field in response.json["error"]["details"]["fields"]


def test_duplicate_name_conflicts_and_delete(client):
    """Names are unique; a server without services or CDRs can be deleted."""
    server_id = client.post("/v1/servers", json=FUSIONPBX).json["id"]
    assert client.post("/v1/servers", json=FUSIONPBX).status_code == 409
    assert client.delete(f"/v1/servers/{server_id}").status_code == 204
    assert client.get(f"/v1/servers/{server_id}").status_code == 404


def test_test_route_reports_unreachable_database(client):
    """Testing a server whose database is unreachable answers ok=false with the reason."""
    payload = {**FUSIONPBX, "settings": {"db_dsn": "postgresql://nobody@127.0.0.1:1/fusionpbx"}}
    server_id = client.post("/v1/servers", json=payload).json["id"]
    response = client.post(f"/v1/servers/{server_id}/test")
    assert response.status_code == 200
    assert response.json["ok"] is False
    assert "unreachable" in response.json["message"]
