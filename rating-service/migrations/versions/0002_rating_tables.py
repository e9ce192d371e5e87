"""Tariffs, versions and rates; packages and their products; server filters; free-minute usage.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from tollgate_common.db import Money

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tariffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tariffs"),
        sa.UniqueConstraint("name", name="uq_tariffs_name"),
    )
    op.create_table(
        "tariff_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tariff_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rate_count", sa.Integer(), nullable=False),
        sa.Column("content_digest", sa.String(80), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tariff_versions"),
        sa.ForeignKeyConstraint(["tariff_id"], ["tariffs.id"], name="fk_tariff_versions_tariff_id_tariffs"),
        sa.UniqueConstraint("tariff_id", "number", name="uq_tariff_versions_tariff_id"),
    )
    op.create_index("ix_tariff_versions_tariff_id", "tariff_versions", ["tariff_id"])
    op.create_table(
        "tariff_rates",
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(15), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("rate", Money(14, 6), nullable=False),
        sa.Column("first_block", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("connect_fee", Money(14, 6), nullable=False),
        sa.Column("grace_seconds", sa.Integer(), nullable=False),
        sa.Column("short_description", sa.Text(), nullable=False),
        sa.Column("last_rate_change", sa.Text(), nullable=False),
        sa.Column("old_rate", sa.Text(), nullable=False),
        sa.Column("rate_premium", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", "prefix", name="pk_tariff_rates"),
    )
    op.create_table(
        "packages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tariff_id", sa.Integer(), nullable=True),
        sa.Column("inbound_tariff_id", sa.Integer(), nullable=True),
        sa.Column("markup_percent", Money(10, 4), nullable=False),
        sa.Column("free_minutes", sa.Integer(), nullable=False),
        sa.Column("unlimited", sa.Boolean(), nullable=False),
        sa.Column("free_minutes_prefixes", sa.JSON(), nullable=False),
        sa.Column("bill_inbound", sa.Boolean(), nullable=False),
        sa.Column("inbound_rate", Money(14, 6), nullable=True),
        sa.Column("custom_rates", sa.JSON(), nullable=False),
        sa.Column("increment_outbound", sa.String(20), nullable=True),
        sa.Column("increment_inbound", sa.String(20), nullable=True),
        sa.Column("country_code", sa.String(4), nullable=False),
        sa.Column("international_prefix", sa.String(6), nullable=True),
        sa.Column("national_prefix", sa.String(6), nullable=True),
        sa.Column("prefix_correction", sa.Boolean(), nullable=False),
        sa.Column("nanp_10digit", sa.Boolean(), nullable=False),
        sa.Column("extension_max_digits", sa.Integer(), nullable=False),
        sa.Column("cost_decimals", sa.Integer(), nullable=False),
        sa.Column("rounding", sa.String(10), nullable=False),
        sa.Column("billing_mode", sa.String(10), nullable=False),
        sa.Column("realtime", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_packages"),
        sa.UniqueConstraint("name", name="uq_packages_name"),
        sa.ForeignKeyConstraint(["tariff_id"], ["tariffs.id"], name="fk_packages_tariff_id_tariffs"),
        sa.ForeignKeyConstraint(["inbound_tariff_id"], ["tariffs.id"], name="fk_packages_inbound_tariff_id_tariffs"),
    )
    op.create_table(
        "package_products",
        sa.Column("product_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name="pk_package_products"),
        sa.ForeignKeyConstraint(["package_id"], ["packages.id"], name="fk_package_products_package_id_packages"),
    )
    op.create_index("ix_package_products_package_id", "package_products", ["package_id"])
    op.create_table(
        "server_filters",
        sa.Column("server_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("suppress", sa.Text(), nullable=False),
        sa.Column("exclude_from_billing", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("server_id", name="pk_server_filters"),
    )
    op.create_table(
        "free_minute_pools",
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("used_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service_id", "period", name="pk_free_minute_pools"),
    )
    op.create_table(
        "free_minute_allocations",
        sa.Column("cdr_id", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("period", sa.String(10), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("cdr_id", name="pk_free_minute_allocations"),
    )
    op.create_index("ix_free_minute_allocations_pool", "free_minute_allocations", ["service_id", "period"])


def downgrade() -> None:
    op.drop_table("free_minute_allocations")
    op.drop_table("free_minute_pools")
    op.drop_table("server_filters")
    op.drop_table("package_products")
    op.drop_table("packages")
    op.drop_table("tariff_rates")
    op.drop_table("tariff_versions")
    op.drop_table("tariffs")
