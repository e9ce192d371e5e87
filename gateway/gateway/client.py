"""A small client of the public gateway API, used by the `tollgate` CLI."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

DONE = {"finished", "failed", "stopped", "canceled"}


class ApiError(Exception):
    """The gateway answered with the error envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.details = status, code, message, details


class GatewayClient:
    def __init__(self, base_url: str, key: str, timeout: float = 600):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"
        self.timeout = timeout

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError):
                raise ApiError(response.status_code, "http_error", response.text[:200], {}) from None
            raise ApiError(response.status_code, error["code"], error["message"], error.get("details") or {})
        content_type = response.headers.get("Content-Type", "")
        return response.json() if "json" in content_type else response.text

    def trigger(self, route: str, **params: Any) -> dict[str, Any]:
        """POST a cron route and return its job report."""
        return self.call("POST", route, params={k: v for k, v in params.items() if v is not None})

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/v1/jobs/{job_id}")

    def wait_for_job(
        self, job_id: str, on_progress: Callable[[dict[str, Any]], None], poll_seconds: float = 0.5
    ) -> dict[str, Any]:
        """Poll a job until it ends, calling `on_progress` with each report."""
        while True:
            report = self.job(job_id)
            on_progress(report)
            if report["status"] in DONE:
                return report
            time.sleep(poll_seconds)

    def upload_tariff(
        self,
        tariff_id: int,
        path: Path,
        mapping: dict[str, str] | None,
        effective_from: str | None,
        on_bytes: Callable[[int, int], None],
    ) -> dict[str, Any]:
        """Stream a tariff CSV to the import route, reporting bytes sent."""
        fields: dict[str, Any] = {"file": (path.name, path.open("rb"), "text/csv")}
        if mapping:
            fields["mapping"] = json.dumps(mapping)
        if effective_from:
            fields["effective_from"] = effective_from
        encoder = MultipartEncoder(fields=fields)
        monitor = MultipartEncoderMonitor(encoder, lambda m: on_bytes(m.bytes_read, m.len))
        return self.call(
            "POST", f"/v1/tariffs/{tariff_id}/import", data=monitor, headers={"Content-Type": monitor.content_type}
        )
