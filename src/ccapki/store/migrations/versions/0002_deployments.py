"""Several deployments in one store: a ``deployment`` column on keys, cas, certificates,
csrs and trust_entries; an identity's versions are unique per deployment.

The rows of a store made before this revision belong to its one deployment: the name of
the deployment file it applied last (the newest row of ``deployments``), or ``default``
when it applied none.

The column is added with that name as its server default, so every existing row gets it in
one statement. PostgreSQL then drops the default (the code always names the deployment);
SQLite keeps it, since dropping a column default there means rebuilding the table, and the
``keys`` table is referenced by ``csrs`` (rebuilding it with foreign keys on would break
that reference).

Revision ID: 0002_deployments
Revises: 0001_initial
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_deployments"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

DEFAULT_DEPLOYMENT = "default"  # as ccapki.store.schema says at this revision
TABLES = ("keys", "cas", "certificates", "csrs", "trust_entries")
INDEXED = ("keys", "cas", "csrs", "trust_entries")


def upgrade() -> None:
    bind = op.get_bind()
    name = (
        bind.execute(sa.text("SELECT name FROM deployments ORDER BY id DESC LIMIT 1")).scalar()
        or DEFAULT_DEPLOYMENT
    )
    sqlite = bind.dialect.name == "sqlite"
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("deployment", sa.String(128), nullable=False, server_default=str(name)),
        )
        if not sqlite:
            op.alter_column(table, "deployment", server_default=None)
    for table in INDEXED:
        op.create_index(f"ix_{table}_deployment", table, ["deployment"])
    # certificates is referenced by no other table: SQLite rebuilds it to change the key
    with op.batch_alter_table("certificates") as batch:
        batch.drop_constraint("uq_certificates_identity_version", type_="unique")
        batch.create_unique_constraint(
            "uq_certificates_deployment_identity_version", ["deployment", "identity", "version"]
        )


def downgrade() -> None:
    """Back to one deployment: only possible while the store holds one (else the versions
    of two deployments' same-named identities would collide)."""
    with op.batch_alter_table("certificates") as batch:
        batch.drop_constraint("uq_certificates_deployment_identity_version", type_="unique")
        batch.create_unique_constraint("uq_certificates_identity_version", ["identity", "version"])
    for table in INDEXED:
        op.drop_index(f"ix_{table}_deployment", table_name=table)
    for table in TABLES:
        op.drop_column(table, "deployment")  # SQLite 3.35+ drops a column in place
