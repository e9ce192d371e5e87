"""Tables owned by rating_service: tariffs and their versions, packages, filters, free-minute usage."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from tollgate_common.db import Money, UtcDateTime
from tollgate_common.migrations import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


class Tariff(Base):
    """A carrier rate card; its rates live in versions, one per import."""

    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    versions: Mapped[list[TariffVersion]] = relationship(back_populates="tariff", order_by="TariffVersion.number")


class TariffVersion(Base):
    """One successful import: immutable rates in force from `effective_from`."""

    __tablename__ = "tariff_versions"
    __table_args__ = (UniqueConstraint("tariff_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[datetime] = mapped_column(UtcDateTime())
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    rate_count: Mapped[int] = mapped_column(Integer)
    content_digest: Mapped[str] = mapped_column(String(80))
    filename: Mapped[str] = mapped_column(String(255), default="")

    tariff: Mapped[Tariff] = relationship(back_populates="versions")


class TariffRateRow(Base):
    """A prefix of a version. Written only by the bulk importer, so it carries no per-row foreign key check."""

    __tablename__ = "tariff_rates"

    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(15), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    rate: Mapped[Decimal] = mapped_column(Money(14, 6))
    first_block: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    connect_fee: Mapped[Decimal] = mapped_column(Money(14, 6))
    grace_seconds: Mapped[int] = mapped_column(Integer)
    short_description: Mapped[str] = mapped_column(Text, default="")
    last_rate_change: Mapped[str] = mapped_column(Text, default="")
    old_rate: Mapped[str] = mapped_column(Text, default="")
    rate_premium: Mapped[str] = mapped_column(Text, default="")


class Package(Base):
    """Rating settings sold with one or more WHMCS products."""

    __tablename__ = "packages"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"), nullable=True)
    inbound_tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"), nullable=True)
    markup_percent: Mapped[Decimal] = mapped_column(Money(10, 4), default=Decimal(0))
    free_minutes: Mapped[int] = mapped_column(Integer, default=0)
    unlimited: Mapped[bool] = mapped_column(Boolean, default=False)
    free_minutes_prefixes: Mapped[list[str]] = mapped_column(JSON, default=list)
    bill_inbound: Mapped[bool] = mapped_column(Boolean, default=False)
    inbound_rate: Mapped[Decimal | None] = mapped_column(Money(14, 6), nullable=True)
    custom_rates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    increment_outbound: Mapped[str | None] = mapped_column(String(20), nullable=True)
    increment_inbound: Mapped[str | None] = mapped_column(String(20), nullable=True)
    country_code: Mapped[str] = mapped_column(String(4), default="1")
    international_prefix: Mapped[str | None] = mapped_column(String(6), nullable=True)
    national_prefix: Mapped[str | None] = mapped_column(String(6), nullable=True)
    prefix_correction: Mapped[bool] = mapped_column(Boolean, default=False)
    nanp_10digit: Mapped[bool] = mapped_column(Boolean, default=False)
    extension_max_digits: Mapped[int] = mapped_column(Integer, default=5)
    cost_decimals: Mapped[int] = mapped_column(Integer, default=4)
    rounding: Mapped[str] = mapped_column(String(10), default="half_up")
    billing_mode: Mapped[str] = mapped_column(String(10), default="prepaid")
    realtime: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    products: Mapped[list[PackageProduct]] = relationship(
        back_populates="package", cascade="all, delete-orphan", order_by="PackageProduct.product_id"
    )

    @property
    def whmcs_product_ids(self) -> list[int]:
        return [link.product_id for link in self.products]


class PackageProduct(Base):
    """A WHMCS product linked to its package; a product has at most one package."""

    __tablename__ = "package_products"

    product_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    package_id: Mapped[int] = mapped_column(ForeignKey("packages.id"), index=True)

    package: Mapped[Package] = relationship(back_populates="products")


class ServerFilterRow(Base):
    """The suppress and exclude-from-billing pattern lists of one PBX server."""

    __tablename__ = "server_filters"

    server_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    suppress: Mapped[str] = mapped_column(Text, default="")
    exclude_from_billing: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class FreeMinutePool(Base):
    """Seconds used of one service's free minutes in one billing period; locked while allocating."""

    __tablename__ = "free_minute_pools"

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    used_seconds: Mapped[int] = mapped_column(Integer, default=0)


class FreeMinuteAllocation(Base):
    """The free seconds one CDR took from its pool; rating the CDR again reuses it."""

    __tablename__ = "free_minute_allocations"
    __table_args__ = (Index("ix_free_minute_allocations_pool", "service_id", "period"),)

    cdr_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(10))
    seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
