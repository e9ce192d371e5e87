"""Request and response schemas of balance_service; money is always a decimal string."""

from marshmallow import INCLUDE, Schema, fields, validate

from .ledger import money_text


class ClientFieldsSchema(Schema):
    has_voip = fields.Integer(allow_none=True, load_default=None, metadata={"description": "WHMCS field id"})
    manual_suspend = fields.Integer(allow_none=True, load_default=None)
    voip_suspended = fields.Integer(allow_none=True, load_default=None)
    low_balance_threshold = fields.Integer(allow_none=True, load_default=None)


class WhmcsSettingsInSchema(Schema):
    url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    identifier = fields.String(required=True, validate=validate.Length(min=1, max=200))
    secret = fields.String(load_default=None, validate=validate.Length(max=200), load_only=True)
    accesskey = fields.String(load_default="", validate=validate.Length(max=200), load_only=True)
    client_fields = fields.Nested(ClientFieldsSchema, load_default=dict)


class WhmcsSettingsOutSchema(Schema):
    url = fields.String()
    identifier = fields.String()
    secret_set = fields.Boolean()
    accesskey_set = fields.Boolean()
    client_fields = fields.Dict(keys=fields.String(), values=fields.Integer(allow_none=True))
    updated_at = fields.DateTime()


class MergeServiceSchema(Schema):
    service_id = fields.Integer()
    product = fields.String()
    usage_current_period = fields.String()


class MergeDataSchema(Schema):
    client_id = fields.Integer()
    first_name = fields.String()
    last_name = fields.String()
    company_name = fields.String()
    email = fields.String()
    credit = fields.String()
    due_invoices_balance = fields.String()
    currency_prefix = fields.String()
    currency_suffix = fields.String()
    custom_fields = fields.Dict(keys=fields.String(), values=fields.String())
    services = fields.List(fields.Nested(MergeServiceSchema))


class RunSchema(Schema):
    id = fields.Integer()
    run_key = fields.String()
    mode = fields.String()
    status = fields.String()
    cutoff = fields.DateTime()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    report = fields.Dict()


class RunListSchema(Schema):
    items = fields.List(fields.Nested(RunSchema))


class RunQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ClientEventSchema(Schema):
    at = fields.DateTime()
    kind = fields.String()
    actor = fields.String()
    reason = fields.String()
    details = fields.Dict()


class ClientViewSchema(Schema):
    client_id = fields.Integer()
    credit = fields.String()
    outstanding = fields.String()
    currency_code = fields.String()
    voip_state = fields.String()
    suspended_by = fields.String(allow_none=True)
    suspended_at = fields.DateTime(allow_none=True)
    synced_at = fields.DateTime(allow_none=True)
    held_services = fields.List(fields.Integer())
    events = fields.List(fields.Nested(ClientEventSchema))


class WhmcsEventSchema(Schema):
    class Meta:
        unknown = INCLUDE

    event = fields.String(required=True)
    client_id = fields.Integer(load_default=None, allow_none=True)
    invoice_id = fields.Integer(load_default=None, allow_none=True)


class EventAcceptedSchema(Schema):
    accepted = fields.Boolean()
    job_id = fields.String(allow_none=True)
    reason = fields.String()


class CommandSchema(Schema):
    reason = fields.String(load_default="admin command", validate=validate.Length(max=500))


class HoldResultSchema(Schema):
    service_id = fields.Integer()
    client_id = fields.Integer()
    held = fields.Boolean()
    pbx_action = fields.String(allow_none=True)


class ResolveSchema(Schema):
    outcome = fields.String(required=True, validate=validate.OneOf(["posted", "not_posted"]))


class ResolvedSchema(Schema):
    posting_id = fields.Integer()
    status = fields.String()
    run_key = fields.String()
    resume_job_id = fields.String()


class ChargeSchema(Schema):
    id = fields.Integer()
    reference = fields.String()
    service_id = fields.Integer()
    client_id = fields.Integer()
    billing_mode = fields.String()
    calls = fields.Integer()
    cdr_ids = fields.List(fields.Raw())
    usage = fields.Function(lambda charge: money_text(charge.usage))
    adjustment = fields.Function(lambda charge: money_text(charge.adjustment))
    carry_in = fields.Function(lambda charge: money_text(charge.carry_in))
    posted_amount = fields.Function(lambda charge: money_text(charge.posted_amount))
    carry_out = fields.Function(lambda charge: money_text(charge.carry_out))


class ChargeListSchema(Schema):
    items = fields.List(fields.Nested(ChargeSchema))
