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


def _chain_fps(text: str) -> str:
    """A stored chain's certificates by fingerprint, space-separated (the SHA-256 of each
    DER, from its PEM armour): this revision's own copy, so what it writes never follows
    later code."""
    import hashlib
    import re
    import ssl

    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return " ".join(hashlib.sha256(ssl.PEM_cert_to_DER_cert(b)).hexdigest() for b in blocks)


def upgrade() -> None:
    from cryptography import x509

    op.add_column("certificates", sa.Column("chain_fps", sa.Text, nullable=True))
    conn = op.get_bind()
    certs = sa.table(
        "certificates", sa.column("id"), sa.column("chain_pem"), sa.column("chain_fps")
    )
    ids: dict[str, list[int]] = {}  # the chains repeat: each named once, its rows at once
    for row in conn.execute(sa.select(certs.c.id, certs.c.chain_pem)).all():
        ids.setdefault(row.chain_pem, []).append(row.id)
    for text, rows in ids.items():
        fps = _chain_fps(text)
        for i in range(0, len(rows), 500):
            conn.execute(
                sa.update(certs).where(certs.c.id.in_(rows[i : i + 500])).values(chain_fps=fps)
            )
    op.create_index("ix_certificates_current", "certificates", CURRENT)
    op.add_column("cas", sa.Column("not_after", UTCDateTime, nullable=True))
    op.add_column("trust_entries", sa.Column("not_after", UTCDateTime, nullable=True))
    cas = sa.table(
        "cas",
        sa.column("id"),
        sa.column("fingerprint"),
        sa.column("pem"),
        sa.column("not_after", UTCDateTime),
    )
    ca_pems: dict[str, str] = {}
    for ca in conn.execute(sa.select(cas.c.id, cas.c.fingerprint, cas.c.pem)).all():
        ca_pems[ca.fingerprint] = ca.pem
        until = x509.load_pem_x509_certificate(ca.pem.encode()).not_valid_after_utc
        conn.execute(sa.update(cas).where(cas.c.id == ca.id).values(not_after=until))
    te = sa.table(
        "trust_entries",
        sa.column("fingerprint"),
        sa.column("pem"),
        sa.column("not_after", UTCDateTime),
    )
    # the trust stores repeat a few roots: one update per distinct certificate
    for row in conn.execute(sa.select(te.c.fingerprint, te.c.pem).distinct()).all():
        # an empty PEM (an entry of a stored CA, 0012: a store taken down to this
        # revision) is the cas row's
        pem = row.pem or ca_pems.get(row.fingerprint)
        if not pem:
            continue
        until = x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc
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
