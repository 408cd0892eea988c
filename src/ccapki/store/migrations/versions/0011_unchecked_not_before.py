"""Names not checked, CAs' start of validity:

- ``certificates.names_unchecked``: why a certificate's names were not checked against the
  deployment file when it was taken (``"import --force"``); NULL when they were (issued
  by ccapki from the plan, or imported without ``--force``). ``status`` judges missing
  names by reading only the certificates whose identity the file has given other names
  since they were made: one taken with ``--force`` may lack names from the start, so it
  is read too. A partial index (``ix_certificates_unchecked``) finds those few without
  reading the certificate rows. Rows held before this revision keep NULL: the certificate
  a forced import took before cannot be told apart here (the next forced import is).
- ``cas.not_before`` and ``trust_entries.not_before``: each CA's and trust-store entry's
  start of validity beside its ``not_after`` (0010), so ``status`` says a CA or root dated
  ahead ``not-yet-valid`` without parsing a certificate. The rows already held get it from
  their PEM here; a row without one (written by an older ccapki after this revision, or
  restored from an older backup) is read from its PEM.
- ``ix_audit_import``: a partial index of the audit log's ``import`` rows, by deployment:
  which current certificates were adopted (``ccapki.lifecycle.adopted``) is found without
  scanning the whole log.

Revision ID: 0011_unchecked_not_before
Revises: 0010_not_after
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.store.schema import UTCDateTime

revision = "0011_unchecked_not_before"
down_revision = "0010_not_after"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from cryptography import x509

    op.add_column("certificates", sa.Column("names_unchecked", sa.String(64), nullable=True))
    unchecked = sa.text("names_unchecked IS NOT NULL")
    op.create_index(
        "ix_certificates_unchecked",
        "certificates",
        ["deployment"],
        sqlite_where=unchecked,
        postgresql_where=unchecked,
    )
    imported = sa.text("action = 'import'")
    op.create_index(
        "ix_audit_import",
        "audit",
        ["deployment"],
        sqlite_where=imported,
        postgresql_where=imported,
    )
    op.add_column("cas", sa.Column("not_before", UTCDateTime, nullable=True))
    op.add_column("trust_entries", sa.Column("not_before", UTCDateTime, nullable=True))
    conn = op.get_bind()
    cas = sa.table(
        "cas",
        sa.column("id"),
        sa.column("fingerprint"),
        sa.column("pem"),
        sa.column("not_before", UTCDateTime),
    )
    ca_pems: dict[str, str] = {}
    for ca in conn.execute(sa.select(cas.c.id, cas.c.fingerprint, cas.c.pem)).all():
        ca_pems[ca.fingerprint] = ca.pem
        start = x509.load_pem_x509_certificate(ca.pem.encode()).not_valid_before_utc
        conn.execute(sa.update(cas).where(cas.c.id == ca.id).values(not_before=start))
    te = sa.table(
        "trust_entries",
        sa.column("fingerprint"),
        sa.column("pem"),
        sa.column("not_before", UTCDateTime),
    )
    # the trust stores repeat a few roots: one update per distinct certificate
    for row in conn.execute(sa.select(te.c.fingerprint, te.c.pem).distinct()).all():
        # an empty PEM (an entry of a stored CA, 0012: a store taken down to this
        # revision) is the cas row's
        pem = row.pem or ca_pems.get(row.fingerprint)
        if not pem:
            continue
        start = x509.load_pem_x509_certificate(pem.encode()).not_valid_before_utc
        conn.execute(
            sa.update(te).where(te.c.fingerprint == row.fingerprint).values(not_before=start)
        )


def downgrade() -> None:
    op.drop_index("ix_audit_import", table_name="audit")
    op.drop_index("ix_certificates_unchecked", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("names_unchecked")
    with op.batch_alter_table("trust_entries") as batch:
        batch.drop_column("not_before")
    with op.batch_alter_table("cas") as batch:
        batch.drop_column("not_before")
