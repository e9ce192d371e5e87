"""The autosuspend decision of billing-rules §6, as pure functions over WHMCS facts and our own state."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

ACTIVE = "active"
SUSPENDED = "suspended"

BY_BALANCE = "balance"
BY_MANUAL_FIELD = "manual"
BY_FIELD_OVERRIDE = "field"
"""An admin set `VoIP Suspended` = Yes in WHMCS themselves (we only ever write Yes or None)."""


@dataclass(frozen=True)
class ClientFacts:
    """What WHMCS says about a client: its custom fields (raw text) and balances."""

    has_voip: str
    manual_suspend: str
    voip_suspended: str
    credit: Decimal
    outstanding: Decimal


@dataclass(frozen=True)
class ClientState:
    """What Tollgate last decided: `active` or `suspended`, and why."""

    voip_state: str = ACTIVE
    suspended_by: str | None = None
    field_written: str | None = None
    """The `VoIP Suspended` value we last wrote to WHMCS successfully."""


@dataclass(frozen=True)
class Decision:
    """The state a client should be in, and why; `changed` when it differs from the current state."""

    voip_state: str
    suspended_by: str | None
    changed: bool
    reason: str


def is_yes(value: str | None) -> bool:
    """Read a WHMCS yes/no custom field as yes."""
    return (value or "").strip().lower() in {"yes", "on", "1", "true"}


def is_no(value: str | None) -> bool:
    """Read a WHMCS yes/no custom field as an explicit no."""
    return (value or "").strip().lower() in {"no", "off", "0", "false"}


def balance_is_short(credit: Decimal, outstanding: Decimal) -> bool:
    """Suspend when credit is at or below zero, or the client owes more than their credit."""
    return credit <= 0 or outstanding > credit


def balance_is_clear(credit: Decimal, outstanding: Decimal) -> bool:
    """Lift a balance suspension only when credit is positive and nothing is owed."""
    return credit > 0 and outstanding == 0


def decide(facts: ClientFacts, current: ClientState) -> Decision | None:
    """Decide a client's VoIP state; None when autosuspend leaves the client alone (no VoIP service)."""
    if not is_yes(facts.has_voip):
        return None
    if is_yes(facts.manual_suspend):
        return _target(current, SUSPENDED, BY_MANUAL_FIELD, "Manual VoIP Suspend is Yes")
    if is_no(facts.voip_suspended):
        return _target(current, ACTIVE, None, "VoIP Suspended is No: exempt from autosuspend")
    if is_yes(facts.voip_suspended) and _admin_wrote_yes(current):
        return _target(current, SUSPENDED, BY_FIELD_OVERRIDE, "VoIP Suspended set to Yes in WHMCS")
    if balance_is_short(facts.credit, facts.outstanding):
        return _target(current, SUSPENDED, BY_BALANCE, f"credit {facts.credit} with {facts.outstanding} outstanding")
    if balance_is_clear(facts.credit, facts.outstanding):
        return _target(current, ACTIVE, None, f"credit {facts.credit} and nothing outstanding")
    if current.voip_state == SUSPENDED:
        # Between the two thresholds the state holds; a lifted manual flag hands the suspension to the balance.
        return _target(current, SUSPENDED, BY_BALANCE, f"credit {facts.credit} with {facts.outstanding} outstanding")
    return _target(current, ACTIVE, None, "balance between the suspend and lift thresholds")


def _admin_wrote_yes(current: ClientState) -> bool:
    # A Yes we wrote ourselves (perhaps not yet replaced by None after a lift) is not an admin override.
    if current.suspended_by == BY_FIELD_OVERRIDE:
        return True
    return current.voip_state == ACTIVE and not is_yes(current.field_written)


def _target(current: ClientState, state: str, by: str | None, reason: str) -> Decision:
    return Decision(state, by, changed=state != current.voip_state, reason=reason)


def service_suspended(client_state: str, admin_hold: bool) -> bool:
    """A service is suspended while its client is, or while an admin Suspend command holds it."""
    return admin_hold or client_state == SUSPENDED


def field_value_for(voip_state: str) -> str:
    """What we write back to `VoIP Suspended`: Yes while suspended, None when active (never No: that is the admin's)."""
    return "Yes" if voip_state == SUSPENDED else "None"
