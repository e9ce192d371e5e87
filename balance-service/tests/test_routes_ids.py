"""Ids beyond what an integer column holds are simply not found (404), never a database error."""

import pytest

HUGE = 102896176680556183552


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", f"/v1/clients/{HUGE}", None),
        ("get", "/v1/runs/2147483648", None),
        ("get", "/v1/runs/2147483648/charges", None),
        ("post", "/v1/postings/29709219980708/resolve", {"outcome": "posted"}),
    ],
)
def test_impossible_ids_are_not_found(client, method, path, body):
    """A client, run or posting id past 2^31-1 answers the 404 envelope."""
    response = getattr(client, method)(path, json=body)
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"].endswith("not_found")
