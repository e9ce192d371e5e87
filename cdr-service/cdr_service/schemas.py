"""Marshmallow schemas of cdr_service's routes: the request bodies and queries, and what is returned."""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .servers import KINDS, MAX_ID


class Text(fields.String):
    """A string PostgreSQL can store: no NUL characters."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        return text


def id_field(**kwargs):
    """A positive id that fits the database's integer columns."""
    return fields.Integer(validate=validate.Range(min=1, max=MAX_ID), **kwargs)


class ServerCreateSchema(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=120))
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    timezone = Text(load_default="UTC", validate=validate.Length(max=64))
    enabled = fields.Boolean(load_default=True)
    settings = fields.Dict(keys=fields.String(), load_default=dict)


class ServerUpdateSchema(Schema):
    name = Text(validate=validate.Length(min=1, max=120))
    timezone = Text(validate=validate.Length(max=64))
    enabled = fields.Boolean()
    settings = fields.Dict(keys=fields.String())


class ServerSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    kind = fields.String()
    timezone = fields.String()
    enabled = fields.Boolean()
    settings = fields.Dict(metadata={"description": "Settings without credentials."})
    credentials_set = fields.List(fields.String(), metadata={"description": "Which credentials are stored."})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class TestResultSchema(Schema):
    ok = fields.Boolean()
    message = fields.String()


class ServiceUpsertSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    client_id = id_field(required=True)
    product_id = id_field(required=True)
    server_id = id_field(required=True)
    domain = Text(load_default="", validate=validate.Length(max=2000))
    username = Text(load_default="", validate=validate.Length(max=2000))
    custom_fields = fields.Dict(keys=Text(), values=Text(allow_none=True), load_default=dict)
    status = Text(load_default="Active", validate=validate.Length(max=20))
    billing_cycle = Text(load_default="Monthly", validate=validate.Length(max=30))
    next_due_date = fields.Date(allow_none=True, load_default=None)
    timezone = Text(allow_none=True, load_default=None, validate=validate.Length(max=64))


class ServiceSchema(Schema):
    service_id = fields.Integer()
    client_id = fields.Integer()
    product_id = fields.Integer()
    server_id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    suspended = fields.Boolean()
    tenant = fields.String()
    main_did = fields.String(allow_none=True)
    dids = fields.List(fields.String())
    extensions = fields.List(fields.String())
    billed_number = fields.String(allow_none=True)
    cdr_link = fields.String(allow_none=True)
    billing_cycle = fields.String()
    next_due_date = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    terminated_at = fields.DateTime(allow_none=True)


class ServiceSummarySchema(Schema):
    service_id = fields.Integer()
    client_id = fields.Integer()
    product_id = fields.Integer()
    server_id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    suspended = fields.Boolean()


class ServicesQuerySchema(Schema):
    client_id = id_field(load_default=None)
    ids = fields.String(load_default="", metadata={"description": "Comma-separated service ids."})


class CdrListQuerySchema(Schema):
    period = fields.String(load_default="current", metadata={"description": "current, previous or A..B dates."})
    direction = fields.String(load_default=None)
    q = Text(load_default=None, validate=validate.Length(max=40))
    sort = fields.String(load_default="-start")
    page = fields.Integer(load_default=1)
    per_page = fields.Integer(load_default=50)
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class CdrRowSchema(Schema):
    id = fields.Integer()
    start = fields.String()
    start_local = fields.String()
    direction = fields.String()
    extension = fields.String()
    caller = fields.String()
    destination = fields.String()
    number = fields.String()
    status = fields.String()
    billsec = fields.Integer()
    billed_seconds = fields.Integer()
    free_seconds = fields.Integer()
    rate_per_minute = fields.String(allow_none=True)
    cost = fields.String(allow_none=True)
    billable = fields.Boolean()
    reason = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    rated = fields.Boolean()


