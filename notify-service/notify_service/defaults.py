"""Default email templates (in Tollgate's own words) and the notify service's tunable constants."""

from __future__ import annotations

from dataclasses import dataclass

CLAIM_LEASE_SECONDS = 600
"""How long a worker owns a message while delivering it; after that another attempt may take it over."""

BACKOFF_BASE_SECONDS = 30
"""First retry delay; each later retry waits twice as long as the one before."""

MAX_ATTEMPTS = 8
"""Delivery attempts before a message stays `failed` for an admin to look at (about an hour with the base)."""

RECIPIENT_CLIENT = "client"
RECIPIENT_ADMIN = "admin"


@dataclass(frozen=True)
class DefaultTemplate:
    """A template the service ships with; an operator's PUT replaces it."""

    name: str
    subject: str
    text: str
    html: str | None = None
    recipient: str = RECIPIENT_CLIENT


LOW_BALANCE_ALERT = DefaultTemplate(
    name="Low Balance Alert",
    subject="Your VoIP credit is running low (account {$client_id})",
    text="""Hello {$client_first_name},

The credit on your account {$client_id} is down to {$client_credit}.
{if $client_custom_field_lowbalancethreshold}You asked to be warned at {$client_custom_field_lowbalancethreshold}.
{/if}
Calls are paid from this credit, so please top up soon to keep your phones working.
{if $voip_services}
Usage this period:
{foreach $voip_services as $service}  - {$service.product} (service {$service.service_id}):\
 {$service.usage_current_period}
{/foreach}{/if}
If you would rather not receive these reminders, just reply and let us know.
""",
    html="""<p>Hello {$client_first_name},</p>
<p>The credit on your account {$client_id} is down to <strong>{$client_credit}</strong>.
{if $client_custom_field_lowbalancethreshold}You asked us to warn you when it reaches
{$client_custom_field_lowbalancethreshold}.{/if}</p>
<p>Calls are paid from this credit, so please top up soon to keep your phones working.</p>
{if $voip_services}<table>
<tr><th>Service</th><th>Usage this period</th></tr>
{foreach $voip_services as $service}<tr><td>{$service.product} ({$service.service_id})</td>
<td>{$service.usage_current_period}</td></tr>
{/foreach}</table>{/if}
<p>If you would rather not receive these reminders, just reply and let us know.</p>
""",
)

ZERO_BALANCE = DefaultTemplate(
    name="VoIP Zero Balance",
    subject="Outgoing calls paused on account {$client_id}",
    text="""Hello {$client_name},

We have paused outgoing calls on your VoIP service because the account no longer has enough credit.

  Credit balance:       {$client_credit}
  Unpaid invoices:      {$client_due_invoices_balance}
{if $client_custom_field_lowbalancethreshold}  Low balance warning:  {$client_custom_field_lowbalancethreshold}
{/if}
Service resumes automatically, usually within a minute, once your credit is above zero and
no invoice is left unpaid. If you cannot top up right now, contact us and we will help.
""",
    html="""<p>Hello {$client_name},</p>
<p>We have paused outgoing calls on your VoIP service because the account no longer has enough credit.</p>
<table>
<tr><td>Credit balance</td><td>{$client_credit}</td></tr>
<tr><td>Unpaid invoices</td><td>{$client_due_invoices_balance}</td></tr>
{if $client_custom_field_lowbalancethreshold}<tr><td>Low balance warning</td>
<td>{$client_custom_field_lowbalancethreshold}</td></tr>{/if}
</table>
<p>Service resumes automatically, usually within a minute, once your credit is above zero and
no invoice is left unpaid. If you cannot top up right now, contact us and we will help.</p>
""",
)

SERVICE_RESTORED = DefaultTemplate(
    name="VoIP Service Restored",
    subject="Calling is back on account {$client_id}",
    text="""Hello {$client_first_name},

Thank you for your payment. Your VoIP service can make calls again.

Your credit balance is now {$client_credit}.
""",
    html="""<p>Hello {$client_first_name},</p>
<p>Thank you for your payment. Your VoIP service can make calls again.</p>
<p>Your credit balance is now <strong>{$client_credit}</strong>.</p>
""",
)

MANUAL_ACTION = DefaultTemplate(
    name="VoIP Manual Action",
    subject="Manual PBX action needed: {$task_action} service {$task_service_id}",
    text="""A PBX action could not be done automatically and needs you.

  Task:      {$task_id}
  Action:    {$task_action}
  Service:   {$task_service_id}
  Server:    {$task_server}
  Client:    {$client_name} (#{$client_id}, {$client_email})
  Credit:    {$client_credit}
{if $task_details}
{$task_details}
{/if}
Mark the task done in Tollgate once the change is made on the PBX.
""",
    recipient=RECIPIENT_ADMIN,
)

DEFAULT_TEMPLATES = {
    template.name: template for template in (LOW_BALANCE_ALERT, ZERO_BALANCE, SERVICE_RESTORED, MANUAL_ACTION)
}
