"""Request and response schemas of rating_service; the OpenAPI document is generated from them."""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates, validates_schema

from tollgate_common.errors import InvalidInput
from tollgate_common.money import money_str, parse_decimal

from .engine.cost import RATE_DECIMALS, decimals_of
from .engine.increments import IncrementError, parse_increment
from .engine.rater import INBOUND, OUTBOUND, REASONS

DIGITS = validate.Regexp(r"^[0-9]*$", error="must be digits only")

MAX_ROW_ID = 2**31 - 1
"""Ids and version numbers are PostgreSQL `integer` columns; a larger number cannot name a row."""

ROW_ID = validate.Range(min=1, max=MAX_ROW_ID)


MAX_RATE = Decimal(10**8 - 1)
"""Rates are stored as NUMERIC(14, 6): eight whole digits."""


class MoneyField(fields.Field):
    """Decimal given as a string or integer (never a float) and written back as a string."""

    def __init__(
        self,
        *,
        minimum: Decimal | None = Decimal(0),
        maximum: Decimal = MAX_RATE,
        max_decimals: int = RATE_DECIMALS,
        **kwargs: Any,
    ):
        kwargs["metadata"] = {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)
        self.minimum = minimum
        self.maximum = maximum
        self.max_decimals = max_decimals

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        try:
            number = parse_decimal(value, attr or "amount")
        except InvalidInput as exc:
            raise ValidationError(exc.message.split(": ", 1)[-1]) from None
        if self.minimum is not None and number < self.minimum:
            raise ValidationError(f"must be at least {self.minimum}")
        if number > self.maximum:
            raise ValidationError(f"must be at most {self.maximum}")
        if decimals_of(number) > self.max_decimals:
            raise ValidationError(f"at most {self.max_decimals} decimals")
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else money_str(value)


