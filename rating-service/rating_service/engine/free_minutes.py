"""Free-minute pools: split a pool's remaining seconds over new calls in call-start order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PoolClaim:
    """A call asking the pool for its billed seconds."""

    cdr_id: str
    start: float
    billed_seconds: int


def allocate(pool_seconds: int, used_seconds: int, claims: list[PoolClaim]) -> dict[str, int]:
    """Give each claim, earliest start first, as many seconds as remain; a call may be partly covered."""
    remaining = max(pool_seconds - used_seconds, 0)
    granted: dict[str, int] = {}
    for claim in sorted(claims, key=lambda claim: (claim.start, claim.cdr_id)):
        seconds = min(remaining, claim.billed_seconds)
        granted[claim.cdr_id] = seconds
        remaining -= seconds
    return granted
