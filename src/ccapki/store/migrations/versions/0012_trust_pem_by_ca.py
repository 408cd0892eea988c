"""Trust-store entries of a stored CA keep no copy of its PEM:

- ``trust_entries.pem`` is empty (``''``) for an entry whose certificate the ``cas``
  table holds (same fingerprint): its PEM is that row's. A bulk apply puts the same root
  in thousands of appliances' stores, and each copy (~850 bytes) was written again (a
  third of what the apply's last transaction wrote). Readers take the PEM from ``cas``
  (``ccapki.store.truststores.TRUST_PEM``); an entry added by hand (``trust add FILE``)
  of a certificate the store does not hold as a CA keeps its PEM, as every entry written
  before this revision does.

Nothing in the schema changes: this revision marks the stores whose entries may hold an
empty PEM, so a ccapki older than it (which would read them as damaged) refuses the store
as one made by a newer ccapki.

Revision ID: 0012_trust_pem_by_ca
Revises: 0011_unchecked_not_before
Create Date: 2026-11-30
"""

from __future__ import annotations

revision = "0012_trust_pem_by_ca"
down_revision = "0011_unchecked_not_before"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: entries held keep their PEM."""


def downgrade() -> None:
    """Nothing to undo in the schema (an entry written since keeps an empty PEM)."""