class IncrementField(fields.String):
    """An increment written `I` or `F/N` (`6`, `60/60`, `30/6`)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            parse_increment(text)
        except IncrementError as exc:
            raise ValidationError(str(exc)) from None
        return text.strip()


class TariffCreateSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    currency = fields.String(
        load_default="USD", validate=validate.Regexp(r"^[A-Za-z]{3}$", error="a 3-letter ISO 4217 code")
    )


class TariffVersionSchema(Schema):
    number = fields.Integer()
    effective_from = fields.DateTime()
    imported_at = fields.DateTime()
    rate_count = fields.Integer()
    filename = fields.String()


class TariffSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String()
    currency = fields.String()
    mapping = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    created_at = fields.DateTime()
    versions = fields.List(fields.Nested(TariffVersionSchema))


class ImportSchema(Schema):
    """The multipart import form: the deck as `file`, plus its text parts."""

    file = fields.Raw(metadata={"type": "string", "format": "binary"}, required=True)
    mapping = fields.String(load_default=None, allow_none=True, metadata={"description": "JSON {column: target}"})
    effective_from = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)


class LineErrorSchema(Schema):
    line = fields.Integer()
    error = fields.String()


class ImportResultSchema(Schema):
    version = fields.Integer()
    imported = fields.Integer()
    created = fields.Boolean()
    effective_from = fields.DateTime()
    rejected = fields.List(fields.Nested(LineErrorSchema))


class RateQuerySchema(Schema):
    prefix = fields.String(load_default=None, validate=validate.Regexp(r"^\+?[0-9]*$", error="must be digits"))
    q = fields.String(load_default=None)
    version = fields.Integer(load_default=None, validate=ROW_ID)
    page = fields.Integer(load_default=1, validate=ROW_ID)
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ExportQuerySchema(Schema):
    version = fields.Integer(load_default=None, validate=ROW_ID)


class TariffRateSchema(Schema):
    prefix = fields.String()
    description = fields.String()
    rate = MoneyField()
    increment = fields.String()
    connect_fee = MoneyField()
    grace_seconds = fields.Integer()
    short_description = fields.String()
    last_rate_change = fields.String()
    old_rate = fields.String()
    rate_premium = fields.String()


class RatePageSchema(Schema):
    tariff_id = fields.Integer()
    version = fields.Integer()
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    rates = fields.List(fields.Nested(TariffRateSchema))


class CustomRateSchema(Schema):
    prefix = fields.String(load_default="", validate=[DIGITS, validate.Length(max=15)])
    direction = fields.String(load_default=OUTBOUND, validate=validate.OneOf([OUTBOUND, INBOUND]))
    rate = MoneyField(required=True)
    increment = IncrementField(load_default=None, allow_none=True)
    description = fields.String(load_default="", validate=validate.Length(max=200))


class PackageSchema(Schema):
    """Every package field of architecture.md; PATCH loads it with partial=True."""

    id = fields.Integer(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    whmcs_product_ids = fields.List(fields.Integer(validate=ROW_ID), load_default=list)
    tariff_id = fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    inbound_tariff_id = fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    markup_percent = MoneyField(
        load_default=Decimal(0), minimum=Decimal(-100), maximum=Decimal(100_000), max_decimals=4
    )
    free_minutes = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))
    unlimited = fields.Boolean(load_default=False)
    free_minutes_prefixes = fields.List(
        fields.String(validate=[validate.Regexp(r"^[0-9]+$", error="must be digits"), validate.Length(max=15)]),
        load_default=list,
    )
    bill_inbound = fields.Boolean(load_default=False)
    inbound_rate = MoneyField(load_default=None, allow_none=True)
    custom_rates = fields.List(fields.Nested(CustomRateSchema), load_default=list)
    increment_outbound = IncrementField(load_default=None, allow_none=True)
    increment_inbound = IncrementField(load_default=None, allow_none=True)
    country_code = fields.String(
        load_default="1", validate=validate.Regexp(r"^[1-9][0-9]{0,2}$", error="1 to 3 digits, not starting with 0")
    )
    international_prefix = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9]{1,5}$", error="1 to 5 digits")
    )
    national_prefix = fields.String(
        load_default=None, allow_none=True, validate=validate.Regexp(r"^[0-9]{1,3}$", error="1 to 3 digits")
    )
    prefix_correction = fields.Boolean(load_default=False)
    nanp_10digit = fields.Boolean(load_default=False)
    extension_max_digits = fields.Integer(load_default=5, validate=validate.Range(min=1, max=10))
    cost_decimals = fields.Integer(load_default=4, validate=validate.Range(min=0, max=6))
    rounding = fields.String(load_default="half_up", validate=validate.OneOf(["half_up", "up", "down"]))
    billing_mode = fields.String(load_default="prepaid", validate=validate.OneOf(["prepaid", "postpaid"]))
    realtime = fields.Boolean(load_default=False)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)

    @validates("whmcs_product_ids")
    def unique_products(self, value: list[int], **_: Any) -> None:
        if len(set(value)) != len(value):
            raise ValidationError("a product id is listed twice")

    @validates_schema
    def unique_custom_prefixes(self, data: dict[str, Any], **_: Any) -> None:
        # A schema validator runs only once every rate parsed, so its message never lands in the same
        # dict as per-rate errors keyed by index (mixed int and str keys the JSON encoder cannot sort).
        seen: set[tuple[str, str]] = set()
        for rate in data.get("custom_rates") or []:
            key = (rate.get("prefix"), rate.get("direction"))
            if key in seen:
                raise ValidationError(f"two {key[1]} custom rates for prefix {key[0]!r}", "custom_rates")
            seen.add(key)


class PackagePatchSchema(PackageSchema):
    """The package fields a PATCH may send; used with partial=True."""


class PackageQuerySchema(Schema):
    product_id = fields.Integer(load_default=None, validate=ROW_ID)


class FiltersSchema(Schema):
    server_id = fields.Integer(dump_only=True)
    suppress = fields.String(load_default="", validate=validate.Length(max=20000))
    exclude_from_billing = fields.String(load_default="", validate=validate.Length(max=20000))
    updated_at = fields.DateTime(dump_only=True, allow_none=True)


class QuoteSchema(Schema):
    package_id = fields.Integer(required=True, validate=ROW_ID)
    direction = fields.String(load_default=OUTBOUND, validate=validate.OneOf([OUTBOUND, INBOUND, "local"]))
    number = fields.String(required=True, validate=validate.Length(min=1, max=64))
    billsec = fields.Integer(required=True, validate=validate.Range(min=0, max=7 * 86400))
    start = fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)


class RatingResultSchema(Schema):
    """One call's outcome; money as strings."""

    id = fields.String()
    billable = fields.Boolean()
    reason = fields.String(metadata={"enum": list(REASONS)})
    visible = fields.Boolean()
    number_e164 = fields.String(allow_none=True)
    number_normalised = fields.String()
    number_class = fields.String()
    prefix = fields.String(allow_none=True)
    description = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    rate_per_minute = MoneyField(allow_none=True)
    billed_seconds = fields.Integer()
    free_seconds = fields.Integer()
    cost = MoneyField()
    cost_exact = MoneyField()
    tariff_version = fields.Integer(allow_none=True)
    package_id = fields.Integer(allow_none=True)


