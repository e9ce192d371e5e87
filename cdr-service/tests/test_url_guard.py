"""A CDR Link comes from WHMCS data: only HTTPS to allowed hosts with public addresses is ever fetched."""

import pytest

from cdr_service.adapters.lesnet import LesnetAdapter
from cdr_service.adapters.url_guard import UnsafeUrl, check_url

ALLOWED = frozenset({"portal.les.net", "localhost"})


@pytest.mark.smoke
@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/cdr/1_0000.txt",
        "https://10.0.0.1/cdr/1_0000.txt",
        "http://portal.les.net/cdr/1_0000.txt",
        "https://169.254.169.254/latest/meta-data",
        "https://evil.example/cdr/1_0000.txt",
        "http://127.0.0.1:8093/cdr/1_0000.txt",
    ],
)
def test_unsafe_links_are_refused(url):
    """Loopback, private, link-local, unlisted hosts and plain HTTP are refused (the dev setting is off)."""
    with pytest.raises(UnsafeUrl):
        check_url(url, ALLOWED | {"127.0.0.1", "10.0.0.1", "169.254.169.254"})


def test_allowed_name_resolving_to_loopback_is_refused():
    """An allowed host name that resolves to a loopback address is still refused."""
    with pytest.raises(UnsafeUrl, match="non-public"):
        check_url("https://localhost/cdr/1_0000.txt", ALLOWED)


def test_public_allowed_host_passes_the_static_check():
    """HTTPS to an allowed host passes (resolution happens at fetch time)."""
    url = "https://portal.les.net/cdr/11330_0000.txt"
    assert check_url(url, ALLOWED, resolve=False) == url


@pytest.mark.parametrize(
    "link", ["https://127.0.0.1/cdr/1_0000.txt", "https://10.0.0.1/cdr/1_0000.txt", "http://portal.les.net/x.txt"]
)
def test_put_service_refuses_unsafe_link(client, link):
    """PUT /v1/services names the CDR Link field when the link is unsafe."""
    server_id = client.post("/v1/servers", json={"name": "lesnet", "kind": "lesnet"}).json["id"]
    response = client.put(
        "/v1/services/301",
        json={
            "client_id": 1,
            "product_id": 1,
            "server_id": server_id,
            "domain": "D4E3CD2BFC791 | 12046664021",
            "custom_fields": {"CDR Link": link},
        },
    )
    assert response.status_code == 422
    assert "custom_fields.CDR Link" in response.json["error"]["details"]["fields"]


def test_fetch_refuses_before_connecting():
    """The adapter checks the link before any request, so nothing is fetched from a private address."""
    adapter = LesnetAdapter({}, options={"lesnet_allowed_hosts": "portal.les.net,10.0.0.1"})
    with pytest.raises(UnsafeUrl):
        adapter.download("https://10.0.0.1/cdr/1_0000.txt")
