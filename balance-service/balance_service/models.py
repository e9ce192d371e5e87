"""Tables owned by balance_service: WHMCS settings, client mirror and state, runs, charges, postings, carries."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tollgate_common.db import Money, UtcDateTime
from tollgate_common.migrations import NAMING_CONVENTION

ZERO = Decimal("0")


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class WhmcsSettings(Base):
    """The single row of WHMCS connection settings and client custom-field ids."""

    __tablename__ = "whmcs_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    identifier: Mapped[str] = mapped_column(String(200))
    secret: Mapped[str] = mapped_column(String(200))
    accesskey: Mapped[str] = mapped_column(String(200), default="")
    field_has_voip: Mapped[int | None] = mapped_column(Integer)
    field_manual_suspend: Mapped[int | None] = mapped_column(Integer)
    field_voip_suspended: Mapped[int | None] = mapped_column(Integer)
    field_low_balance_threshold: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Client(Base):
    """Mirror of a WHMCS client plus Tollgate's own suspension and alert state for it."""

    __tablename__ = "clients"

    client_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str] = mapped_column(String(200), default="")
    last_name: Mapped[str] = mapped_column(String(200), default="")
    company_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[str] = mapped_column(String(20), default="Active")
    currency_code: Mapped[str] = mapped_column(String(10), default="")
    currency_prefix: Mapped[str] = mapped_column(String(10), default="")
    currency_suffix: Mapped[str] = mapped_column(String(10), default="")
    credit: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    outstanding: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    services: Mapped[list[Any]] = mapped_column(JSON, default=list)
    synced_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    voip_state: Mapped[str] = mapped_column(String(20), default="active")
    suspended_by: Mapped[str | None] = mapped_column(String(20))
    suspension_count: Mapped[int] = mapped_column(Integer, default=0)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    voip_field_written: Mapped[str | None] = mapped_column(String(10))
    low_balance_armed: Mapped[bool] = mapped_column(default=True)
    low_balance_sent_on: Mapped[dt.date | None] = mapped_column(Date)


class ServiceHold(Base):
    """An admin Suspend command on one service; only the Unsuspend command removes it."""

    __tablename__ = "service_holds"

    service_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    client_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ClientEvent(Base):
    """Who changed what for a client, when and why: suspensions, lifts, alerts, postings."""

    __tablename__ = "client_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[int] = mapped_column(BigInteger, index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Run(Base):
    """One autobill run, keyed `daily:<date>` or `frequent:<slot>`; a key is charged at most once."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_key: Mapped[str] = mapped_column(String(100), unique=True)
    mode: Mapped[str] = mapped_column(String(20))
    cutoff: Mapped[dt.datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime())
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ClaimIntent(Base):
    """A claim about to be made: written before cdr-service is asked, so a crash cannot orphan claimed calls."""

    __tablename__ = "claim_intents"
    __table_args__ = (UniqueConstraint("run_id", "service_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    service_id: Mapped[int] = mapped_column(BigInteger)
    client_id: Mapped[int] = mapped_column(BigInteger)
    billing_mode: Mapped[str] = mapped_column(String(20))


class Charge(Base):
    """One service's usage charged by one run: its calls, amounts, carry and how it was posted."""

    __tablename__ = "charges"
    __table_args__ = (UniqueConstraint("run_id", "service_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(150), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    service_id: Mapped[int] = mapped_column(BigInteger, index=True)
    client_id: Mapped[int] = mapped_column(BigInteger, index=True)
    billing_mode: Mapped[str] = mapped_column(String(20))
    calls: Mapped[int] = mapped_column(Integer, default=0)
    cdr_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    usage: Mapped[Decimal] = mapped_column(Money())
    adjustment: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    carry_in: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    posted_amount: Mapped[Decimal] = mapped_column(Money())
    carry_out: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Posting(Base):
    """One write to WHMCS, recorded before it is sent; `reference` is what we look for when its outcome is lost."""

    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference: Mapped[str] = mapped_column(String(160), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    client_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    amount: Mapped[Decimal] = mapped_column(Money())
    lines: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="planned")
    whmcs_id: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class ServiceCarry(Base):
    """The sub-cent remainder of a service, carried into its next charge."""

    __tablename__ = "service_carries"

    service_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    carry: Mapped[Decimal] = mapped_column(Money(), default=ZERO)
    last_charge_id: Mapped[int | None] = mapped_column(Integer)
