"""Monitoring: probe results (what each endpoint served, and since when), notifications
sent (once per subject, event and stage), and runs of probe and watch; the audit log says
which deployment and who (NULL on the rows before this revision).

Revision ID: 0003_monitoring
Revises: 0002_deployments
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.store.schema import UTCDateTime

revision = "0003_monitoring"
down_revision = "0002_deployments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "probe_results",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("appliance", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("verdict", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("protocol", sa.String(16), nullable=True),
        sa.Column("leaf_sha256", sa.String(64), nullable=True),
        sa.Column("chain_pem", sa.Text, nullable=True),
        sa.Column("identity", sa.String(128), nullable=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Integer, nullable=True),
        sa.Column("since", UTCDateTime, nullable=True),
    )
    op.create_index(
        "ix_probe_results_endpoint", "probe_results", ["deployment", "appliance", "kind", "id"]
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("subject", sa.String(256), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("channels", sa.Text, nullable=False),
        sa.UniqueConstraint(
            "deployment", "subject", "event", "stage", "fingerprint", name="uq_notifications_once"
        ),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
        sa.Column("ok", sa.Integer, nullable=True),
        sa.Column("summary", sa.Text, nullable=False),
    )
    op.create_index("ix_runs_deployment_kind", "runs", ["deployment", "kind", "id"])
    op.add_column("audit", sa.Column("deployment", sa.String(128), nullable=True))
    op.add_column("audit", sa.Column("actor", sa.String(128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit") as batch:
        batch.drop_column("actor")
        batch.drop_column("deployment")
    op.drop_table("runs")
    op.drop_table("notifications")
    op.drop_index("ix_probe_results_endpoint", "probe_results")
    op.drop_table("probe_results")
