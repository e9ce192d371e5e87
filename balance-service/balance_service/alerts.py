"""Low-balance alert state (billing-rules §6): alert on crossing, at most daily reminders, re-arm above."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from tollgate_common.money import lenient_decimal

ALERT = "alert"
REMINDER = "reminder"


@dataclass(frozen=True)
class AlertState:
    """`armed` until an alert is sent; `sent_on` is the day of the last alert or reminder."""

    armed: bool = True
    sent_on: dt.date | None = None


@dataclass(frozen=True)
class AlertDecision:
    """What to send now (ALERT, REMINDER or None) and the state to keep."""

    send: str | None
    state: AlertState


def parse_threshold(raw: str | None) -> Decimal | None:
    """Read the `Low Balance Threshold` field; blank means alerts are off."""
    if raw is None or not raw.strip():
        return None
    return lenient_decimal(raw, default=None)


def decide_alert(
    threshold: Decimal | None, credit: Decimal, state: AlertState, today: dt.date, *, reminders: bool
) -> AlertDecision:
    """Decide whether a low-balance email goes out today, and the alert state that follows."""
    if threshold is None:
        return AlertDecision(None, AlertState(armed=True, sent_on=state.sent_on))
    if credit > threshold:
        return AlertDecision(None, AlertState(armed=True, sent_on=state.sent_on))
    if state.armed:
        return AlertDecision(ALERT, AlertState(armed=False, sent_on=today))
    if reminders and (state.sent_on is None or state.sent_on < today):
        return AlertDecision(REMINDER, AlertState(armed=False, sent_on=today))
    return AlertDecision(None, state)
