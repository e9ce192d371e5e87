"""Client mirror and state, admin holds, events, runs, charges, postings and sub-cent carries.

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
        "client_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("actor", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_events")),
    )
    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_client_events_client_id"), ["client_id"], unique=False)

    op.create_table(
        "clients",
        sa.Column("client_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("currency_code", sa.String(length=10), nullable=False),
        sa.Column("currency_prefix", sa.String(length=10), nullable=False),
        sa.Column("currency_suffix", sa.String(length=10), nullable=False),
        sa.Column("credit", Money(), nullable=False),
        sa.Column("outstanding", Money(), nullable=False),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voip_state", sa.String(length=20), nullable=False),
        sa.Column("suspended_by", sa.String(length=20), nullable=True),
        sa.Column("suspension_count", sa.Integer(), nullable=False),
        sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voip_field_written", sa.String(length=10), nullable=True),
        sa.Column("low_balance_armed", sa.Boolean(), nullable=False),
        sa.Column("low_balance_sent_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_clients")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_key", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
        sa.UniqueConstraint("run_key", name=op.f("uq_runs_run_key")),
    )
    op.create_table(
        "service_carries",
        sa.Column("service_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("carry", Money(), nullable=False),
        sa.Column("last_charge_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_service_carries")),
    )
    op.create_table(
        "service_holds",
        sa.Column("service_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("service_id", name=op.f("pk_service_holds")),
    )
    with op.batch_alter_table("service_holds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_service_holds_client_id"), ["client_id"], unique=False)

    op.create_table(
        "whmcs_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("identifier", sa.String(length=200), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("accesskey", sa.String(length=200), nullable=False),
        sa.Column("field_has_voip", sa.Integer(), nullable=True),
        sa.Column("field_manual_suspend", sa.Integer(), nullable=True),
        sa.Column("field_voip_suspended", sa.Integer(), nullable=True),
        sa.Column("field_low_balance_threshold", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whmcs_settings")),
    )
    op.create_table(
        "claim_intents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("billing_mode", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_claim_intents_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_claim_intents")),
        sa.UniqueConstraint("run_id", "service_id", name=op.f("uq_claim_intents_run_id")),
    )
    with op.batch_alter_table("claim_intents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_claim_intents_run_id"), ["run_id"], unique=False)

    op.create_table(
        "charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=150), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.BigInteger(), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("billing_mode", sa.String(length=20), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("cdr_ids", sa.JSON(), nullable=False),
        sa.Column("usage", Money(), nullable=False),
        sa.Column("adjustment", Money(), nullable=False),
        sa.Column("carry_in", Money(), nullable=False),
        sa.Column("posted_amount", Money(), nullable=False),
        sa.Column("carry_out", Money(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_charges_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charges")),
        sa.UniqueConstraint("reference", name=op.f("uq_charges_reference")),
        sa.UniqueConstraint("run_id", "service_id", name=op.f("uq_charges_run_id")),
    )
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_charges_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_charges_service_id"), ["service_id"], unique=False)

    op.create_table(
        "postings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=160), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount", Money(), nullable=False),
        sa.Column("lines", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("whmcs_id", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=op.f("fk_postings_run_id_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
        sa.UniqueConstraint("reference", name=op.f("uq_postings_reference")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_postings_client_id"), ["client_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_postings_run_id"), ["run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postings_run_id"))
        batch_op.drop_index(batch_op.f("ix_postings_client_id"))

    op.drop_table("postings")
    with op.batch_alter_table("charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_charges_service_id"))
        batch_op.drop_index(batch_op.f("ix_charges_run_id"))
        batch_op.drop_index(batch_op.f("ix_charges_client_id"))

    op.drop_table("charges")
    with op.batch_alter_table("claim_intents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_claim_intents_run_id"))

    op.drop_table("claim_intents")
    op.drop_table("whmcs_settings")
    with op.batch_alter_table("service_holds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_holds_client_id"))

    op.drop_table("service_holds")
    op.drop_table("service_carries")
    op.drop_table("runs")
    op.drop_table("clients")
    with op.batch_alter_table("client_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_client_events_client_id"))

    op.drop_table("client_events")
