"""ACME accounts and orders (issue 14).

Revision ID: 0007_acme
Revises: 0006_users_name
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.store.schema import UTCDateTime

revision = "0007_acme"
down_revision = "0006_users_name"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("directory", sa.Text, nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("contact", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("key_type", sa.String(32), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_acme_accounts_deployment", "acme_accounts", ["deployment"])
    op.create_table(
        "acme_orders",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("identity", sa.String(128), nullable=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("acme_accounts.id"), nullable=False),
        sa.Column("uri", sa.Text, nullable=True),
        sa.Column("names", sa.Text, nullable=False),
        sa.Column("spki", sa.String(64), sa.ForeignKey("keys.fingerprint"), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("certificate", sa.String(64), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_acme_orders_deployment_identity", "acme_orders", ["deployment", "identity"])


def downgrade() -> None:
    op.drop_index("ix_acme_orders_deployment_identity", table_name="acme_orders")
    op.drop_table("acme_orders")
    op.drop_index("ix_acme_accounts_deployment", table_name="acme_accounts")
    op.drop_table("acme_accounts")
