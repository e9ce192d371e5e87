"""RQ jobs of the `notify` queue."""

from __future__ import annotations

from typing import Any

from rq import Retry, get_current_job

from tollgate_common.errors import InvalidInput
from tollgate_common.service import get_db, settings

from .outbox import build_notifier


class DeliveryFailed(Exception):
    """Raised when a message has failed for good, so RQ lists the job as failed too."""


def send(key: str, template: str, client_id: int | None, extra: dict[str, Any] | None = None) -> Any:
    """Send template `template` to client `client_id` once per `key`; retry failures with exponential backoff."""
    notifier = build_notifier(settings(), get_db())
    try:
        outcome = notifier.send(key, template, client_id, extra or {})
    except InvalidInput:
        stop_retries()
        raise
    if outcome.retry_in_seconds is not None:
        # Returning Retry lets this job choose its own backoff, whatever retry policy its producer set.
        return Retry(max=notifier.max_attempts, interval=outcome.retry_in_seconds)
    if outcome.status == "failed":
        stop_retries()
        raise DeliveryFailed(f"{key}: {outcome.error} (after {outcome.attempts} attempt(s))")
    return outcome.as_dict()


def stop_retries() -> None:
    """Keep the producer's retry policy from re-running a job whose failure retrying cannot fix."""
    job = get_current_job()
    if job is not None:
        job.retries_left = None
