"""The first tables: meta, deployments, keys, cas, certificates, csrs, trust_entries, audit.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.store.schema import UTCDateTime

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("source_text", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("key_type", sa.String(32), nullable=False),
        sa.Column("identity", sa.String(128), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("nonce", sa.LargeBinary, nullable=False),
        sa.Column("sealed", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_keys_identity", "keys", ["identity"])
    op.create_table(
        "cas",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("spki", sa.String(64), nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_cas_kind", "cas", ["kind"])
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("identity", sa.String(128), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("spki", sa.String(64), nullable=False),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("not_before", UTCDateTime, nullable=False),
        sa.Column("not_after", UTCDateTime, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("chain_pem", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("identity", "version", name="uq_certificates_identity_version"),
    )
    op.create_index("ix_certificates_spki", "certificates", ["spki"])
    op.create_table(
        "csrs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("identity", sa.String(128), nullable=False),
        sa.Column("spki", sa.String(64), sa.ForeignKey("keys.fingerprint"), nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_csrs_identity", "csrs", ["identity"])
    op.create_table(
        "trust_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("appliance", sa.String(128), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("pem", sa.Text, nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("removed_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_trust_entries_appliance", "trust_entries", ["appliance"])
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("audit", "trust_entries", "csrs", "certificates", "cas", "keys", "deployments"):
        op.drop_table(name)
    op.drop_table("meta")
