"""RQ jobs of the `notify` queue."""

from __future__ import annotations

from typing import Any

from rq import Retry

from tollgate_common.service import get_db, settings

from .outbox import build_notifier


class DeliveryFailed(Exception):
    """Raised when a message has failed for good, so RQ lists the job as failed too."""


def send(key: str, template: str, client_id: int | None, extra: dict[str, Any] | None = None) -> Any:
    """Send template `template` to client `client_id` once per `key`; retry failures with exponential backoff."""
    notifier = build_notifier(settings(), get_db())
    outcome = notifier.send(key, template, client_id, extra or {})
    if outcome.retry_in_seconds is not None:
        # Returning Retry lets this job choose its own backoff, whatever retry policy its producer set.
        return Retry(max=notifier.max_attempts, interval=outcome.retry_in_seconds)
    if outcome.status == "failed":
        raise DeliveryFailed(f"{key}: {outcome.error} (after {outcome.attempts} attempt(s))")
    return outcome.as_dict()
