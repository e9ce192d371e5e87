"""Decide whether a URL that came from WHMCS data may be fetched: HTTPS, allowed hosts, public addresses only."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from tollgate_common.errors import InvalidInput

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class UnsafeUrl(InvalidInput):
    """The URL points somewhere we must not fetch (plain HTTP, a host not allowed, a private address)."""


def parse_hosts(text: str) -> frozenset[str]:
    """Parse a comma-separated host list into lower-case names."""
    return frozenset(host.strip().lower().rstrip(".") for host in text.split(",") if host.strip())


def is_loopback(host: str) -> bool:
    """Say whether `host` names this machine (`localhost` or a loopback address)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(
    url: str, allowed_hosts: frozenset[str], *, allow_http_loopback: bool = False, resolve: bool = True
) -> str:
    """Return `url` if it may be fetched, else raise UnsafeUrl saying why.

    Production rule: `https`, a host on the allow-list, and every address it resolves to public
    (never loopback, private, link-local, reserved or multicast). `allow_http_loopback` (dev/test only)
    admits `http://127.0.0.1:<port>/...` so the simulator can be used.
    """
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UnsafeUrl(f"{url!r} has no host")
    if allow_http_loopback and parts.scheme in ("http", "https") and is_loopback(host):
        return url
    if parts.scheme != "https":
        raise UnsafeUrl(f"{url!r} is not HTTPS")
    if host not in allowed_hosts:
        raise UnsafeUrl(f"host {host!r} is not in the allowed hosts {sorted(allowed_hosts)}")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else (resolved(host, parts.port or 443) if resolve else [])
    for address in addresses:
        if not address.is_global or address.is_multicast:
            raise UnsafeUrl(f"host {host!r} resolves to the non-public address {address}")
    return url


def resolved(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Every address `host` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"host {host!r} does not resolve: {exc.strerror}") from None
    return [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
