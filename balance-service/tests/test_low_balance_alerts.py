"""Low-balance alert state: once on crossing, at most one reminder a day, re-armed above the threshold."""

import datetime as dt
from decimal import Decimal

import pytest

from balance_service.alerts import ALERT, REMINDER, AlertState, decide_alert, parse_threshold

pytestmark = pytest.mark.smoke

DAY = dt.date(2026, 11, 25)


def test_blank_threshold_turns_alerts_off():
    """A blank Low Balance Threshold sends nothing, even at zero credit."""
    assert parse_threshold("  ") is None
    assert decide_alert(None, Decimal("0"), AlertState(), DAY, reminders=True).send is None


def test_crossing_sends_one_alert():
    """Credit at the threshold sends the alert once and disarms."""
    first = decide_alert(Decimal("5"), Decimal("5.00"), AlertState(), DAY, reminders=True)
    assert first.send == ALERT and not first.state.armed
    again = decide_alert(Decimal("5"), Decimal("4.00"), first.state, DAY, reminders=True)
    assert again.send is None


def test_reminder_at_most_daily_while_below():
    """The next day below the threshold brings one reminder, not more."""
    state = AlertState(armed=False, sent_on=DAY)
    next_day = decide_alert(Decimal("5"), Decimal("1"), state, DAY + dt.timedelta(days=1), reminders=True)
    assert next_day.send == REMINDER
    same_day = decide_alert(Decimal("5"), Decimal("1"), next_day.state, DAY + dt.timedelta(days=1), reminders=True)
    assert same_day.send is None


def test_reminders_can_be_turned_off():
    """With reminders off, staying below the threshold sends nothing after the first alert."""
    state = AlertState(armed=False, sent_on=DAY)
    assert decide_alert(Decimal("5"), Decimal("1"), state, DAY + dt.timedelta(days=3), reminders=False).send is None


def test_rising_above_rearms():
    """Credit above the threshold re-arms, so the next crossing alerts again."""
    above = decide_alert(Decimal("5"), Decimal("5.01"), AlertState(armed=False, sent_on=DAY), DAY, reminders=True)
    assert above.send is None and above.state.armed
    crossing = decide_alert(Decimal("5"), Decimal("2"), above.state, DAY + dt.timedelta(days=1), reminders=True)
    assert crossing.send == ALERT


def test_threshold_parses_whmcs_text():
    """The threshold field is free text in WHMCS: "10", "10.00" and "$10" all mean 10."""
    assert parse_threshold("10") == parse_threshold("10.00") == parse_threshold("$10") == Decimal("10")
