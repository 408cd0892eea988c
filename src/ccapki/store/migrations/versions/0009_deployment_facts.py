"""Deployment facts (issue 9/12 speed): ``deployments.facts`` keeps, beside each deployment
file's text, the few values status, apply and the CA scope read of it (its name, release,
warning stages, probe interval, whether it shares the store's CAs, each appliance's
identity and each identity's source) as JSON, so a 10,000-identity file is not parsed
again by every command. Rows made before this revision keep NULL: their text is parsed
as before.

Revision ID: 0009_deployment_facts
Revises: 0008_pkcs11
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_deployment_facts"
down_revision = "0008_pkcs11"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("deployments", sa.Column("facts", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("facts")
