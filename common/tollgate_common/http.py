"""HTTP client for calling another Tollgate service: timeouts, safe retries, token and request id."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .errors import ERROR_BY_CODE, HTTP_STATUS, TollgateError, Unavailable, UpstreamError
from .logs import REQUEST_ID_HEADER, current_request_id

INTERNAL_TOKEN_HEADER = "X-Internal-Token"
ERROR_BY_STATUS = {status: cls for cls, status in reversed(HTTP_STATUS.items()) if 400 <= status < 500}
"""A peer's own error code we do not know still keeps its meaning: its 409 stays a conflict, not a 502."""

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
"""Only these are retried: repeating a POST could do its work twice."""


class ServiceClient:
    """Calls one peer service; a peer's error envelope comes back as the matching TollgateError."""

    def __init__(
        self,
        name: str,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.2,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.session = requests.Session()
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=(502, 503, 504),
            allowed_methods=IDEMPOTENT_METHODS,
            raise_on_status=False,
        )
        adapter = HTTPAdapter(max_retries=retry, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def headers(self) -> dict[str, str]:
        headers = {INTERNAL_TOKEN_HEADER: self.token}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        return headers

    def request(self, method: str, path: str, *, timeout: float | None = None, **kwargs: Any) -> requests.Response:
        """Send a request and return the raw response; connection failures raise Unavailable."""
        headers = {**self.headers(), **kwargs.pop("headers", {})}
        try:
            return self.session.request(
                method, self.base_url + path, headers=headers, timeout=timeout or self.timeout, **kwargs
            )
        except requests.RequestException as exc:
            raise Unavailable(f"{self.name} unreachable at {self.base_url}: {exc.__class__.__name__}") from exc

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON body, raising the peer's error as our own."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise self._error_from(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(f"{self.name} answered {method} {path} with a non-JSON body") from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.call("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.call("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)

    def _error_from(self, response: requests.Response) -> TollgateError:
        try:
            body = response.json()["error"]
            error_cls = ERROR_BY_CODE.get(body.get("code")) or ERROR_BY_STATUS.get(response.status_code, UpstreamError)
            error = error_cls(f"{self.name}: {body.get('message')}", body.get("details") or {})
        except (ValueError, KeyError, TypeError):
            error = UpstreamError(f"{self.name} answered HTTP {response.status_code}")
        error.status = response.status_code
        return error
