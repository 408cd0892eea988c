"""Expiry columns (issue 12 speed): ``cas.not_after`` and ``trust_entries.not_after`` keep
each certificate's end of validity beside its PEM, as ``certificates.not_after`` does, so
``status`` reads the CAs and the trust-store roots by days left without parsing a
certificate (nor loading the X.509 library), and ``ix_certificates_current`` covers every
identity's newest version as its columns (no row with its PEMs read). The rows already
held get their end of validity from their PEM here; a row without one (written by an
older ccapki after this revision, or restored from an older backup) is read from its PEM
as before.

Revision ID: 0010_not_after
Revises: 0009_deployment_facts
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.store.schema import UTCDateTime

revision = "0010_not_after"
down_revision = "0009_deployment_facts"
branch_labels = None
depends_on = None


#: the columns of ``ix_certificates_current`` (schema.py)
CURRENT = [
    "deployment",
    "identity",
    "version",
    "fingerprint",
    "spki",
    "not_after",
    "source",
    "created_at",
    "not_before",
    "chain_fps",
]


def upgrade() -> None:
    from cryptography import x509

    from ccapki.store.identities import chain_fingerprints

    op.add_column("certificates", sa.Column("chain_fps", sa.Text, nullable=True))
    conn = op.get_bind()
    certs = sa.table(
        "certificates", sa.column("id"), sa.column("chain_pem"), sa.column("chain_fps")
    )
    rows = conn.execute(sa.select(certs.c.id, certs.c.chain_pem)).all()
    named: dict[str, str] = {}  # the chains repeat: each named once
    for row in rows:
        fps = named.get(row.chain_pem)
        if fps is None:
            fps = named[row.chain_pem] = " ".join(chain_fingerprints(row.chain_pem))
        conn.execute(sa.update(certs).where(certs.c.id == row.id).values(chain_fps=fps))
    op.create_index("ix_certificates_current", "certificates", CURRENT)
    op.add_column("cas", sa.Column("not_after", UTCDateTime, nullable=True))
    op.add_column("trust_entries", sa.Column("not_after", UTCDateTime, nullable=True))
    cas = sa.table("cas", sa.column("id"), sa.column("pem"), sa.column("not_after", UTCDateTime))
    for row in conn.execute(sa.select(cas.c.id, cas.c.pem)).all():
        until = x509.load_pem_x509_certificate(row.pem.encode()).not_valid_after_utc
        conn.execute(sa.update(cas).where(cas.c.id == row.id).values(not_after=until))
    te = sa.table(
        "trust_entries",
        sa.column("fingerprint"),
        sa.column("pem"),
        sa.column("not_after", UTCDateTime),
    )
    # the trust stores repeat a few roots: one update per distinct certificate
    for row in conn.execute(sa.select(te.c.fingerprint, te.c.pem).distinct()).all():
        until = x509.load_pem_x509_certificate(row.pem.encode()).not_valid_after_utc
        conn.execute(
            sa.update(te).where(te.c.fingerprint == row.fingerprint).values(not_after=until)
        )


def downgrade() -> None:
    op.drop_index("ix_certificates_current", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("chain_fps")
    with op.batch_alter_table("trust_entries") as batch:
        batch.drop_column("not_after")
    with op.batch_alter_table("cas") as batch:
        batch.drop_column("not_after")
