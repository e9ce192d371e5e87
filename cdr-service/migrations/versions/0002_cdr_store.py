"""Servers, service assignments, the CDR store, quarantine, watermarks, claims and the PBX action log.

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

BIG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    """Create the CDR store tables."""
    op.create_table(
        "servers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("secrets", sa.Text),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_servers")),
        sa.UniqueConstraint("name", name=op.f("uq_servers_name")),
    )
    op.create_table(
        "service_assignments",
        sa.Column("service_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("client_id", sa.Integer, nullable=False),
        sa.Column("product_id", sa.Integer, nullable=False),
        sa.Column("server_id", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("suspended", sa.Boolean, nullable=False),
        sa.Column("domain_field", sa.Text, nullable=False),
        sa.Column("username_field", sa.Text, nullable=False),
        sa.Column("custom_fields", sa.JSON, nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False),
        sa.Column("main_did", sa.String(32)),
        sa.Column("dids", sa.JSON, nullable=False),
        sa.Column("extensions", sa.JSON, nullable=False),
        sa.Column("billed_number", sa.String(32)),
        sa.Column("cdr_link", sa.Text),
        sa.Column("billing_cycle", sa.String(30), nullable=False),
        sa.Column("next_due_date", sa.Date),
        sa.Column("timezone", sa.String(64)),
        sa.Column("terminated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_service_assignments")),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name=op.f("fk_service_assignments_server_id_servers")),
    )
    op.create_index(op.f("ix_service_assignments_client_id"), "service_assignments", ["client_id"])
    op.create_index(op.f("ix_service_assignments_server_id"), "service_assignments", ["server_id"])
    op.create_table(
        "claims",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("claim_ref", sa.String(160), nullable=False),
        sa.Column("service_id", sa.Integer, nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("amount", Money(18, 6), nullable=False),
        sa.Column("adjustment", Money(18, 6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claims")),
        sa.UniqueConstraint("claim_ref", name=op.f("uq_claims_claim_ref")),
    )
    op.create_index(op.f("ix_claims_service_id"), "claims", ["service_id"])
    op.create_table(
        "cdrs",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("server_id", sa.Integer, nullable=False),
        sa.Column("source_id", sa.String(80), nullable=False),
        sa.Column("service_id", sa.Integer),
        sa.Column("tenant", sa.String(255), nullable=False),
        sa.Column("direction", sa.String(10), nullable=False),
        sa.Column("extension", sa.String(40), nullable=False),
        sa.Column("caller_number", sa.String(80), nullable=False),
        sa.Column("destination_number", sa.String(80), nullable=False),
        sa.Column("caller_destination", sa.String(80), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_at", sa.DateTime(timezone=True)),
        sa.Column("end_at", sa.DateTime(timezone=True)),
        sa.Column("duration", sa.Integer, nullable=False),
        sa.Column("billsec", sa.Integer, nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("hangup_cause", sa.String(60), nullable=False),
        sa.Column("source_inserted_at", sa.DateTime(timezone=True)),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rated_at", sa.DateTime(timezone=True)),
        sa.Column("billable", sa.Boolean),
        sa.Column("reason", sa.String(30)),
        sa.Column("visible", sa.Boolean, nullable=False),
        sa.Column("number_e164", sa.String(32)),
        sa.Column("number_class", sa.String(20)),
        sa.Column("prefix", sa.String(32)),
        sa.Column("description", sa.String(255)),
        sa.Column("rate_source", sa.String(20)),
        sa.Column("rate_per_minute", Money(18, 6)),
        sa.Column("billed_seconds", sa.Integer),
        sa.Column("free_seconds", sa.Integer),
        sa.Column("cost", Money(18, 6)),
        sa.Column("cost_exact", Money(24, 10)),
        sa.Column("tariff_version", sa.Integer),
        sa.Column("package_id", sa.Integer),
        sa.Column("claim_id", sa.Integer),
        sa.Column("charged_cost", Money(18, 6)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdrs")),
        sa.UniqueConstraint("server_id", "source_id", name="uq_cdrs_server_source"),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name=op.f("fk_cdrs_server_id_servers")),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_cdrs_claim_id_claims")),
        postgresql_with={"fillfactor": 80},
    )
    op.create_index("ix_cdrs_service_start", "cdrs", ["service_id", "start_at"])
    op.create_index("ix_cdrs_server_tenant", "cdrs", ["server_id", "tenant"])
    op.create_index("ix_cdrs_claim_id", "cdrs", ["claim_id"])
    op.create_table(
        "quarantined_cdrs",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("server_id", sa.Integer, nullable=False),
        sa.Column("source_id", sa.String(80), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False),
        sa.Column("service_id", sa.Integer),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantined_cdrs")),
        sa.UniqueConstraint("server_id", "source_id", name="uq_quarantined_cdrs_server_source"),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name=op.f("fk_quarantined_cdrs_server_id_servers")),
    )
    op.create_index(op.f("ix_quarantined_cdrs_server_id"), "quarantined_cdrs", ["server_id"])
    op.create_index(op.f("ix_quarantined_cdrs_created_at"), "quarantined_cdrs", ["created_at"])
    op.create_table(
        "sync_watermarks",
        sa.Column("server_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("position", sa.DateTime(timezone=True)),
        sa.Column("last_run_at", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("fetched", sa.BigInteger, nullable=False),
        sa.Column("stored", sa.BigInteger, nullable=False),
        sa.Column("quarantined", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("server_id", name=op.f("pk_sync_watermarks")),
        sa.ForeignKeyConstraint(["server_id"], ["servers.id"], name=op.f("fk_sync_watermarks_server_id_servers")),
    )
    op.create_table(
        "cost_adjustments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("service_id", sa.Integer, nullable=False),
        sa.Column("cdr_id", BIG_ID, nullable=False),
        sa.Column("amount", Money(18, 6), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cost_adjustments")),
        sa.ForeignKeyConstraint(["cdr_id"], ["cdrs.id"], name=op.f("fk_cost_adjustments_cdr_id_cdrs")),
        sa.ForeignKeyConstraint(["claim_id"], ["claims.id"], name=op.f("fk_cost_adjustments_claim_id_claims")),
    )
    op.create_index(op.f("ix_cost_adjustments_service_id"), "cost_adjustments", ["service_id"])
    op.create_index(op.f("ix_cost_adjustments_cdr_id"), "cost_adjustments", ["cdr_id"])
    op.create_index(op.f("ix_cost_adjustments_claim_id"), "cost_adjustments", ["claim_id"])
    op.create_table(
        "pbx_actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("action_ref", sa.String(160), nullable=False),
        sa.Column("service_id", sa.Integer, nullable=False),
        sa.Column("server_id", sa.Integer, nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("strategy", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pbx_actions")),
        sa.UniqueConstraint("action_ref", name=op.f("uq_pbx_actions_action_ref")),
    )
    op.create_index(op.f("ix_pbx_actions_service_id"), "pbx_actions", ["service_id"])


def downgrade() -> None:
    """Drop the CDR store tables."""
    for table in (
        "pbx_actions",
        "cost_adjustments",
        "sync_watermarks",
        "quarantined_cdrs",
        "cdrs",
        "claims",
        "service_assignments",
        "servers",
    ):
        op.drop_table(table)
