"""Each autosuspend rule of billing-rules §6 as its own test of the pure decision."""

from decimal import Decimal

import pytest

from balance_service.suspension import (
    ACTIVE,
    BY_BALANCE,
    BY_FIELD_OVERRIDE,
    BY_MANUAL_FIELD,
    SUSPENDED,
    ClientFacts,
    ClientState,
    decide,
    field_value_for,
    service_suspended,
)

pytestmark = pytest.mark.smoke


def facts(credit="10.00", outstanding="0.00", has_voip="Yes", manual="No", voip_suspended="None") -> ClientFacts:
    return ClientFacts(has_voip, manual, voip_suspended, Decimal(credit), Decimal(outstanding))


def test_client_without_voip_is_left_alone():
    """A client whose Has VoIP Service is not Yes gets no decision, even at zero credit."""
    assert decide(facts(credit="0", has_voip="No"), ClientState()) is None
    assert decide(facts(credit="0", has_voip=""), ClientState()) is None


def test_manual_suspend_yes_suspends_whatever_the_balance():
    """Manual VoIP Suspend = Yes suspends a client with plenty of credit."""
    decision = decide(facts(credit="500.00", manual="Yes"), ClientState())
    assert (decision.voip_state, decision.suspended_by, decision.changed) == (SUSPENDED, BY_MANUAL_FIELD, True)


def test_voip_suspended_no_exempts_from_autosuspend():
    """VoIP Suspended = No (set by an admin) keeps a client at zero credit active."""
    decision = decide(facts(credit="0.00", outstanding="50.00", voip_suspended="No"), ClientState())
    assert (decision.voip_state, decision.changed) == (ACTIVE, False)


def test_voip_suspended_no_lifts_an_existing_balance_suspension():
    """An admin setting VoIP Suspended = No lifts the balance suspension we made."""
    decision = decide(facts(credit="0.00", voip_suspended="No"), ClientState(SUSPENDED, BY_BALANCE, "Yes"))
    assert (decision.voip_state, decision.changed) == (ACTIVE, True)


@pytest.mark.parametrize(("credit", "outstanding"), [("0.00", "0.00"), ("-1.00", "0.00"), ("5.00", "5.01")])
def test_short_balance_suspends(credit, outstanding):
    """Credit at or below zero, or more owed than credit, suspends."""
    decision = decide(facts(credit=credit, outstanding=outstanding), ClientState())
    assert (decision.voip_state, decision.suspended_by, decision.changed) == (SUSPENDED, BY_BALANCE, True)


def test_positive_credit_and_nothing_owed_lifts_a_balance_suspension():
    """Credit > 0 with nothing outstanding lifts a balance suspension."""
    decision = decide(facts(credit="0.01"), ClientState(SUSPENDED, BY_BALANCE, "Yes"))
    assert (decision.voip_state, decision.suspended_by, decision.changed) == (ACTIVE, None, True)


@pytest.mark.parametrize("current", [ACTIVE, SUSPENDED])
def test_between_thresholds_the_state_holds(current):
    """Credit 10 with 4 owed neither suspends an active client nor lifts a suspended one."""
    state = ClientState(current, BY_BALANCE if current == SUSPENDED else None, "Yes" if current == SUSPENDED else None)
    decision = decide(facts(credit="10.00", outstanding="4.00"), state)
    assert (decision.voip_state, decision.changed) == (current, False)


def test_equal_outstanding_and_credit_is_not_short():
    """Owing exactly the credit is not 'more than the credit': an active client stays active."""
    decision = decide(facts(credit="5.00", outstanding="5.00"), ClientState())
    assert (decision.voip_state, decision.changed) == (ACTIVE, False)


def test_lifting_manual_flag_with_short_balance_keeps_suspended_by_balance():
    """When Manual VoIP Suspend goes back to No at zero credit, the suspension stays, now owed to the balance."""
    decision = decide(facts(credit="0.00"), ClientState(SUSPENDED, BY_MANUAL_FIELD, "Yes"))
    assert (decision.voip_state, decision.suspended_by, decision.changed) == (SUSPENDED, BY_BALANCE, False)


def test_lifting_manual_flag_with_good_balance_restores():
    """When Manual VoIP Suspend goes back to No and the balance is clear, the client is restored."""
    decision = decide(facts(credit="20.00"), ClientState(SUSPENDED, BY_MANUAL_FIELD, "Yes"))
    assert (decision.voip_state, decision.changed) == (ACTIVE, True)


def test_admin_written_yes_suspends_but_our_own_stale_yes_does_not():
    """VoIP Suspended = Yes typed by an admin suspends; a Yes we wrote and have not yet cleared does not."""
    by_admin = decide(facts(credit="20.00", voip_suspended="Yes"), ClientState(ACTIVE, None, "None"))
    assert (by_admin.voip_state, by_admin.suspended_by) == (SUSPENDED, BY_FIELD_OVERRIDE)
    stale = decide(facts(credit="20.00", voip_suspended="Yes"), ClientState(ACTIVE, None, "Yes"))
    assert (stale.voip_state, stale.changed) == (ACTIVE, False)


def test_field_override_lasts_while_the_field_says_yes():
    """A field-override suspension holds while VoIP Suspended stays Yes and lifts when it is cleared."""
    held = decide(facts(credit="20.00", voip_suspended="Yes"), ClientState(SUSPENDED, BY_FIELD_OVERRIDE, "None"))
    assert (held.voip_state, held.changed) == (SUSPENDED, False)
    lifted = decide(facts(credit="20.00", voip_suspended="None"), ClientState(SUSPENDED, BY_FIELD_OVERRIDE, "None"))
    assert (lifted.voip_state, lifted.changed) == (ACTIVE, True)


def test_admin_hold_keeps_a_service_suspended_whatever_the_client_state():
    """An admin Suspend command holds a service even when its client is active."""
    assert service_suspended(ACTIVE, admin_hold=True)
    assert service_suspended(SUSPENDED, admin_hold=False)
    assert not service_suspended(ACTIVE, admin_hold=False)


def test_write_back_values():
    """We write Yes when suspended and None when active, never No (the admin's exemption)."""
    assert (field_value_for(SUSPENDED), field_value_for(ACTIVE)) == ("Yes", "None")
