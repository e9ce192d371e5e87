"""Tables owned by cdr_service."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tollgate_common.db import Money, UtcDateTime
from tollgate_common.migrations import NAMING_CONVENTION

BigId = BigInteger().with_variant(Integer, "sqlite")
"""64-bit ids on PostgreSQL; SQLite only autoincrements INTEGER primary keys."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SyncRun(Base):
    """One run of the CDR sync over every server: what it fetched and stored, and how it ended."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(120), unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")
    servers: Mapped[int] = mapped_column(Integer, default=0)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    stored: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Server(Base):
    """A PBX or carrier we read CDRs from; secrets live encrypted in `secrets`, never in `settings`."""

    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ServiceAssignment(Base):
    """A WHMCS VoIP service and what it bills: tenant, DIDs and extensions parsed from its fields."""

    __tablename__ = "service_assignments"

    service_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    client_id: Mapped[int] = mapped_column(Integer, index=True)
    product_id: Mapped[int] = mapped_column(Integer)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="Active")
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    domain_field: Mapped[str] = mapped_column(Text, default="")
    username_field: Mapped[str] = mapped_column(Text, default="")
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tenant: Mapped[str] = mapped_column(String(255))
    main_did: Mapped[str | None] = mapped_column(String(32))
    dids: Mapped[list[str]] = mapped_column(JSON, default=list)
    extensions: Mapped[list[str]] = mapped_column(JSON, default=list)
    billed_number: Mapped[str | None] = mapped_column(String(32))
    cdr_link: Mapped[str | None] = mapped_column(Text)
    billing_cycle: Mapped[str] = mapped_column(String(30), default="Monthly")
    next_due_date: Mapped[date | None] = mapped_column(Date)
    timezone: Mapped[str | None] = mapped_column(String(64))
    terminated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Cdr(Base):
    """One normalised call, stored once per (server, source id), with its attribution and rating result."""

    __tablename__ = "cdrs"
    __table_args__ = (
        UniqueConstraint("server_id", "source_id", name="uq_cdrs_server_source"),
        Index("ix_cdrs_service_start", "service_id", "start_at"),
        Index("ix_cdrs_server_tenant", "server_id", "tenant"),
        Index("ix_cdrs_claim_id", "claim_id"),
        # room on each page lets rating results update rows in place (HOT), as no indexed column changes
        {"postgresql_with": {"fillfactor": 80}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"))
    source_id: Mapped[str] = mapped_column(String(80))
    service_id: Mapped[int | None] = mapped_column(Integer)
    tenant: Mapped[str] = mapped_column(String(255), default="")
    direction: Mapped[str] = mapped_column(String(10), default="")
    extension: Mapped[str] = mapped_column(String(40), default="")
    caller_number: Mapped[str] = mapped_column(String(80), default="")
    destination_number: Mapped[str] = mapped_column(String(80), default="")
    caller_destination: Mapped[str] = mapped_column(String(80), default="")
    start_at: Mapped[datetime] = mapped_column(UtcDateTime())
    answer_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    duration: Mapped[int] = mapped_column(Integer, default=0)
    billsec: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(30), default="")
    hangup_cause: Mapped[str] = mapped_column(String(60), default="")
    source_inserted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime())
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    billable: Mapped[bool | None] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(String(30))
    visible: Mapped[bool] = mapped_column(Boolean, default=True)
    number_e164: Mapped[str | None] = mapped_column(String(32))
    number_class: Mapped[str | None] = mapped_column(String(20))
    prefix: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(255))
    rate_source: Mapped[str | None] = mapped_column(String(20))
    rate_per_minute: Mapped[Decimal | None] = mapped_column(Money(18, 6))
    billed_seconds: Mapped[int | None] = mapped_column(Integer)
    free_seconds: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[Decimal | None] = mapped_column(Money(18, 6))
    cost_exact: Mapped[Decimal | None] = mapped_column(Money(24, 10))
    tariff_version: Mapped[int | None] = mapped_column(Integer)
    package_id: Mapped[int | None] = mapped_column(Integer)
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"))
    charged_cost: Mapped[Decimal | None] = mapped_column(Money(18, 6))


class QuarantinedCdr(Base):
    """A source row that could not be parsed, kept with its reason so an admin can see and fix it."""

    __tablename__ = "quarantined_cdrs"
    __table_args__ = (UniqueConstraint("server_id", "source_id", name="uq_quarantined_cdrs_server_source"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    source_id: Mapped[str] = mapped_column(String(80))
    tenant: Mapped[str] = mapped_column(String(255), default="")
    service_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)


class SyncWatermark(Base):
    """How far each server has been read, so the next sync resumes (with an overlap) from there."""

    __tablename__ = "sync_watermarks"

    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), primary_key=True)
    position: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[str] = mapped_column(String(20), default="never")
    last_error: Mapped[str | None] = mapped_column(Text)
    fetched: Mapped[int] = mapped_column(BigInteger, default=0)
    stored: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined: Mapped[int] = mapped_column(BigInteger, default=0)


class Claim(Base):
    """The rated calls (and pending rerate adjustments) one balance-service charge took for one service."""

    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_ref: Mapped[str] = mapped_column(String(160), unique=True)
    service_id: Mapped[int] = mapped_column(Integer, index=True)
    cutoff: Mapped[datetime] = mapped_column(UtcDateTime())
    calls: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[Decimal] = mapped_column(Money(18, 6))
    adjustment: Mapped[Decimal] = mapped_column(Money(18, 6))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CostAdjustment(Base):
    """The difference a rerate made to an already-charged CDR, carried by the service's next claim."""

    __tablename__ = "cost_adjustments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[int] = mapped_column(Integer, index=True)
    cdr_id: Mapped[int] = mapped_column(BigId, ForeignKey("cdrs.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money(18, 6))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)


class PbxAction(Base):
    """One suspend or unsuspend of a service on its PBX, keyed by the caller's action reference."""

    __tablename__ = "pbx_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_ref: Mapped[str] = mapped_column(String(160), unique=True)
    service_id: Mapped[int] = mapped_column(Integer, index=True)
    server_id: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(20))
    strategy: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())
