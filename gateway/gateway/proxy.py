"""Forward a request to its owning service, streaming the answer back unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

import requests
from flask import Response, g, request, stream_with_context

from tollgate_common.errors import Unavailable
from tollgate_common.http import INTERNAL_TOKEN_HEADER
from tollgate_common.logs import REQUEST_ID_HEADER
from tollgate_common.service import settings

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",
    }
)
"""Headers that belong to one connection (or to the caller's credentials) and are not forwarded."""

NOT_FORWARDED = HOP_BY_HOP | {"content-length"}
"""requests sets the length itself from the sized body stream below."""

NOT_RETURNED = HOP_BY_HOP | {"content-length", "content-encoding"}
"""The body is re-streamed decoded, so its length and encoding headers are recomputed."""

STREAM_CHUNK_BYTES = 64 * 1024

_session = requests.Session()


class SizedStream:
    """The incoming body as a file of known length, so a large upload streams through with its
    Content-Length instead of being read into memory or re-sent chunked."""

    def __init__(self, stream: BinaryIO, length: int):
        self.stream = stream
        self.length = length

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        return self.stream.read(size)


def forward(service: str) -> Response:
    """Send the current request to `service` and return its status, headers and body as they come."""
    base_url = settings().service_urls()[service]
    headers = {name: value for name, value in request.headers.items() if name.lower() not in NOT_FORWARDED}
    headers[INTERNAL_TOKEN_HEADER] = settings().internal_token
    headers[REQUEST_ID_HEADER] = g.request_id
    try:
        upstream = _session.request(
            request.method,
            base_url + request.path,
            params=request.query_string,
            data=SizedStream(request.stream, request.content_length) if request.content_length else request.get_data(),
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(5, settings().proxy_timeout_seconds),
        )
    except requests.RequestException as exc:
        raise Unavailable(f"{service}-service unreachable: {exc.__class__.__name__}", {"service": service}) from None

    def body() -> Iterator[bytes]:
        try:
            yield from upstream.raw.stream(STREAM_CHUNK_BYTES, decode_content=True)
        finally:
            upstream.close()

    response_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in NOT_RETURNED]
    response = Response(stream_with_context(body()), status=upstream.status_code, headers=response_headers)
    response.headers[REQUEST_ID_HEADER] = g.request_id
    return response
