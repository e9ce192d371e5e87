"""Billing increments `F/N`: parsing the notations carriers use and rounding answered time up to them."""

from __future__ import annotations

MAX_INCREMENT_SECONDS = 3600
"""No carrier bills in blocks longer than an hour; a larger value is a typo."""


class IncrementError(ValueError):
    """An increment that is not `I`, `F/N` with whole seconds in range."""


def parse_increment(text: str | int) -> tuple[int, int]:
    """Parse `6`, `60/60` or `30/6` into (first block, step); a single value I means I/I."""
    value = str(text).strip()
    parts = value.split("/")
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() for part in parts):
        raise IncrementError(f"increment {value!r} is not I or F/N in whole seconds (e.g. 6, 60/60, 30/6)")
    first = int(parts[0])
    step = int(parts[-1])
    if step < 1:
        raise IncrementError(f"increment {value!r}: the step must be at least 1 second")
    if first > MAX_INCREMENT_SECONDS or step > MAX_INCREMENT_SECONDS:
        raise IncrementError(f"increment {value!r}: at most {MAX_INCREMENT_SECONDS} seconds")
    return first, step


def format_increment(first: int, step: int) -> str:
    """Write an increment back in the shortest notation that parses to the same value."""
    return str(step) if first == step else f"{first}/{step}"


def billed_seconds(billsec: int, first: int, step: int) -> int:
    """Return 0 for 0 s, F up to F s, else F + ceil((billsec - F) / N) * N (billing-rules §4)."""
    if billsec <= 0:
        return 0
    if billsec <= first:
        return first
    return first - (-(billsec - first) // step) * step
