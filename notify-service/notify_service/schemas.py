"""Request and response schemas of the notify API; the OpenAPI document is built from them."""

from marshmallow import Schema, fields, validate

from .defaults import RECIPIENT_ADMIN, RECIPIENT_CLIENT
from .outbox import STATUSES

MAX_OFFSET = 2**31 - 1
"""Far past any outbox; PostgreSQL refuses an OFFSET beyond `bigint`, so bound it where it is parsed."""


class TemplateSchema(Schema):
    """A template in WHMCS merge-field syntax: subject, text body and optional HTML body."""

    name = fields.String(dump_only=True)
    subject = fields.String(required=True, validate=validate.Length(min=1, max=998))
    text = fields.String(required=True, validate=validate.Length(min=1))
    html = fields.String(load_default=None, allow_none=True)
    recipient = fields.String(
        load_default=RECIPIENT_CLIENT,
        validate=validate.OneOf([RECIPIENT_CLIENT, RECIPIENT_ADMIN]),
        metadata={"description": "`client` (the client's email) or `admin` (NOTIFY_ADMIN_EMAIL)."},
    )
    is_default = fields.Boolean(dump_only=True, metadata={"description": "True until an operator saves it."})
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class TemplateSummarySchema(Schema):
    """A template in the list: its name, recipient and whether it is the default."""

    name = fields.String()
    recipient = fields.String()
    is_default = fields.Boolean()


class TemplateListSchema(Schema):
    """Every template."""

    templates = fields.List(fields.Nested(TemplateSummarySchema))


class MergeFieldSchema(Schema):
    """A merge field a template may use; `item_fields` for lists."""

    name = fields.String()
    description = fields.String()
    item_fields = fields.List(fields.String())


class MergeFieldListSchema(Schema):
    """The merge fields, and the patterns of field names (custom fields)."""

    fields_ = fields.List(fields.Nested(MergeFieldSchema), data_key="fields")
    patterns = fields.List(fields.String())


class OutboxQuerySchema(Schema):
    """Filter and page of the outbox list."""

    status = fields.String(validate=validate.OneOf(STATUSES))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_OFFSET))


class OutboxMessageSchema(Schema):
    """One message of the outbox and where its delivery stands."""

    id = fields.Integer()
    key = fields.String()
    template = fields.String()
    client_id = fields.Integer(allow_none=True)
    extra = fields.Dict(keys=fields.String(), values=fields.String())
    status = fields.String()
    backend = fields.String(allow_none=True)
    to_address = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class OutboxPageSchema(Schema):
    """A page of outbox messages and how many match in all."""

    items = fields.List(fields.Nested(OutboxMessageSchema))
    total = fields.Integer()
    limit = fields.Integer()
    offset = fields.Integer()


class RetryQueuedSchema(Schema):
    """The job queued to retry a message."""

    key = fields.String()
    job_id = fields.String()


class PreviewRequestSchema(Schema):
    """Whose data to preview a template with."""

    client_id = fields.Integer(required=True, allow_none=True)
    extra = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class PreviewSchema(Schema):
    """A template rendered with one client's data."""

    subject = fields.String()
    text = fields.String()
    html = fields.String(allow_none=True)
