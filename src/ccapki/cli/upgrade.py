"""``ccapki upgrade``: bring a store made by an older ccapki to this version's schema."""

from __future__ import annotations

import click

from ccapki.cli.app import Env, pass_env, say_waiting

__all__ = ["upgrade"]


@click.command(
    epilog="""\b
EXAMPLES
  ccapki upgrade                     the store in CCAPKI_HOME (or --home)
  ccapki --home /srv/ccapki upgrade
  ccapki upgrade --json              {before, after, copy}

\b
A newer ccapki refuses a store an older one made ("older than this ccapki's"), changing
nothing, until it is upgraded once: no other command writes to a store behind your back,
not even a report. `ccapki upgrade` keeps a copy of a SQLite store's database as it was
(ccapki.db.<old schema>.<UTC time> beside it, 0600, its keys sealed as in the store),
then migrates the store in place. The ccapki that made the store can still read that
copy (put it back as ccapki.db); delete it once the upgraded store serves you. A store
on PostgreSQL (CCAPKI_DATABASE_URL) is migrated in one transaction: back it up with
pg_dump first, as for any schema change.

\b
EXIT CODES
  0 upgraded, or already current
  2 no store there, a newer ccapki's store, a read-only store, no room for the copy, another
    ccapki writing to it for longer than --wait (the copy and the migration wait for it), or
    a migration that refuses the store's rows (its hint says why); nothing was changed
  130 interrupted: nothing was changed (a copy being written is removed)
"""
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_env
def upgrade(env: Env, as_json: bool) -> int:
    """Upgrade the store to this ccapki's schema (keeping a copy of it as it was)."""
    from ccapki.store import schema
    from ccapki.store.session import Store

    env.refuse_what_if("upgrade")
    with Store.open(
        env.home,
        url=env.database_url,
        clock=env.now,
        upgrade=True,
        wait=env.wait,  # `ccapki --wait`: was 60 s, without a word, whatever it said
        on_wait=say_waiting,
        caller="cli",
    ) as store:
        done = store.upgraded
    if as_json:
        from ccapki.cli.output import print_json

        print_json(
            {
                "before": done.before if done else schema.SCHEMA_HEAD,
                "after": schema.SCHEMA_HEAD,
                "copy": str(done.copy) if done and done.copy else None,
                "upgraded": done is not None,
            }
        )
        return 0
    if done is None:
        click.echo(f"the store's schema is current ({schema.SCHEMA_HEAD}): nothing to do")
        return 0
    click.echo(f"upgraded the store from schema {done.before} to {done.after}")
    if done.copy is not None:
        click.echo(
            f"the store as it was: {done.copy} (0600; the ccapki that made it can read it; "
            "delete it once the upgraded store serves you)"
        )
    else:
        click.echo("(a database server's store: no copy kept; its own backups hold the old one)")
    return 0
