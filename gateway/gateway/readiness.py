"""The gateway is ready when its own storage is and every service reports ready."""

from __future__ import annotations

from collections.abc import Callable

from tollgate_common.errors import TollgateError
from tollgate_common.http import ServiceClient


class ServiceNotReady(Exception):
    pass


def service_check(name: str, url: str, token: str) -> Callable[[], None]:
    """Build a readiness check that asks `name` for its /readyz and reports its own message."""

    def check() -> None:
        try:
            ServiceClient(name, url, token, timeout=5, retries=0).get("/readyz")
        except TollgateError as error:
            raise ServiceNotReady(error.message.removeprefix(f"{name}: ")) from None

    return check