class BatchServiceSchema(Schema):
    product_id = fields.Integer(required=True)
    server_id = fields.Integer(load_default=None, allow_none=True)
    period = fields.String(
        required=True, validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}$", error="the period start as YYYY-MM-DD")
    )
    tenant_numbers = fields.List(fields.String(), load_default=list)


class BatchCdrSchema(Schema):
    id = fields.String(required=True, validate=validate.Length(min=1, max=64))
    service_id = fields.String(required=True)
    direction = fields.String(
        load_default="",
        allow_none=True,
        validate=validate.Length(max=32),
        metadata={"description": "outbound, inbound or local; anything else is inferred from the number"},
    )
    number = fields.String(load_default="", allow_none=True)
    other_party = fields.String(load_default="", allow_none=True)
    extension = fields.String(load_default="", allow_none=True)
    billsec = fields.Integer(required=True, validate=validate.Range(min=0))
    answered = fields.Boolean(required=True)
    start = fields.AwareDateTime(required=True, default_timezone=UTC)


class BatchRequestSchema(Schema):
    services = fields.Dict(keys=fields.String(), values=fields.Nested(BatchServiceSchema), required=True)
    cdrs = fields.List(fields.Nested(BatchCdrSchema), required=True)

    @validates_schema
    def cdrs_name_known_services(self, data: dict[str, Any], **_: Any) -> None:
        """Every CDR names a service of the batch, and no CDR is sent twice."""
        unknown = {
            f"cdrs.{index}.service_id": [f"service {cdr['service_id']!r} is not in services"]
            for index, cdr in enumerate(data["cdrs"])
            if cdr["service_id"] not in data["services"]
        }
        seen: set[str] = set()
        for index, cdr in enumerate(data["cdrs"]):
            if cdr["id"] in seen:
                unknown[f"cdrs.{index}.id"] = [f"CDR {cdr['id']!r} appears twice in the batch"]
            seen.add(cdr["id"])
        if unknown:
            raise ValidationError(unknown)


class BatchResponseSchema(Schema):
    results = fields.List(fields.Nested(RatingResultSchema))


class ServiceRatesQuerySchema(Schema):
    product_id = fields.Integer(required=True, validate=validate.Range(min=1))
    q = fields.String(load_default=None)
    direction = fields.String(load_default=OUTBOUND, validate=validate.OneOf([OUTBOUND, INBOUND]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class EffectiveRateSchema(Schema):
    prefix = fields.String()
    description = fields.String()
    source = fields.String()
    rate_per_minute = MoneyField()
    increment = fields.String()
    connect_fee = MoneyField()


class ServiceRatesSchema(Schema):
    service_id = fields.String()
    package_id = fields.Integer()
    direction = fields.String()
    tariff_version = fields.Integer(allow_none=True)
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()
    rates = fields.List(fields.Nested(EffectiveRateSchema))
