"""User names unique whatever their case (issue 13): a unique index on lower(users.name).

``store.users.add`` refuses a name that differs from another only by case since this
release's walkthrough; the index makes the database refuse it too, whatever writes (two
service instances at once, a script). A store made in between may already hold such
names: the upgrade then stops, changing nothing, and names them with the statement that
renames one (there is no rename command: a user's name is its login).

Revision ID: 0006_users_name
Revises: 0005_inventory
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ccapki.errors import StoreError

revision = "0006_users_name"
down_revision = "0005_inventory"
branch_labels = None
depends_on = None

#: the index's name (store/schema.py declares the same)
INDEX = "ix_users_name_lower"


def upgrade() -> None:
    bind = op.get_bind()
    clashes = bind.execute(
        sa.text(
            "SELECT id, name FROM users WHERE lower(name) IN "
            "(SELECT lower(name) FROM users GROUP BY lower(name) HAVING count(*) > 1) "
            "ORDER BY lower(name), id"
        )
    ).all()
    if clashes:
        shown = ", ".join(f"{name!r} (id {uid})" for uid, name in clashes)
        uid, name = clashes[-1]
        url = bind.engine.url
        client = f"sqlite3 {url.database}" if url.get_backend_name() == "sqlite" else "psql"
        example = f"UPDATE users SET name = '{name}-2' WHERE id = {uid};"  # noqa: S608 - shown
        raise StoreError(
            f"the store holds user names that differ only by case: {shown}; this ccapki "
            "keeps user names unique whatever their case, so it cannot upgrade the store",
            f"rename all but one of each with `{client}`, e.g. `{example}`, then run the "
            "command again (nothing was changed; a user's tokens and sessions follow its id)",
        )
    op.create_index(INDEX, "users", [sa.text("lower(name)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
