"""CA keys held in a PKCS#11 token (issue 14): the ``ca_token_keys`` table records, for a
CA whose private key is in a token, the key's URI (token, object, id; never a PIN) and the
PKCS#11 module.

Revision ID: 0008_pkcs11
Revises: 0007_acme
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.store.schema import UTCDateTime

revision = "0008_pkcs11"
down_revision = "0007_acme"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_token_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
        sa.Column("key_type", sa.String(32), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("module", sa.Text, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("deployment", sa.String(128), nullable=False),
    )
    op.create_index("ix_ca_token_keys_deployment", "ca_token_keys", ["deployment"])


def downgrade() -> None:
    op.drop_index("ix_ca_token_keys_deployment", table_name="ca_token_keys")
    op.drop_table("ca_token_keys")