class TotalsSchema(Schema):
    calls = fields.Integer()
    billed_minutes = fields.String()
    free_minutes = fields.String()
    amount = fields.String()


class PeriodSchema(Schema):
    start = fields.String()
    end = fields.String(metadata={"description": "Exclusive."})
    timezone = fields.String()


class CdrPageSchema(Schema):
    service_id = fields.Integer()
    period = fields.Nested(PeriodSchema)
    page = fields.Integer()
    per_page = fields.Integer()
    pages = fields.Integer()
    totals = fields.Nested(TotalsSchema)
    rows = fields.List(fields.Nested(CdrRowSchema))


class RatesQuerySchema(Schema):
    q = Text(load_default=None, validate=validate.Length(max=100), metadata={"description": "Prefix or description."})
    direction = fields.String(load_default=None, validate=validate.OneOf(("outbound", "inbound")))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=None, validate=validate.Range(min=1, max=1000))


class ValidateQuerySchema(Schema):
    country_code = fields.String(load_default=None, validate=validate.Regexp(r"^\d{1,3}$"))
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=2000))


class ValidationRowSchema(Schema):
    cdr_id = fields.Integer()
    start = fields.String()
    direction = fields.String()
    number = fields.String()
    status = fields.String()
    region = fields.String(allow_none=True)
    fix = fields.String(allow_none=True)


class ValidationReportSchema(Schema):
    service_id = fields.Integer()
    country_code = fields.String()
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    rows = fields.List(fields.Nested(ValidationRowSchema))


class BillableQuerySchema(Schema):
    cutoff = fields.AwareDateTime(required=True, default_timezone=None)


class BillableSchema(Schema):
    service_id = fields.Integer()
    client_id = fields.Integer(allow_none=True)
    product_id = fields.Integer(allow_none=True)
    calls = fields.Integer()
    amount = fields.String()


class ClaimRequestSchema(Schema):
    claim_ref = Text(required=True, validate=validate.Length(min=1, max=160))
    cutoff = fields.AwareDateTime(required=True)


class ClaimSchema(Schema):
    claim_ref = fields.String()
    service_id = fields.Integer()
    cutoff = fields.String()
    cdr_ids = fields.List(fields.String())
    calls = fields.Integer()
    amount = fields.String()
    adjustment = fields.String()


class ReportQuerySchema(Schema):
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)


class ReportRowSchema(Schema):
    service_id = fields.Integer(allow_none=True)
    unrated = fields.Integer()
    quarantined = fields.Integer()


class RerateSchema(Schema):
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)
    service_id = id_field(load_default=None)
    only_unrated = fields.Boolean(load_default=False)


class JobSchema(Schema):
    job_id = fields.String()
    created = fields.Boolean()


class QuarantineQuerySchema(Schema):
    server_id = id_field(load_default=None)
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class QuarantineSchema(Schema):
    id = fields.Integer()
    server_id = fields.Integer()
    source_id = fields.String()
    tenant = fields.String()
    service_id = fields.Integer(allow_none=True)
    reason = fields.String()
    raw = fields.Dict()
    created_at = fields.DateTime()


class PbxActionSchema(Schema):
    id = fields.Integer()
    action_ref = fields.String()
    service_id = fields.Integer()
    server_id = fields.Integer()
    action = fields.String()
    strategy = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    message = fields.String()
    details = fields.Dict()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class PbxActionQuerySchema(Schema):
    service_id = id_field(load_default=None)
    status = Text(load_default=None, validate=validate.Length(max=20))


class CompleteActionSchema(Schema):
    note = Text(load_default="", validate=validate.Length(max=2000))


class SyncStatusSchema(Schema):
    server_id = fields.Integer()
    position = fields.DateTime(allow_none=True)
    last_run_at = fields.DateTime(allow_none=True)
    last_status = fields.String()
    last_error = fields.String(allow_none=True)
    fetched = fields.Integer()
    stored = fields.Integer()
    quarantined = fields.Integer()
