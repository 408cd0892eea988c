"""The inventory by expiry: an index on certificates (deployment, not_after, identity,
version), so that one page of a deployment's identities ordered by expiry reads only that
page's index entries (no PEM row).

Revision ID: 0005_inventory
Revises: 0004_service
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0005_inventory"
down_revision = "0004_service"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_certificates_expiry",
        "certificates",
        ["deployment", "not_after", "identity", "version"],
    )


def downgrade() -> None:
    op.drop_index("ix_certificates_expiry", table_name="certificates")
